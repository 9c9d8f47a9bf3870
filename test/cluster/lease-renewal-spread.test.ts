import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BalancerManager } from '../../balancer/balancer-manager.js';
import { renewalIntervalMs, renewalSlice } from '../../balancer/leadership.js';
import { ConfigCache } from '../../core/config-cache.js';
import { startThrowawayNats, type EmbeddedNats } from '../../core/embedded-nats.js';
import { putJson } from '../../core/kv-json.js';
import { watchBucket } from '../../core/kv-watch.js';
import { connectBus, type Bus } from '../../core/nats.js';
import { PLACEMENT_GROUPS } from '../../core/placement-groups.js';
import { buckets, leaseKeys } from '../../core/subjects.js';
import { storedInstallation, testBalancerManager } from '../support/balancer-records.js';
import { waitUntil } from '../e2e/processes.js';

/**
 * A node renews each lease (one per placement group with installations) once a renewal period, but not all at once: renewing a few hundred in
 * one burst every period stalled the node's event loop (and its NATS server) for tens of
 * milliseconds, the p99 of every charger event timed meanwhile (issue 10's cluster bench).
 */

const TTL = 1_500;
const PERIOD = renewalIntervalMs(TTL);
const INSTALLATIONS = Array.from({ length: 60 }, (_, i) => `spread-${i}`);
/** The lease keys of their placement groups (several installations share one). */
const GROUP_KEYS = [...new Set(INSTALLATIONS.map((id) => leaseKeys.balancerOf(id)))];

let nats: EmbeddedNats;
let bus: Bus;
let cache: ConfigCache;
let manager: BalancerManager;
/** Per lease key, when each of its writes was seen. */
const writes = new Map<string, number[]>();
let stopWatch: () => void;

beforeAll(async () => {
  nats = await startThrowawayNats('lease-spread');
  bus = await connectBus({ url: nats.url, name: 'lease-spread' });
  for (const id of INSTALLATIONS) await putJson(bus.kv[buckets.installations], id, storedInstallation(id, 32, {}));
  cache = await ConfigCache.start(bus);
  stopWatch = await watchBucket(bus.kv[buckets.leases], (key, v) => {
    if (!key.startsWith(leaseKeys.groupPrefix) || !v) return;
    (writes.get(key) ?? writes.set(key, []).get(key)!).push(Date.now());
  });
  manager = await testBalancerManager(bus, cache, { nodeId: 'node-a', leaseTtlMs: TTL, logger: pino({ level: 'silent' }) });
  await manager.start();
}, 60_000);

afterAll(async () => {
  stopWatch?.();
  await manager?.stop();
  cache?.stop();
  await bus?.close();
  await nats?.stop();
});

describe('lease renewals spread over the renewal period', () => {
  it('assigns each placement group a fixed slice, evenly', () => {
    const count = new Map<number, number>();
    for (let g = 0; g < PLACEMENT_GROUPS; g++) {
      const s = renewalSlice(g, 20);
      expect(renewalSlice(g, 20)).toBe(s);
      count.set(s, (count.get(s) ?? 0) + 1);
    }
    expect(count.size).toBe(20);
    for (const n of count.values()) expect([Math.floor(PLACEMENT_GROUPS / 20), Math.ceil(PLACEMENT_GROUPS / 20)]).toContain(n);
  });

  it('writes one lease per placement group with installations, none for an empty group', async () => {
    await waitUntil(() => INSTALLATIONS.every((id) => manager.epoch(id) !== undefined), 15_000, 'every lease taken');
    expect(GROUP_KEYS.length).toBeLessThan(INSTALLATIONS.length);
    expect([...writes.keys()].sort()).toEqual([...GROUP_KEYS].sort());
    // The installations of one group share its epoch: the revision of the write that took its lease.
    for (const id of INSTALLATIONS) for (const other of INSTALLATIONS.filter((o) => leaseKeys.balancerOf(o) === leaseKeys.balancerOf(id))) expect(manager.epoch(other)).toBe(manager.epoch(id));
  });

  it('renews every lease once a period, spread over the period rather than in one burst', { timeout: 30_000 }, async () => {
    // Taken at start (all at once: the first tick takes them); then watched for three periods.
    await waitUntil(() => INSTALLATIONS.every((id) => manager.epoch(id) !== undefined), 15_000, 'every lease taken');
    const from = Date.now() + PERIOD;
    const to = from + 3 * PERIOD;
    await waitUntil(() => Date.now() > to + PERIOD / 2, 5 * PERIOD + 5_000, 'three renewal periods watched');
    const renewals = GROUP_KEYS.map((key) => (writes.get(key) ?? []).filter((t) => t >= from && t < to));
    // Each lease: about three renewals in three periods, none more than a period and a bit apart.
    for (const times of renewals) {
      expect(times.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThan(PERIOD * 1.6);
    }
    // Spread: a quarter of a period holds about a twelfth of three periods' renewals; one burst a period put a third in one.
    const all = renewals.flat();
    const quarter = PERIOD / 4;
    let busiest = 0;
    for (const t of all) busiest = Math.max(busiest, all.filter((u) => u >= t && u < t + quarter).length);
    expect(busiest / all.length).toBeLessThan(0.2);
  });

  it('keeps renewing once a period while the event loop is busy (timers late), and no balancer pauses', { timeout: 30_000 }, async () => {
    await waitUntil(() => INSTALLATIONS.every((id) => manager.epoch(id) !== undefined), 15_000, 'every lease taken');
    // Turns of 60 ms: a slice timer (every 25 ms) fires once a turn. Counting firings as slices
    // stretched the period to 20 turns (1.2 s), past the lease's 1.35 s of validity with a write's wait.
    const BLOCK_MS = 60;
    const from = Date.now() + PERIOD;
    const to = from + 4 * PERIOD;
    await new Promise<void>((done) => {
      const turn = (): void => {
        const until = Date.now() + BLOCK_MS;
        while (Date.now() < until);
        if (Date.now() < to + PERIOD / 2) setTimeout(turn, 0);
        else done();
      };
      turn();
    });
    for (const key of GROUP_KEYS) {
      const times = (writes.get(key) ?? []).filter((t) => t >= from && t < to);
      expect(times.length, key).toBeGreaterThanOrEqual(3);
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!, key).toBeLessThan(PERIOD + 3 * BLOCK_MS);
    }
    expect(INSTALLATIONS.filter((id) => manager.balancer(id)?.isPaused !== false)).toEqual([]);
  });
});
