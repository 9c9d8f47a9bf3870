import type { KV } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lease } from '../../balancer/leadership.js';
import { connectBus, type Bus } from '../../core/nats.js';
import { buckets } from '../../core/subjects.js';
import { startTestNats } from '../support/nats.js';

/**
 * The balancer lease on a real nats-server. Time is passed in (`now`), so expiry and the waits of
 * a node that is not preferred are shown without sleeping.
 */

const TTL = 3_000;
let nats: Awaited<ReturnType<typeof startTestNats>>;
let bus: Bus;
let kv: KV;
let n = 0;
const key = (): string => `balancer.lease-test-${++n}`;

beforeAll(async () => {
  nats = await startTestNats();
  bus = await connectBus({ url: nats.url, auth: nats.auth, name: 'lease-test' });
  kv = bus.kv[buckets.leases];
});

afterAll(async () => {
  await bus?.close();
  await nats?.cleanup();
});

describe('balancer lease', () => {
  it('an absent lease: the preferred node takes it at once, another only after waiting a lease period', async () => {
    const k = key();
    const t0 = Date.now();
    const other = new Lease(kv, k, 'node-b', TTL);
    // A new installation: the first node to hear of it is not its preferred node, and waits.
    expect(await other.acquireOrRenew(t0, TTL)).toBe(false);
    expect(await other.acquireOrRenew(t0 + TTL - 1, TTL)).toBe(false);
    const preferred = new Lease(kv, k, 'node-a', TTL);
    expect(await preferred.acquireOrRenew(t0 + 100, 0)).toBe(true);
    expect(preferred.epoch).toBeGreaterThan(0);
    // Held (and renewed) by the preferred node: the other's wait is over, but the lease is not free.
    expect(await preferred.acquireOrRenew(t0 + 1_000, 0)).toBe(true);
    expect(await other.acquireOrRenew(t0 + TTL + 1, TTL)).toBe(false);
  });

  it('a lease the watch last saw held elsewhere and unexpired is not read; once that expiry passes it is read and taken', async () => {
    const k = key();
    const t0 = Date.now();
    const holder = new Lease(kv, k, 'node-a', TTL);
    expect(await holder.acquireOrRenew(t0, 0)).toBe(true);
    await holder.release(t0 + 10);
    // KV says free (handed back), but the watch's value is still node-a's: nothing is read, nothing taken.
    const other = new Lease(kv, k, 'node-b', TTL);
    const seen = { nodeId: 'node-a', expiresAt: t0 + TTL };
    expect(await other.acquireOrRenew(t0 + 20, 0, seen)).toBe(false);
    // Past the seen expiry it reads KV, as without a watch.
    expect(await other.acquireOrRenew(t0 + TTL, 0, seen)).toBe(true);
    // A handback seen (nodeId '') is read too.
    const third = new Lease(kv, key(), 'node-c', TTL);
    expect(await third.acquireOrRenew(t0, 0, { nodeId: '', expiresAt: t0 })).toBe(true);
  });

  it('an absent lease nobody preferred takes: another node takes it once it has waited a lease period', async () => {
    const k = key();
    const t0 = Date.now();
    const other = new Lease(kv, k, 'node-b', TTL);
    expect(await other.acquireOrRenew(t0, TTL)).toBe(false);
    expect(await other.acquireOrRenew(t0 + TTL, TTL)).toBe(true);
  });

  it('an expired lease goes to the next holder with a higher epoch; the old holder cannot renew it', async () => {
    const k = key();
    const t0 = Date.now();
    const first = new Lease(kv, k, 'node-a', TTL);
    expect(await first.acquireOrRenew(t0, 0)).toBe(true);
    const second = new Lease(kv, k, 'node-b', TTL);
    expect(await second.acquireOrRenew(t0 + TTL - 1, 0)).toBe(false);
    expect(await second.acquireOrRenew(t0 + TTL + 1, 0)).toBe(true);
    expect(second.epoch!).toBeGreaterThan(first.epoch!);
    expect(await first.acquireOrRenew(t0 + TTL + 2, 0)).toBe(false);
    expect(first.validUntil).toBe(0);
  });

  it('a handed-back lease is taken at once by the preferred node, after a lease period by another', async () => {
    const k = key();
    const t0 = Date.now();
    const holder = new Lease(kv, k, 'node-a', TTL);
    expect(await holder.acquireOrRenew(t0, 0)).toBe(true);
    await holder.release(t0 + 10);
    const other = new Lease(kv, k, 'node-c', TTL);
    expect(await other.acquireOrRenew(t0 + 20, TTL)).toBe(false);
    const preferred = new Lease(kv, k, 'node-b', TTL);
    expect(await preferred.acquireOrRenew(t0 + 30, 0)).toBe(true);
  });

  it('unreachable NATS: held until its own expiry less the skew margin, by the clock after the failed request', async () => {
    const nats2 = await startTestNats();
    const bus2 = await connectBus({ url: nats2.url, auth: nats2.auth, name: 'lease-test-2' });
    let clock = Date.now();
    const lease = new Lease(bus2.kv[buckets.leases], key(), 'node-a', TTL, () => clock);
    const t0 = clock;
    expect(await lease.acquireOrRenew(t0, 0)).toBe(true);
    expect(lease.validUntil).toBe(t0 + TTL * 0.9);
    await bus2.close();
    await nats2.cleanup();
    // The renewal fails (closed connection); the time it took counts, not the `now` it started with.
    clock = t0 + TTL * 0.5;
    expect(await lease.acquireOrRenew(t0, 0)).toBe(true);
    clock = t0 + TTL * 0.95;
    expect(await lease.acquireOrRenew(t0, 0)).toBe(false);
  });
});
