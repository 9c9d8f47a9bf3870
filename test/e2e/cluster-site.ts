import { expect } from 'vitest';
import { connectBus } from '../../core/nats.js';
import { E2eCharger, INITIAL_PASSWORD, worstGrantedSum, type GrantedLimit } from './e2e-charger.js';
import { startNatsCluster, startPlatformNode, waitUntil, type NatsCluster, type NodeProcess } from './processes.js';

/**
 * One clustered site for the end-to-end tests: 3 nats-servers (JetStream, replicas 3), 3 platform
 * nodes, one installation under a fuse with chargers spread over the nodes, all charging.
 */

export const FUSE_A = 40;
export const SITE = 'e2e-site';
const CHARGERS = 6;
/** Installations without chargers, to show balancers spread over the nodes. */
const OTHER_SITES = 8;

export const NODE_ENV = {
  NATS_REPLICAS: '3',
  // Short enough that a failover fits a test; the README's defaults are for production.
  BALANCER_LEASE_TTL_MS: '3000',
  BALANCER_RETRY_MS: '500',
  BALANCER_PROFILE_TIMEOUT_MS: '2000',
  OCPP_CALL_TIMEOUT_MS: '3000',
};

export interface InstallationStatusBody {
  balancerNodeId: string | null;
  balancerReachable: boolean;
  /** The balancer waits for its lease's renewal and changes nothing meanwhile. */
  balancerPaused: boolean;
  chargers: { id: string; nodeId: string | null; connected: boolean; currentLimit: number | null }[];
}

export interface Site {
  nats: NatsCluster;
  nodes: NodeProcess[];
  chargers: E2eCharger[];
  log: GrantedLimit[];
}

export async function startSite(): Promise<Site> {
  const nats = await startNatsCluster(3);
  // The replicated buckets and streams exist before the nodes start, as on any start but the very
  // first (three nodes racing to create 13 R3 streams on a busy 2-core machine take tens of seconds).
  const bus = await connectBus({ url: nats.natsUrl, replicas: Number(NODE_ENV.NATS_REPLICAS), name: 'e2e-provision' });
  await bus.close();
  const nodes = await Promise.all([0, 1, 2].map((i) => startPlatformNode(`e2e-node-${i}`, { ...NODE_ENV, NATS_URL: nats.natsUrl })));
  const log: GrantedLimit[] = [];
  const chargers = Array.from({ length: CHARGERS }, (_, i) => new E2eCharger(`E2E-${i + 1}`, log));
  return { nats, nodes, chargers, log };
}

export async function configureSite(site: Site): Promise<void> {
  const api = site.nodes[0]!.api;
  const balancer = { settleMs: 300, minChangeIntervalMs: 0, deadbandA: 0.5, minRunMs: 0, minPauseMs: 0, admissionWindowMs: 0, changesPerHour: 100_000, changeBurst: 1000 };
  const created = await api('POST', '/api/v1/installations', { id: SITE, name: 'E2E garage', fuse: { L1: FUSE_A, L2: FUSE_A, L3: FUSE_A }, chargerPassword: INITIAL_PASSWORD, balancer });
  expect(created.status).toBe(201);
  for (let i = 0; i < OTHER_SITES; i++) {
    expect((await api('POST', '/api/v1/installations', { id: `e2e-other-${i}`, name: 'Other', fuse: { L1: 63, L2: 63, L3: 63 } })).status).toBe(201);
  }
  for (const c of site.chargers) {
    expect((await api('PUT', `/api/v1/installations/${SITE}/chargers/${c.id}`, { phases: 3, phaseRotation: 'L1L2L3', maxCurrent: 16, minCurrent: 6 })).status).toBeLessThan(300);
  }
}

/** Connects charger i to node i mod 3 (a TCP load balancer's round robin), then plugs every car in. */
export async function chargeEverywhere(site: Site): Promise<void> {
  await Promise.all(
    site.chargers.map((c, i) =>
      // A node learns of a new charger through its config watch; until then it answers 404.
      waitUntil(() => c.connect(site.nodes[i % 3]!).then(() => true, () => false), 10_000, `${c.id} connected`),
    ),
  );
  await waitUntil(() => site.chargers.every((c) => c.keyReceived && c.limit !== undefined), 10_000, 'passwords rotated and first limits applied');
  await plugInAll(site);
}

/** Every car not charging starts a transaction; then all six share 40 A (6.6 A each). */
export async function plugInAll(site: Site): Promise<void> {
  for (const c of site.chargers) if (!c.txId) await c.plugIn();
  await waitUntil(() => site.chargers.every((c) => (c.limit ?? 0) >= 6), 15_000, 'every car charging at >= 6 A');
}

/** The status, or undefined while the node cannot build it (e.g. JetStream electing new stream leaders). */
export async function statusIfAvailable(node: NodeProcess, id = SITE): Promise<InstallationStatusBody | undefined> {
  const res = await node.api<InstallationStatusBody>('GET', `/api/v1/installations/${id}/status`).catch(() => undefined);
  return res?.status === 200 ? res.body : undefined;
}

/** The first status, asked of every node at once, that `ok` accepts (undefined once all answered and none did): a slow node does not delay the answer of another. */
export function firstStatus(nodes: readonly NodeProcess[], ok: (s: InstallationStatusBody) => boolean): Promise<InstallationStatusBody | undefined> {
  return new Promise((resolve) => {
    let left = nodes.length;
    for (const n of nodes) {
      void statusIfAvailable(n).then((s) => {
        if (s && ok(s)) resolve(s);
        else if (--left === 0) resolve(undefined);
      });
    }
  });
}

export async function status(node: NodeProcess, id = SITE): Promise<InstallationStatusBody> {
  const res = await node.api<InstallationStatusBody>('GET', `/api/v1/installations/${id}/status`);
  expect(res.status, `status via ${node.nodeId}: ${JSON.stringify(res.body)}\n${node.proc.tail(5)}`).toBe(200);
  return res.body;
}

/** Which node runs each installation's balancer (null: none right now). */
export async function balancerNodes(node: NodeProcess): Promise<Record<string, string | null>> {
  return Object.fromEntries(await Promise.all(installationIds().map(async (id) => [id, (await status(node, id)).balancerNodeId] as const)));
}

export const installationIds = (): string[] => [SITE, ...Array.from({ length: OTHER_SITES }, (_, i) => `e2e-other-${i}`)];

/** A dropped charger connects to the next surviving node. */
export async function reconnectDropped(site: Site, survivors: NodeProcess[]): Promise<void> {
  let next = 0;
  await Promise.all(
    site.chargers
      .filter((c) => !c.connected)
      .map((c) => {
        const target = survivors[next++ % survivors.length]!;
        return waitUntil(() => c.connect(target).then(() => true, () => false), 10_000, `${c.id} reconnected`);
      }),
  );
}

/** Every charger answers an API command sent through every given node. */
export async function commandsWorkFrom(nodes: NodeProcess[], chargers: E2eCharger[]): Promise<void> {
  for (const node of nodes) {
    for (const c of chargers) {
      const res = await node.api<{ status?: string }>('POST', `/api/v1/chargers/${c.id}/commands/TriggerMessage`, { requestedMessage: 'Heartbeat' });
      expect(res, `${c.id} via ${node.nodeId}`).toMatchObject({ status: 200, body: { status: 'Accepted' } });
    }
  }
}

/** Every car leaves; every transaction appears exactly once, with its stop. */
export async function expectTransactionsComplete(site: Site, via: NodeProcess): Promise<void> {
  for (const c of site.chargers) if (c.txId) await c.unplug();
  // Listing reads the stream through a consumer, which can time out for a few seconds after a
  // nats-server died (500): retried, and the answer then must be complete.
  type Listing = { items: { transactionId: number; chargerId: string; stoppedAt?: string }[] };
  const res = await waitUntil(
    async () => {
      const r = await via.api<Listing>('GET', `/api/v1/installations/${SITE}/transactions`).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    },
    15_000,
    'the transaction listing',
  );
  const items = res.body.items;
  expect(new Set(items.map((t) => t.transactionId)).size).toBe(items.length);
  for (const c of site.chargers) {
    const mine = items.filter((t) => t.chargerId === c.id);
    expect(mine.map((t) => t.transactionId).sort(), `${c.id}'s transactions`).toEqual([...c.started].sort());
    for (const t of mine) expect(t.stoppedAt, `${c.id}'s stop of ${t.transactionId}`).toBeTruthy();
  }
}

export function expectFuseHeld(site: Site): void {
  const worst = worstGrantedSum(site.log);
  const t0 = site.log[0]?.at ?? 0;
  const trail = site.log.map((e) => `${Math.round(e.at - t0)}ms ${e.chargerId}=${e.limit}`).join(', ');
  expect(worst.max, `granted sum per phase at worst (${site.log.length} profiles): ${JSON.stringify(worst.granted)} at ${Math.round(worst.at - t0)}ms (${worst.wall ? new Date(worst.wall).toISOString() : '-'}, epoch ms ${worst.wall}); ${trail}`).toBeLessThanOrEqual(FUSE_A);
  for (const c of site.chargers) expect(c.failures, `${c.id} strict validation`).toEqual([]);
}
