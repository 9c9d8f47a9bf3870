import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InstallationBalancer, type BalancerDeps } from '../../balancer/installation-balancer.js';
import { ChargerCommands } from '../../core/charger-commands.js';
import type { AvailableCurrent } from '../../core/available-current-store.js';
import { loadConfig } from '../../core/config.js';
import { createMetrics } from '../../core/metrics.js';
import type { Installation } from '../../core/model.js';
import { installationInputSchema } from '../../core/schemas.js';
import { validateWith } from '../../core/validate.js';

/**
 * The shell's timers with a fake clock: events coalesce into one recompute, and the balancer wakes
 * by itself when a dynamic limit expires. An installation without chargers needs neither NATS nor KV
 * (nothing is sent or stored), so the shell runs here on its own.
 */
const T0 = Date.parse('2026-01-01T12:00:00.000Z');
const COALESCE_MS = 20;

function anInstallation(): Installation {
  const valid = validateWith<Omit<Installation, 'id' | 'createdAt' | 'updatedAt'>>(installationInputSchema, {
    name: 'unit',
    fuse: { L1: 32, L2: 32, L3: 32 },
    authorization: {},
    ocpp: {},
    balancer: {},
  });
  return { ...valid, id: 'unit', createdAt: '', updatedAt: '' };
}

let metrics: ReturnType<typeof createMetrics>;
let balancer: InstallationBalancer;

async function recomputes(): Promise<number> {
  const v = (await metrics.balancerRecomputes.get()).values.find((x) => x.labels.installation === 'unit');
  return v?.value ?? 0;
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  metrics = createMetrics();
  const { leaseTtlMs: _lease, ...tuning } = loadConfig({}).balancer;
  const deps: BalancerDeps = {
    nc: {} as never,
    commands: new ChargerCommands({} as never),
    allocations: {} as never,
    metrics,
    logger: pino({ level: 'silent' }),
    tuning: { ...tuning, coalesceMs: COALESCE_MS },
    now: () => Date.now(),
  };
  balancer = new InstallationBalancer(anInstallation(), [], deps);
});

afterEach(async () => {
  await balancer.stop();
  vi.useRealTimers();
});

const dynamic = (amps: number, ttlMs: number): AvailableCurrent => ({
  installationId: 'unit',
  L1: amps,
  L2: amps,
  L3: amps,
  setAt: new Date(Date.now()).toISOString(),
  expiresAt: new Date(Date.now() + ttlMs).toISOString(),
});

describe('installation balancer timers', () => {
  it('handles events within the coalescing window with one recompute', async () => {
    balancer.updateDynamic(dynamic(20, 60_000));
    balancer.updateInstallation(anInstallation());
    await vi.advanceTimersByTimeAsync(COALESCE_MS - 1);
    balancer.updateDynamic(dynamic(18, 60_000));
    expect(await recomputes()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(await recomputes()).toBe(1);
    expect(balancer.status().limits).toEqual({ L1: 18, L2: 18, L3: 18 });
    // A later event is a new window.
    balancer.updateDynamic(dynamic(16, 60_000));
    await vi.advanceTimersByTimeAsync(COALESCE_MS);
    expect(await recomputes()).toBe(2);
  });

  it('wakes by itself when the dynamic limit expires and puts the installation on its failsafe', async () => {
    balancer.updateDynamic(dynamic(20, 10_000));
    await vi.advanceTimersByTimeAsync(COALESCE_MS);
    expect(balancer.status().failsafe).toEqual({ inForce: false });
    const before = await recomputes();
    await vi.advanceTimersByTimeAsync(10_000 - COALESCE_MS - 1);
    expect(await recomputes()).toBe(before);
    await vi.advanceTimersByTimeAsync(1 + 1 + COALESCE_MS);
    expect(await recomputes()).toBe(before + 1);
    expect(balancer.status().failsafe).toMatchObject({ inForce: true, since: new Date(T0 + 10_000).toISOString(), source: 'lowest dynamic limit of the last hour' });
    expect((await metrics.failsafeInstallations.get()).values[0]?.value).toBe(1);
    // Stopping hands the gauge back: this node no longer runs it on failsafe.
    await balancer.stop();
    expect((await metrics.failsafeInstallations.get()).values[0]?.value).toBe(0);
  });

  it('sleeps when nothing is due: no recompute without an event or a deadline', async () => {
    balancer.updateDynamic(undefined);
    await vi.advanceTimersByTimeAsync(COALESCE_MS);
    const after = await recomputes();
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(await recomputes()).toBe(after);
  });
});
