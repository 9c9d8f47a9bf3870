import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, startTestNode, waitFor } from '../support/platform.js';
import { TestCharger, type ProfileCall } from '../support/sim-charger.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let first: PlatformNode;
let second: PlatformNode;
const env = { BALANCER_LEASE_TTL_MS: '900', BALANCER_RETRY_MS: '300', BALANCER_PROFILE_TIMEOUT_MS: '1000' };

beforeAll(async () => {
  nats = await startTestNats();
  first = await startTestNode(nats.url, env);
  second = await startTestNode(nats.url, env);
});
afterAll(async () => {
  await second?.stop();
  await first?.stop();
  await nats?.cleanup();
});

describe('two nodes on one NATS', () => {
  it('one balancer per installation; limits reach chargers on either node; the balancer moves when its node stops', async () => {
    await first.stores.installations.create(anInstallation({ id: 'cl-1', fuse: { L1: 32, L2: 32, L3: 32 }, balancer: { settleMs: 200, minChangeIntervalMs: 0, deadbandA: 0.5, minRunMs: 0, minPauseMs: 0 } }));
    await first.stores.chargers.put('cl-1', 'N1', aCharger());
    await first.stores.chargers.put('cl-1', 'N2', aCharger());
    await waitFor(() => (first.balancers.balancer('cl-1') ?? second.balancers.balancer('cl-1')) && second.cache.chargers.has('N2') ? true : undefined, 5_000, 'a leader');
    expect([first.balancers.balancer('cl-1'), second.balancers.balancer('cl-1')].filter(Boolean)).toHaveLength(1);
    const leader = first.balancers.balancer('cl-1') ? first : second;
    const follower = leader === first ? second : first;

    const log: ProfileCall[] = [];
    const onLeader = new TestCharger('N1', () => leader, log);
    const onFollower = new TestCharger('N2', () => follower, log);
    await onLeader.connect();
    await onFollower.connect();
    await onLeader.plugIn();
    await onFollower.plugIn();
    await onLeader.waitForLimit((l) => l === 16);
    await onFollower.waitForLimit((l) => l === 16);

    // The leader's node goes away (with its chargers); the other node takes the installation over.
    await onLeader.close();
    await leader.stop();
    const taken = await waitFor(() => follower.balancers.balancer('cl-1'), 5_000, 'failover');
    // N1 is offline, counted at its last accepted 16 A: N2 is not raised into it.
    await waitFor(() => (taken.status().chargers.N1?.limit === 16 ? true : undefined), 3_000, 'stored limit');
    // The new leader's own allocation (not a wait): it keeps N2 at 16 A, so no raise is on its way.
    const decided = await waitFor(() => taken.status().chargers.N2?.target, 3_000, 'an allocation by the new leader');
    expect(decided).toBe(16);
    expect(taken.status().chargers.N1?.limit).toBe(16);
    expect(onFollower.limit).toBe(16);
    await onFollower.close();
    if (leader === first) first = await startTestNode(nats.url, env);
    else second = await startTestNode(nats.url, env);
  });

  it('a charger reconnecting to another node closes its old socket there', async () => {
    await first.stores.chargers.put('cl-1', 'N3', aCharger());
    await waitFor(() => (first.cache.chargers.has('N3') && second.cache.chargers.has('N3') ? true : undefined));
    const a = new TestCharger('N3', () => first, []);
    await a.connect();
    const closed = new Promise<{ code: number }>((r) => a.client.once('close', r));
    const b = new TestCharger('N3', () => second, []);
    b.password = a.password;
    await b.reconnect();
    expect((await closed).code).toBe(4000);
    await waitFor(() => (first.registry.sessions.has('N3') ? undefined : true), 3_000, 'old session gone');
    expect(second.registry.sessions.has('N3')).toBe(true);
    await b.close();
  });
});
