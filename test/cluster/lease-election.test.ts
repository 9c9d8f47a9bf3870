import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BalancerManager } from '../../balancer/balancer-manager.js';
import { Lease, leaseRequestTimeoutMs, type LeaseValue } from '../../balancer/leadership.js';
import { ConfigCache } from '../../core/config-cache.js';
import type { ConnectorStatusEvent } from '../../core/events.js';
import { getJson, putJson } from '../../core/kv-json.js';
import { connectBus, encodeJson, kvWithTimeout, type Bus } from '../../core/nats.js';
import { buckets, leaseKeys, subjects } from '../../core/subjects.js';
import { aLiveStatus, simulateCharger } from '../api/harness.js';
import { profileLimitOf, storedCharger, storedInstallation, testBalancerManager } from '../support/balancer-records.js';
import { killAll, startNatsCluster, waitUntil, type NatsCluster } from '../e2e/processes.js';

/**
 * A balancer lease through an election of the lease bucket's stream leader, on a real 3-server
 * cluster (R3). Seen in the cluster e2e: a nats-server SIGKILLed, every node's leases ran out
 * unrenewed while the stream elected a new leader, every balancer was stopped and started again
 * seconds after the election, and the failover budget was missed. Nobody can take a lease while its
 * stream has no leader (a take is a write on the lease's revision), so the holder pauses (sends
 * nothing) and, once a renewal on the same revision proves nobody took it, goes on as it was.
 */

const TTL = 1_500;
const SITE = 'el-site';
const CHARGERS = ['EL-A', 'EL-B'];
const FUSE_A = 20;

let nats: NatsCluster;
let provision: Bus;
let bus: Bus;
let cache: ConfigCache;
let manager: BalancerManager;
let victim: number;
let taker: Lease;
const logs: { msg: string }[] = [];
/** Every SetChargingProfile the simulated chargers got: its limit, epoch and whether the balancer was paused then. */
const profiles: { chargerId: string; limit: number; epoch: number | undefined; whilePaused: boolean }[] = [];
const subs: { unsubscribe(): void }[] = [];

const installation = storedInstallation(SITE, FUSE_A, { settleMs: 300, minChangeIntervalMs: 0, deadbandA: 0.5, minRunMs: 0, minPauseMs: 0, admissionWindowMs: 0, changesPerHour: 100_000, changeBurst: 1000 });
const charger = (id: string) => storedCharger(id, SITE);
const limitOf = profileLimitOf;

/** The server whose copy of the lease bucket's stream leads it (index into the cluster's servers). */
async function leaseStreamLeader(): Promise<number> {
  const leader = (await provision.jsm.streams.info(`KV_${buckets.leases}`)).cluster?.leader ?? '';
  const index = Number(/-n(\d+)$/.exec(leader)?.[1]);
  expect(Number.isInteger(index), `stream leader ${leader}`).toBe(true);
  return index;
}

beforeAll(async () => {
  nats = await startNatsCluster(3, 'lease-election');
  provision = await connectBus({ url: nats.natsUrl, replicas: 3, name: 'lease-election-provision' });
  // The node under test talks to the other two servers: it keeps its connection when the lease
  // stream's leader is killed, as a platform node does whose own server survives.
  victim = await leaseStreamLeader();
  bus = await connectBus({ url: nats.urls.filter((_, i) => i !== victim).join(','), replicas: 3, name: 'lease-election-node' });
  await putJson(bus.kv[buckets.installations], SITE, installation);
  for (const id of CHARGERS) await putJson(bus.kv[buckets.chargers], id, charger(id));
  const startedAt = new Date(Date.now() - 60_000).toISOString();
  for (const id of CHARGERS) {
    const sim = simulateCharger(bus.nc, id, (cmd) => {
      if (cmd.action === '$status') {
        const now = new Date().toISOString();
        return {
          ok: true,
          response: aLiveStatus(id, SITE, {
            connectors: [{ connectorId: 1, status: 'Charging', errorCode: 'NoError', updatedAt: startedAt }],
            measured: { t1: 10, t2: 10, t3: 10, at: now },
            activeTransactions: [{ transactionId: CHARGERS.indexOf(id) + 1, connectorId: 1, idTag: 'TAG', meterStartWh: 0, startedAt }],
          }),
        };
      }
      if (cmd.action === 'SetChargingProfile') profiles.push({ chargerId: id, limit: limitOf(cmd), epoch: cmd.epoch, whilePaused: manager.balancer(SITE)?.isPaused ?? false });
      return { ok: true, response: { status: 'Accepted' } };
    });
    subs.push(sim.sub);
  }
  // Another node found the lease free before the holder took it (as after a handback) and has not
  // looked since: the time it looked free must not count across the election.
  taker = new Lease(await kvWithTimeout(bus, buckets.leases, leaseRequestTimeoutMs(TTL)), leaseKeys.balancerOf(SITE), 'node-b', TTL);
  expect(await taker.acquireOrRenew(Date.now(), TTL)).toBe(false);
  cache = await ConfigCache.start(bus);
  // Retries as in the cluster e2e: a persist of the limits can fail while their bucket's stream elects too.
  manager = await testBalancerManager(bus, cache, { nodeId: 'node-a', leaseTtlMs: TTL, logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) }), env: { BALANCER_RETRY_MS: '500' } });
  await manager.start();
}, 90_000);

afterAll(async () => {
  for (const s of subs) s.unsubscribe();
  await manager?.stop();
  cache?.stop();
  await bus?.close();
  await provision?.close();
  await nats?.stop();
  await killAll();
});

describe('a balancer lease through an election of its stream leader (3 servers, R3)', () => {
  it('the lease stream leader’s server SIGKILLed: the holder pauses while unrenewed (sends nothing), then goes on with the same balancer and epoch', { timeout: 90_000 }, async () => {
    const balancer = await waitUntil(() => manager.balancer(SITE), 10_000, 'the balancer running');
    const epoch = balancer.epoch;
    expect(epoch).toBeGreaterThan(0);
    // Both cars charging under a 20 A fuse: 10 A each.
    await waitUntil(() => CHARGERS.every((id) => profiles.some((p) => p.chargerId === id && p.limit > 0)), 10_000, 'both chargers given a limit');
    expect(await leaseStreamLeader(), 'the lease stream leader has not moved since the start').toBe(victim);

    await nats.kill(victim, 'SIGKILL');
    // The other node tries to take the lease all along, as its ticks would (more often), and as if
    // it were preferred (no wait of its own): the holder's presence lapses during the election too,
    // which made another node preferred and let it take the lease the moment the stream came back.
    let polling = true;
    const takes: boolean[] = [];
    const poll = (async () => {
      while (polling) {
        takes.push(await taker.acquireOrRenew(Date.now(), 0));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    // The election outlasts the lease (a follower waits seconds for the dead leader's heartbeats):
    // the lease runs out unrenewed and the balancer pauses.
    await waitUntil(() => logs.some((l) => l.msg.startsWith('balancer lease ran out unrenewed')), 10_000, 'the lease run out unrenewed');
    expect(balancer.isPaused).toBe(true);
    // A car leaves while the balancer is paused: the other car's raise waits for the renewal.
    const left: ConnectorStatusEvent = { kind: 'status', chargerId: 'EL-B', installationId: SITE, connectorId: 1, status: 'Available', errorCode: 'NoError', timestamp: new Date().toISOString() };
    bus.nc.publish(subjects.chargerEvent(SITE, 'EL-B', 'status'), encodeJson(left));

    await waitUntil(() => manager.balancer(SITE)?.isPaused === false, 30_000, 'a balancer running (not paused) once the lease was renewed');
    // The same balancer, never stopped or started again, with the same epoch.
    expect(manager.balancer(SITE)).toBe(balancer);
    expect(balancer.epoch).toBe(epoch);
    expect(logs.filter((l) => l.msg === 'balancer started on this node')).toHaveLength(1);
    // It balances on what it heard while paused: the remaining car is raised, under the same epoch.
    // A liveness wait, not a bound: the raise is persisted first, in a bucket whose stream may still be electing.
    await waitUntil(() => profiles.some((p) => p.chargerId === 'EL-A' && p.limit >= 15), 30_000, 'the remaining car raised');
    expect(profiles.filter((p) => p.whilePaused), 'profiles received while the balancer was paused').toEqual([]);
    expect(new Set(profiles.map((p) => p.epoch))).toEqual(new Set([epoch]));
    polling = false;
    await poll;
    // It never took the lease: the holder renewed first once the stream had its leader again.
    expect(takes.length).toBeGreaterThan(10);
    expect(takes.filter(Boolean)).toEqual([]);
  });

  it('a stepdown of the lease stream leader ($JS.API.STREAM.LEADER.STEPDOWN): the holder keeps its balancer and epoch', { timeout: 30_000 }, async () => {
    const balancer = manager.balancer(SITE)!;
    const epoch = balancer.epoch;
    const before = await leaseStreamLeader();
    const reply = await bus.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.KV_${buckets.leases}`, undefined, { timeout: 5_000 });
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ success: true });
    await waitUntil(async () => (await leaseStreamLeader().catch(() => before)) !== before, 10_000, 'a new stream leader');
    // Renewed on the new leader: the lease's expiry moves on, same holder and revision chain.
    const after = Date.now();
    await waitUntil(
      async () => {
        const lease = await getJson<LeaseValue>(bus.kv[buckets.leases], leaseKeys.balancerOf(SITE)).catch(() => undefined);
        return lease?.value.nodeId === 'node-a' && lease.value.expiresAt > after + TTL;
      },
      10_000,
      'a renewal on the new leader',
    );
    expect(manager.balancer(SITE)).toBe(balancer);
    expect(balancer.epoch).toBe(epoch);
    expect(logs.filter((l) => l.msg === 'balancer started on this node')).toHaveLength(1);
  });
});
