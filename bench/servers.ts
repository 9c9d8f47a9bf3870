import { Child } from './children.js';
import { isEvent } from './load-gen.js';
import { startPlatformNode } from './platform-fleet.js';

/** A server under test, in its own process, reachable at `urlTemplate` (`{id}` = charger id). */
export interface ServerUnderTest {
  readonly label: string;
  readonly child: Child;
  readonly urlTemplate: string;
  /** Connections the server itself counts, when it can tell. */
  connections?(): Promise<number>;
  /** Installations whose balancer this server has run (platform nodes only). */
  balancers?(): Promise<Set<string>>;
  stop(): Promise<void>;
}

/**
 * Waits until the servers together run a balancer for each of `installations` installations. A node
 * takes its leases a lease period or so after it starts, and each balancer then models every
 * configured charger of its installation; a baseline taken before that would count the balancers'
 * memory (per configured charger, 4 per connected one in this bench) as the connected chargers'.
 */
export async function waitForBalancers(servers: readonly ServerUnderTest[], installations: number, timeoutMs = 60_000): Promise<void> {
  if (installations <= 0 || !servers.every((s) => s.balancers)) return;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const led = new Set<string>();
    for (const s of servers) for (const id of await s.balancers!()) led.add(id);
    if (led.size >= installations) return;
    if (Date.now() > until) throw new Error(`balancers of ${led.size} of ${installations} installations running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export type PeerKind = 'raw' | 'rpc';

export const PEER_LABEL: Record<PeerKind, string> = {
  raw: 'raw ws echo (ceiling)',
  rpc: 'ocpp-rpc RPCServer strict (peer)',
};

export async function startPeerServer(kind: PeerKind): Promise<ServerUnderTest> {
  const child = new Child({ name: `${kind} server`, script: 'bench/peer-server.ts', args: [kind], gcHook: true });
  try {
    const { port } = await child.nextJson<{ port: number }>(isEvent('listening'), 30_000, 'listening');
    return {
      label: PEER_LABEL[kind],
      child,
      urlTemplate: `ws://127.0.0.1:${port}/ocpp/{id}`,
      connections: async () => {
        child.send('count');
        return (await child.nextJson<{ connections: number }>(isEvent('count'), 10_000, 'count')).connections;
      },
      stop: () => child.stop(),
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

export async function startPlatformServer(
  natsUrl: string,
  nodeId: string,
  label: string,
  env: Record<string, string> = {},
  execArgv?: string[],
  checkout?: string,
): Promise<ServerUnderTest & { startMs: number }> {
  // Installation labels on /metrics tell which balancers the node has run (waitForBalancers).
  const node = await startPlatformNode(natsUrl, nodeId, { METRICS_INSTALLATION_LABELS: 'on', ...env }, { ...(execArgv ? { execArgv } : {}), ...(checkout ? { checkout } : {}) });
  const balancers = async (): Promise<Set<string>> => {
    const text = await (await fetch(`http://127.0.0.1:${node.apiPort}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    return new Set([...text.matchAll(/^cp_balancer_recomputes_total\{installation="([^"]+)"\}/gm)].map((m) => m[1]!));
  };
  return { label, child: node.child, urlTemplate: node.urlTemplate, startMs: node.startMs, balancers, stop: () => node.child.stop() };
}
