import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstallationBalancer } from '../../balancer/installation-balancer.js';
import { ChargerCommands } from '../../core/charger-commands.js';
import type { ChargerCommand } from '../../core/commands.js';
import { loadConfig } from '../../core/config.js';
import { putJson } from '../../core/kv-json.js';
import { createMetrics } from '../../core/metrics.js';
import type { Charger, Installation } from '../../core/model.js';
import type { ConnectorStatusEvent } from '../../core/events.js';
import { connectBus, encodeJson, type Bus } from '../../core/nats.js';
import { buckets, subjects } from '../../core/subjects.js';
import { aLiveStatus, simulateCharger } from '../api/harness.js';
import { startTestNats } from '../support/nats.js';

/**
 * A new balancer leader (failover or handoff) starts from the persisted limits and asks each
 * charger's node for its live status. Seen in the cluster e2e: the node still held the previous
 * car's last reading (6.6 A) for a charger since told 0 A; the new leader took it as a draw over the
 * limit, counted the charger at 7 A and sent it 7 A while the others had the whole fuse.
 */

let nats: Awaited<ReturnType<typeof startTestNats>>;
let bus: Bus;

beforeAll(async () => {
  nats = await startTestNats();
  bus = await connectBus({ url: nats.url, auth: nats.auth, name: 'leader-sync-test' });
});

afterAll(async () => {
  await bus?.close();
  await nats?.cleanup();
});

const installation = (id: string): Installation => ({
  id,
  name: id,
  fuse: { L1: 40, L2: 40, L3: 40 },
  authorization: {},
  ocpp: {},
  balancer: { ...loadConfig({}).balancer, safetyMarginA: 0 } as never,
  createdAt: '',
  updatedAt: '',
}) as unknown as Installation;

const charger = (id: string, installationId: string): Charger => ({
  id,
  installationId,
  serial: id,
  phases: 3,
  phaseRotation: 'L1L2L3',
  gridPhase: 'L1',
  minCurrent: 6,
  maxCurrent: 16,
  priority: 0,
  profilePurpose: 'TxDefaultProfile',
  ocppValidation: 'strict',
  ocpp: {},
  createdAt: '',
  updatedAt: '',
}) as Charger;

async function leaderOver(id: string, chargerId: string, live: ReturnType<typeof aLiveStatus>): Promise<{ counted: number; profiles: number[] }> {
  await putJson(bus.kv[buckets.allocations], chargerId, { limit: 0, at: new Date().toISOString() });
  let statusAnsweredAt: number | undefined;
  let profileAfterStatus = false;
  const sim = simulateCharger(bus.nc, chargerId, (cmd: ChargerCommand) => {
    if (cmd.action === '$status') {
      statusAnsweredAt = Date.now();
      return { ok: true, response: live };
    }
    if (cmd.action === 'SetChargingProfile' && statusAnsweredAt !== undefined) profileAfterStatus = true;
    return { ok: true, response: { status: 'Accepted' } };
  });
  const { leaseTtlMs: _l, ...tuning } = loadConfig({}).balancer;
  const inst = installation(id);
  const balancer = new InstallationBalancer(inst, [charger(chargerId, id)], {
    nc: bus.nc,
    commands: new ChargerCommands(bus.nc),
    allocations: bus.kv[buckets.allocations],
    metrics: createMetrics(),
    logger: pino({ level: 'silent' }),
    tuning,
    now: Date.now,
  });
  try {
    await balancer.start();
    // Until the leader has synced the charger (its live status answered), recomputed after that, and
    // sent the profile a (re)connected charger gets: what it is counted at then is the sync's result.
    const synced = (): boolean => {
      const computedAt = balancer.status().computedAt;
      return statusAnsweredAt !== undefined && computedAt !== undefined && computedAt > statusAnsweredAt && profileAfterStatus;
    };
    const until = Date.now() + 5_000;
    while (!synced()) {
      if (Date.now() > until) throw new Error('the leader did not sync the charger and send its profile within 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    const profiles = sim.received.filter((c) => c.action === 'SetChargingProfile').map((c) => (c.payload as { csChargingProfiles: { chargingSchedule: { chargingSchedulePeriod: { limit: number }[] } } }).csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0]!.limit);
    return { counted: balancer.status().chargers[chargerId]!.counted, profiles };
  } finally {
    await balancer.stop();
    sim.sub.unsubscribe();
  }
}

describe('a new leader syncing a charger', () => {
  it("does not take the previous car's last reading for a draw: the charger told 0 A stays at 0 A", async () => {
    const live = aLiveStatus('SYNC-1', 'sync-a', {
      connectors: [{ connectorId: 1, status: 'Available', errorCode: 'NoError', updatedAt: new Date().toISOString() }],
      measured: { t1: 6.6, t2: 6.6, t3: 6.6, at: new Date(Date.now() - 5_000).toISOString() },
      activeTransactions: [],
    });
    const { counted, profiles } = await leaderOver('sync-a', 'SYNC-1', live);
    expect(counted).toBe(0);
    expect(profiles.every((l) => l === 0)).toBe(true);
  });

  /** A leader over one charger whose node answers `$status` with `onStatus` (n: the request's number); resolves at the first raise. */
  async function raisedAfterSync(installationId: string, chargerId: string, onStatus: (n: number) => ReturnType<typeof aLiveStatus> | undefined): Promise<number> {
    await putJson(bus.kv[buckets.allocations], chargerId, { limit: 0, at: new Date().toISOString() });
    let statusRequests = 0;
    const sim = simulateCharger(bus.nc, chargerId, (cmd: ChargerCommand) => {
      if (cmd.action !== '$status') return { ok: true, response: { status: 'Accepted' } };
      const live = onStatus(++statusRequests);
      return live && { ok: true, response: live };
    });
    const { leaseTtlMs: _l, ...tuning } = loadConfig({}).balancer;
    const balancer = new InstallationBalancer(installation(installationId), [charger(chargerId, installationId)], { nc: bus.nc, commands: new ChargerCommands(bus.nc), allocations: bus.kv[buckets.allocations], metrics: createMetrics(), logger: pino({ level: 'silent' }), tuning, now: Date.now });
    const limits = (): number[] => sim.received.filter((c) => c.action === 'SetChargingProfile').map((c) => (c.payload as { csChargingProfiles: { chargingSchedule: { chargingSchedulePeriod: { limit: number }[] } } }).csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0]!.limit);
    try {
      await balancer.start();
      const until = Date.now() + 12_000;
      while (!limits().some((l) => l > 0)) {
        if (Date.now() > until) throw new Error(`no raise within 12 s: ${statusRequests} status requests, limits ${JSON.stringify(limits())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(balancer.status().chargers[chargerId]!.counted).toBeGreaterThan(0);
      return statusRequests;
    } finally {
      await balancer.stop();
      sim.sub.unsubscribe();
    }
  }

  const connector = (status: string) => ({ connectorId: 1, status, errorCode: 'NoError', updatedAt: new Date().toISOString() });

  it('asks again when its live-status request goes unanswered, and then raises the waiting car', async () => {
    const live = aLiveStatus('SYNC-2', 'sync-b', { connectors: [connector('Preparing')], activeTransactions: [] });
    // The node holding the charger, too busy to answer the first request (a failover's load).
    expect(await raisedAfterSync('sync-b', 'SYNC-2', (n) => (n === 1 ? undefined : live))).toBe(2);
  }, 20_000);

  it('keeps a plug-in that overtook the live-status reply: the older reply does not set the connector back to Available', async () => {
    const live = aLiveStatus('SYNC-3', 'sync-c', { connectors: [connector('Available')], activeTransactions: [] });
    const plugIn: ConnectorStatusEvent = { kind: 'status', chargerId: 'SYNC-3', installationId: 'sync-c', connectorId: 1, status: 'Preparing', errorCode: 'NoError', timestamp: new Date().toISOString() };
    // The node answered with the status as it was, and the car's StatusNotification event reached the balancer first.
    expect(
      await raisedAfterSync('sync-c', 'SYNC-3', () => {
        bus.nc.publish(subjects.chargerEvent('sync-c', 'SYNC-3', 'status'), encodeJson(plugIn));
        return live;
      }),
    ).toBe(1);
  }, 20_000);
});
