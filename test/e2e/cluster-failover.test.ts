import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson } from '../../core/kv-json.js';
import { connectBus, decodeJson, retryTransient } from '../../core/nats.js';
import { buckets, leaseKeys } from '../../core/subjects.js';
import { preferredNode } from '../../balancer/leadership.js';
import { killAll, startPlatformNode, waitUntil } from './processes.js';
import {
  balancerNodes,
  chargeEverywhere,
  commandsWorkFrom,
  configureSite,
  expectFuseHeld,
  expectTransactionsComplete,
  firstStatus,
  installationIds,
  NODE_ENV,
  plugInAll,
  reconnectDropped,
  SITE,
  startSite,
  status,
  statusIfAvailable,
  type Site,
} from './cluster-site.js';

/**
 * The clustered backend with real processes: 3 nats-servers (JetStream, R3), 3 platform nodes
 * started as `npm start` starts them, strict ocpp-rpc chargers spread over the nodes. The site is
 * started once (tens of seconds on a busy 2-core machine); the tests run on it in order: the first
 * kills a platform node (and starts it again at the end), the second kills a nats-server.
 */

const FAILOVER_BUDGET_MS = 10_000;
let site: Site;

beforeAll(async () => {
  site = await startSite();
  await configureSite(site);
}, 180_000);

afterAll(async () => {
  // The nodes' logs, for reading after a failure.
  const dir = mkdtempSync(join(tmpdir(), 'e2e-cluster-logs-'));
  for (const n of site?.nodes ?? []) writeFileSync(join(dir, `${n.nodeId}.log`), n.proc.output);
  console.info(`[e2e] node logs in ${dir}`);
  await Promise.all(site?.chargers.map((c) => c.close()) ?? []);
  await site?.nats.stop().catch(() => undefined);
  await killAll();
});

describe('clustered backend, real processes', () => {
  it('SIGKILL of the node running the balancer: chargers move, the balancer fails over within 10 s, the fuse holds, nothing is lost', { timeout: 70_000 }, async () => {
    await chargeEverywhere(site);
    const before = await status(site.nodes[0]!);
    // Each charger's socket is on the node it connected to, as the status says from any node.
    for (const c of site.chargers) expect(before.chargers.find((s) => s.id === c.id)?.nodeId).toBe(c.node!.nodeId);
    // Every installation runs on the rendezvous-preferred node of its placement group's lease (all
    // three were up when they were created), which spreads them: not all on the node that heard of them first.
    const placement = await balancerNodes(site.nodes[1]!);
    expect(placement).toEqual(Object.fromEntries(installationIds().map((id) => [id, preferredNode(site.nodes.map((n) => n.nodeId), leaseKeys.balancerOf(id))])));
    expect(new Set(Object.values(placement)).size, `balancers spread over the nodes: ${JSON.stringify(placement)}`).toBeGreaterThan(1);

    const victim = site.nodes.find((n) => n.nodeId === before.balancerNodeId)!;
    expect(victim).toBeDefined();
    const survivors = site.nodes.filter((n) => n !== victim);
    const orphans = site.chargers.filter((c) => c.node === victim);
    expect(orphans.length).toBeGreaterThan(0);

    const killedAt = Date.now();
    await victim.proc.kill('SIGKILL');
    await waitUntil(() => orphans.every((c) => !c.connected), 5_000, 'the dead node’s sockets to drop');
    await reconnectDropped(site, survivors);
    const after = await waitUntil(
      async () => {
        const s = await statusIfAvailable(survivors[0]!);
        return s?.balancerReachable && !s.balancerPaused && s.balancerNodeId && s.balancerNodeId !== victim.nodeId ? s : undefined;
      },
      FAILOVER_BUDGET_MS,
      'the balancer on a survivor',
    );
    const failoverMs = Date.now() - killedAt;
    expect(failoverMs).toBeLessThan(FAILOVER_BUDGET_MS);
    expect(survivors.map((n) => n.nodeId)).toContain(after.balancerNodeId);
    for (const c of orphans) expect(after.chargers.find((s) => s.id === c.id)?.nodeId).toBe(c.node!.nodeId);

    // The new leader balances on fresh data: one car leaves, the other five get its share (40 / 5 = 8 A).
    const leaving = site.chargers[0]!;
    await leaving.unplug();
    await waitUntil(() => site.chargers.filter((c) => c !== leaving).every((c) => (c.limit ?? 0) >= 7.5), 15_000, 'the five remaining cars raised');

    await commandsWorkFrom(survivors, site.chargers);
    await expectTransactionsComplete(site, survivors[1]!);
    expectFuseHeld(site);
    console.info(`[e2e] node kill: balancer back on ${after.balancerNodeId} ${failoverMs} ms after SIGKILL; ${site.log.length} profiles applied`);

    // The node comes back (same NODE_ID) for the next test, and once it has been up a lease period
    // the balancers it is preferred for are handed back to it: placement settles before the next kill.
    const back = await startPlatformNode(victim.nodeId, { ...NODE_ENV, NATS_URL: site.nats.natsUrl });
    site.nodes[site.nodes.indexOf(victim)] = back;
    const expected = Object.fromEntries(installationIds().map((id) => [id, preferredNode(site.nodes.map((n) => n.nodeId), leaseKeys.balancerOf(id))!]));
    await waitUntil(async () => JSON.stringify(await balancerNodes(survivors[0]!)) === JSON.stringify(expected), 15_000, `placement back to ${JSON.stringify(expected)}`);
    await waitUntil(async () => (await statusIfAvailable(back))?.balancerReachable, 5_000, 'the site balancer answering');
  });

  it('SIGKILL of one nats-server of three (the lease stream leader): the platform carries on (R3), the fuse holds, nothing is lost', { timeout: 65_000 }, async () => {
    await plugInAll(site);
    // The server leading the lease bucket's stream: the worst one to lose for the balancers (every
    // lease renewal waits for a new stream leader to be elected).
    const probe = await connectBus({ url: site.nats.natsUrl, replicas: 3, name: 'e2e-leader-probe' });
    const leader = (await probe.jsm.streams.info(`KV_${buckets.leases}`)).cluster?.leader ?? '';
    await probe.close();
    const victim = Number(/-n(\d+)$/.exec(leader)?.[1]);
    expect(site.nats.urls[victim], `lease stream leader ${leader}`).toBeDefined();
    // Reads the lease from the servers that stay up.
    const observer = await connectBus({ url: site.nats.urls.filter((_, i) => i !== victim).join(','), replicas: 3, name: 'e2e-lease-observer' });
    const killedAt = Date.now();
    await site.nats.kill(victim, 'SIGKILL');
    // Every node reconnects to a surviving server and reports healthy again.
    for (const n of site.nodes) {
      await waitUntil(async () => (await fetch(`http://127.0.0.1:${n.apiPort}/health`)).status === 200, FAILOVER_BUDGET_MS, `${n.nodeId} healthy`);
    }
    // Asked of every node at once: one whose status route waits on a stream still electing its
    // leader says nothing about where the balancer runs. A balancer counts once it balances (not
    // paused) under a lease renewed since the kill: one that has not yet noticed the loss does not.
    const after = await waitUntil(
      async () => {
        const s = await firstStatus(site.nodes, (x) => x.balancerReachable && !x.balancerPaused && !!x.balancerNodeId);
        if (!s) return undefined;
        const lease = await getJson<{ nodeId: string; expiresAt: number }>(observer.kv[buckets.leases], leaseKeys.balancerOf(SITE)).catch(() => undefined);
        return lease?.value.nodeId === s.balancerNodeId && lease.value.expiresAt > killedAt + Number(NODE_ENV.BALANCER_LEASE_TTL_MS) ? s : undefined;
      },
      FAILOVER_BUDGET_MS,
      'a balancer after the server loss',
    );
    const recoveredMs = Date.now() - killedAt;
    await observer.close();
    expect(recoveredMs).toBeLessThan(FAILOVER_BUDGET_MS);
    expect(site.chargers.every((c) => c.connected)).toBe(true);

    // Durable writes still work on two servers of three: a car leaves and comes back, another leaves.
    const again = site.chargers[1]!;
    await again.unplug();
    await again.plugIn();
    const leaving = site.chargers[0]!;
    await leaving.unplug();
    // A liveness wait, not a bound: a raise waits for the leaving car's decrease to be persisted, and
    // streams whose leader died take a while to elect another (nats-server 2.9; > 15 s once here at load 20).
    await waitUntil(() => site.chargers.filter((c) => c !== leaving).every((c) => (c.limit ?? 0) >= 7.5), 30_000, 'the five remaining cars raised');

    await commandsWorkFrom(site.nodes, site.chargers);
    await expectTransactionsComplete(site, site.nodes[0]!);
    expectFuseHeld(site);
    console.info(`[e2e] nats-server kill (${leader}, the lease stream leader): balancer on ${after.balancerNodeId}, balancing under a renewed lease ${recoveredMs} ms after SIGKILL; ${site.log.length} profiles applied`);
  });

  it('SIGTERM: the node hands its balancers off at once and tells its chargers to go; they reconnect elsewhere', { timeout: 40_000 }, async () => {
    await plugInAll(site);
    const before = await waitUntil(() => statusIfAvailable(site.nodes[1]!), 5_000, 'status');
    const bus = await connectBus({ url: site.nats.natsUrl, replicas: 3, name: 'e2e-observer' });
    // Every write of the site's lease (its placement group's), watched from before the kill: a read after the kill could wait
    // on a stream electing its leader (this test's one NATS timeout in CI), and by the time a retry
    // answered, the lease might have run out anyway and prove nothing about a hand-off.
    const leaseWrites: Array<{ nodeId: string; expiresAt: number }> = [];
    const watch = await retryTransient(() => bus.kv[buckets.leases].watch({ key: leaseKeys.balancerOf(SITE) }));
    void (async () => {
      for await (const e of watch) if (e.operation === 'PUT') leaseWrites.push(decodeJson<{ nodeId: string; expiresAt: number }>(e.value));
    })();
    const leaving = site.nodes.find((n) => n.nodeId === before.balancerNodeId)!;
    const others = site.nodes.filter((n) => n !== leaving);
    // Two chargers on the leaving node, wherever they were.
    for (const c of site.chargers.slice(2, 4)) if (c.node !== leaving) await c.moveTo(leaving);
    const movers = site.chargers.filter((c) => c.node === leaving);
    expect(movers.length).toBeGreaterThan(1);

    await waitUntil(() => leaseWrites.at(-1)?.nodeId === leaving.nodeId, 5_000, 'the lease as the leaving node holds it');
    await leaving.proc.kill('SIGTERM');
    // The process is gone well before its lease (renewed every second for 3 s) could expire: the
    // leaving node wrote the lease free (no holder), ahead of the expiry it had last written, and
    // never held it again.
    const handedBack = await waitUntil(
      () => {
        const i = leaseWrites.findIndex((w, j) => w.nodeId === '' && leaseWrites[j - 1]?.nodeId === leaving.nodeId);
        return i > 0 ? { release: leaseWrites[i]!, last: leaseWrites[i - 1]!, later: leaseWrites.slice(i + 1) } : undefined;
      },
      5_000,
      'the lease handed back',
    );
    watch.stop();
    await bus.close();
    expect(handedBack.release.expiresAt).toBeLessThan(handedBack.last.expiresAt);
    expect(handedBack.later.map((w) => w.nodeId)).not.toContain(leaving.nodeId);
    await waitUntil(() => movers.every((c) => !c.connected), 3_000, 'the leaving node’s chargers closed');
    for (const c of movers) expect(c.lastClose, `${c.id} told why`).toMatchObject({ code: 1001 });
    await reconnectDropped(site, others);
    const after = await waitUntil(
      async () => {
        const s = await statusIfAvailable(others[0]!);
        return s?.balancerReachable && !s.balancerPaused && s.balancerNodeId ? s : undefined;
      },
      FAILOVER_BUDGET_MS,
      'the balancer on a remaining node',
    );
    expect(others.map((n) => n.nodeId)).toContain(after.balancerNodeId);
    await commandsWorkFrom(others, site.chargers);
    await expectTransactionsComplete(site, others[0]!);
    expectFuseHeld(site);
  });
});
