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
  stop(): Promise<void>;
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
): Promise<ServerUnderTest & { startMs: number }> {
  const node = await startPlatformNode(natsUrl, nodeId, env, execArgv ? { execArgv } : {});
  return { label, child: node.child, urlTemplate: node.urlTemplate, startMs: node.startMs, stop: () => node.child.stop() };
}
