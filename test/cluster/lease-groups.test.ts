import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BalancerManager } from '../../balancer/balancer-manager.js';
import { preferredNode } from '../../balancer/leadership.js';
import { ChargerCommands } from '../../core/charger-commands.js';
import { ConfigCache } from '../../core/config-cache.js';
import { startThrowawayNats, type EmbeddedNats } from '../../core/embedded-nats.js';
import { putJson } from '../../core/kv-json.js';
import { connectBus, type Bus } from '../../core/nats.js';
import { placementGroup } from '../../core/placement-groups.js';
import { buckets, leaseKeys } from '../../core/subjects.js';
import { fenceCommand, LimitFence } from '../../south/limit-fence.js';
import { aLiveStatus, simulateCharger } from '../api/harness.js';
import { profileLimitOf, storedCharger, storedInstallation, testBalancerManager } from '../support/balancer-records.js';
import { waitUntil } from '../e2e/processes.js';

/**
 * Two installations in one placement group share its lease: they run on the node holding it, fail
 * over together when that node dies, under the new holder's epoch (the group lease's new revision),
 * and the charger node's fence refuses a limit from the old holder's epoch once the group has moved.
 * Real nats-server; the dead node is one whose NATS connection is gone (its leases run out unrenewed).
 */

const TTL = 1_500;
const NODES = ['lg-node-a', 'lg-node-b'];
/**
 * Three installations of one group that node A is preferred for while both nodes live (so A keeps
 * it once B joins): two from the start, the third created later.
 */
const [SITE_X, SITE_Y, SITE_Z] = ((): string[] => {
  const byGroup = new Map<number, string[]>();
  for (let i = 0; ; i++) {
    const id = `lg-${i}`;
    const group = placementGroup(id);
    if (preferredNode(NODES, leaseKeys.group(group)) !== NODES[0]) continue;
    const ids = [...(byGroup.get(group) ?? []), id];
    if (ids.length === 3) return ids;
    byGroup.set(group, ids);
  }
})() as [string, string, string];
const SITES = [SITE_X, SITE_Y];
let newEpoch: number;
const chargerOf = (site: string): string => `${site}-C`;

let nats: EmbeddedNats;
/** The charger node (the simulated chargers, their fence) and the test's own requests. */
let chargerBus: Bus;
const nodes: { bus: Bus; cache: ConfigCache; manager: BalancerManager }[] = [];
const fence = new LimitFence();
/** Every SetChargingProfile the charger node let through, with its epoch. */
const applied: { site: string; epoch: number | undefined; limit: number }[] = [];
const subs: { unsubscribe(): void }[] = [];

async function startNode(nodeId: string): Promise<BalancerManager> {
  const bus = await connectBus({ url: nats.url, name: nodeId });
  const cache = await ConfigCache.start(bus);
  const manager = await testBalancerManager(bus, cache, { nodeId, leaseTtlMs: TTL, logger: pino({ level: 'silent' }), env: { BALANCER_RETRY_MS: '300' } });
  nodes.push({ bus, cache, manager });
  await manager.start();
  return manager;
}

beforeAll(async () => {
  nats = await startThrowawayNats('lease-groups');
  chargerBus = await connectBus({ url: nats.url, name: 'lease-groups-chargers' });
  const startedAt = new Date(Date.now() - 60_000).toISOString();
  for (const site of SITES) {
    await putJson(chargerBus.kv[buckets.installations], site, storedInstallation(site, 20, { settleMs: 100, minChangeIntervalMs: 0, minRunMs: 0, minPauseMs: 0, admissionWindowMs: 0 }));
    await putJson(chargerBus.kv[buckets.chargers], chargerOf(site), storedCharger(chargerOf(site), site));
    // The charger's node, as south/charger-session.ts fences: every command passes the fence first.
    const sim = simulateCharger(chargerBus.nc, chargerOf(site), (cmd) => {
      const fenced = fenceCommand(fence, site, cmd);
      if (fenced) return fenced;
      if (cmd.action === '$status') {
        return {
          ok: true,
          response: aLiveStatus(chargerOf(site), site, {
            connectors: [{ connectorId: 1, status: 'Charging', errorCode: 'NoError', updatedAt: startedAt }],
            measured: { t1: 10, t2: 10, t3: 10, at: new Date().toISOString() },
            activeTransactions: [{ transactionId: SITES.indexOf(site) + 1, connectorId: 1, idTag: 'TAG', meterStartWh: 0, startedAt }],
          }),
        };
      }
      if (cmd.action === 'SetChargingProfile') applied.push({ site, epoch: cmd.epoch, limit: profileLimitOf(cmd) });
      return { ok: true, response: { status: 'Accepted' } };
    });
    subs.push(sim.sub);
  }
}, 60_000);

afterAll(async () => {
  for (const s of subs) s.unsubscribe();
  for (const n of nodes) {
    await n.manager.stop();
    n.cache.stop();
    await n.bus.close().catch(() => undefined);
  }
  await chargerBus?.close();
  await nats?.stop();
});

describe('balancer leases per placement group (real nats-server)', () => {
  it('two installations of one group fail over together; the old holder’s epoch is refused once the group has moved', { timeout: 60_000 }, async () => {
    expect(placementGroup(SITE_X)).toBe(placementGroup(SITE_Y));
    const a = await startNode(NODES[0]!);
    await waitUntil(() => SITES.every((s) => a.balancer(s) !== undefined), 10_000, 'both balancers on node A');
    const oldEpoch = a.epoch(SITE_X)!;
    expect(oldEpoch).toBeGreaterThan(0);
    expect(a.epoch(SITE_Y)).toBe(oldEpoch);
    await waitUntil(() => SITES.every((s) => applied.some((p) => p.site === s && p.epoch === oldEpoch && p.limit > 0)), 10_000, 'both chargers given a limit by node A');

    // Node B joins; A stays preferred for the group, so B leads nothing while A lives.
    const bStartedAt = Date.now();
    const b = await startNode(NODES[1]!);
    await waitUntil(() => b.liveNodes().includes(NODES[0]!), 5_000, 'node B seeing node A');
    // B past its first lease period (when it still counts lapsed nodes alive), so it will see A go.
    await waitUntil(() => Date.now() - bStartedAt > TTL + 200, 2 * TTL, 'node B up a lease period');
    expect(SITES.map((s) => b.balancer(s))).toEqual([undefined, undefined]);
    expect(SITES.map((s) => a.epoch(s))).toEqual([oldEpoch, oldEpoch]);

    // Node A dies: its NATS connection gone, it renews nothing; its presence and the group lease run out.
    const diedAt = Date.now();
    await nodes[0]!.bus.close();
    await waitUntil(() => SITES.every((s) => b.balancer(s) !== undefined), 10_000, 'both balancers on node B');
    const tookMs = Date.now() - diedAt;
    newEpoch = b.epoch(SITE_X)!;
    // Together: one take of the group's lease, one epoch for both, newer than the old one.
    expect(b.epoch(SITE_Y)).toBe(newEpoch);
    expect(newEpoch).toBeGreaterThan(oldEpoch);
    // Within a lease period and a half (expiry, then the next tick of the group's slice) plus starting.
    expect(tookMs).toBeLessThan(3 * TTL);
    // A's balancers paused at their lease's expiry: they send nothing more.
    expect(SITES.every((s) => a.balancer(s)?.isPaused)).toBe(true);

    // B has spoken to both chargers (its status requests carry its epoch): A's limits are refused now.
    await waitUntil(() => SITES.every((s) => applied.some((p) => p.site === s && p.epoch === newEpoch)), 10_000, 'both chargers given a limit by node B');
    const fromElsewhere = new ChargerCommands(chargerBus.nc);
    for (const site of SITES) {
      const stale = await fromElsewhere.send(chargerOf(site), { action: 'SetChargingProfile', payload: { connectorId: 0, csChargingProfiles: {} }, epoch: oldEpoch });
      expect(stale, site).toMatchObject({ ok: false, error: { code: 'FENCED' } });
    }
    // And no limit of A's went through after B's first.
    for (const site of SITES) {
      const mine = applied.filter((p) => p.site === site);
      const firstNew = mine.findIndex((p) => p.epoch === newEpoch);
      expect(mine.slice(firstNew).map((p) => p.epoch), site).toEqual(mine.slice(firstNew).map(() => newEpoch));
    }
  });

  it('a new installation of a held group starts at once on its holder; a deleted one stops; the lease goes with the last one', { timeout: 30_000 }, async () => {
    const b = nodes[1]!.manager;
    const leaseWrites: { nodeId: string }[] = [];
    const watch = await chargerBus.kv[buckets.leases].watch({ key: leaseKeys.balancerOf(SITE_Z) });
    void (async () => {
      for await (const e of watch) if (e.operation === 'PUT') leaseWrites.push(e.json<{ nodeId: string }>());
    })();
    await putJson(chargerBus.kv[buckets.installations], SITE_Z, storedInstallation(SITE_Z, 20, {}));
    // Under the group's lease as it is (same epoch): no new take, no wait for a renewal slice.
    await waitUntil(() => b.balancer(SITE_Z), 5_000, 'the new installation’s balancer on node B');
    expect(b.epoch(SITE_Z)).toBe(newEpoch);

    await chargerBus.kv[buckets.installations].delete(SITE_X);
    await waitUntil(() => b.balancer(SITE_X) === undefined, 5_000, 'the deleted installation’s balancer stopped');
    expect([b.epoch(SITE_Y), b.epoch(SITE_Z)]).toEqual([newEpoch, newEpoch]);

    // The group's last installations deleted: its lease is handed back (no holder), none held since.
    await chargerBus.kv[buckets.installations].delete(SITE_Y);
    await chargerBus.kv[buckets.installations].delete(SITE_Z);
    await waitUntil(() => leaseWrites.at(-1)?.nodeId === '', 5_000, 'the empty group’s lease handed back');
    expect([b.balancer(SITE_Y), b.balancer(SITE_Z)]).toEqual([undefined, undefined]);
    watch.stop();
  });
});
