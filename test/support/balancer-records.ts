import type { Logger } from 'pino';
import { BalancerManager } from '../../balancer/balancer-manager.js';
import { leaseRequestTimeoutMs } from '../../balancer/leadership.js';
import { ChargerCommands } from '../../core/charger-commands.js';
import type { ChargerCommand } from '../../core/commands.js';
import type { ConfigCache } from '../../core/config-cache.js';
import { loadConfig } from '../../core/config.js';
import { createMetrics } from '../../core/metrics.js';
import { kvWithTimeout, leaderReadKv, type Bus } from '../../core/nats.js';
import { buckets } from '../../core/subjects.js';
import type { BalancerSettings, Charger, Installation } from '../../core/model.js';
import { balancerSettingsSchema } from '../../core/schemas.js';

/**
 * Installation and charger records as the API would store them, for tests that drive a balancer
 * straight from KV (no API): the balancer settings' defaults come from their schema.
 */
const settingDefaults = Object.fromEntries(Object.entries(balancerSettingsSchema.properties).flatMap(([k, v]) => ('default' in v ? [[k, v.default]] : [])));

/** A 3-phase fuse of `fuseA` per phase; `balancer` overrides the defaults. */
export const storedInstallation = (id: string, fuseA: number, balancer: Partial<BalancerSettings>): Installation =>
  ({
    id,
    name: id,
    fuse: { L1: fuseA, L2: fuseA, L3: fuseA },
    authorization: {},
    ocpp: { partnerEnabled: false },
    balancer: { ...settingDefaults, ...balancer } as BalancerSettings,
    createdAt: '',
    updatedAt: '',
  }) as unknown as Installation;

/** A 3-phase 6-16 A charger on TxDefaultProfile. */
export const storedCharger = (id: string, installationId: string): Charger =>
  ({ id, installationId, serial: id, phases: 3, phaseRotation: 'L1L2L3', gridPhase: 'L1', minCurrent: 6, maxCurrent: 16, priority: 0, profilePurpose: 'TxDefaultProfile', ocppValidation: 'strict', ocpp: {}, createdAt: '', updatedAt: '' }) as Charger;

/** The limit of a SetChargingProfile command as the balancer builds it. */
export const profileLimitOf = (cmd: ChargerCommand): number =>
  (cmd.payload as { csChargingProfiles: { chargingSchedule: { chargingSchedulePeriod: { limit: number }[] } } }).csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0]!.limit;

/**
 * A balancer manager as main.ts wires one, on `bus` with `cache`, for tests that drive leases on a
 * real nats-server: lease writes with the request timeout main.ts uses, limits read from the stream
 * leader. `env` sets balancer knobs as the node's environment would.
 */
export async function testBalancerManager(bus: Bus, cache: ConfigCache, opts: { nodeId: string; leaseTtlMs: number; logger: Logger; env?: Record<string, string> }): Promise<BalancerManager> {
  const { leaseTtlMs: _ttl, ...tuning } = loadConfig(opts.env ?? {}).balancer;
  return new BalancerManager({
    nodeId: opts.nodeId,
    nc: bus.nc,
    commands: new ChargerCommands(bus.nc),
    cache,
    leases: bus.kv[buckets.leases],
    leaseWrites: await kvWithTimeout(bus, buckets.leases, leaseRequestTimeoutMs(opts.leaseTtlMs)),
    caps: bus.kv[buckets.caps],
    availableCurrent: bus.kv[buckets.availableCurrent],
    allocations: await leaderReadKv(bus, buckets.allocations),
    metrics: createMetrics(),
    logger: opts.logger,
    tuning,
    leaseTtlMs: opts.leaseTtlMs,
    now: Date.now,
  });
}
