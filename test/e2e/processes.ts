import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findNatsServer, freePort } from '../../core/embedded-nats.js';
import { mallocTunablesEnv } from '../../core/malloc-tunables.js';

/**
 * Real processes for the end-to-end tests: a nats-server cluster and platform nodes started as
 * `npm start` starts them (main.ts under node, with only environment variables). Every child is
 * tracked and killed by `killAll()` (the tests call it in afterAll, and at process exit).
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ADMIN_TOKEN = 'e2e-admin-token-0123456789';
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

class Proc {
  output = '';
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    const onData = (c: Buffer): void => {
      this.output += c.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((r) => child.once('exit', () => r()));
    void this.exited.then(() => live.delete(child));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.alive) return;
    this.child.kill(signal);
    await this.exited;
  }

  tail(lines = 30): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    try {
      return await waitUntil(
        () => {
          if (!this.alive) throw new Error(`${this.name} exited:\n${this.tail()}`);
          return this.output.match(pattern) ?? undefined;
        },
        timeoutMs,
        `${this.name} to log ${pattern}`,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- ${this.name} output ---\n${this.tail()}`, { cause: err });
    }
  }
}

export interface NatsCluster {
  readonly urls: string[];
  /** `NATS_URL` for a platform node: every server, comma-separated. */
  readonly natsUrl: string;
  readonly servers: Proc[];
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

/** A JetStream meta leader exists: streams and buckets can be created. */
async function metaLeader(monitorPort: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz`, { signal: AbortSignal.timeout(1_000) });
    const body = (await res.json()) as { meta_cluster?: { leader?: string } };
    return body.meta_cluster?.leader || undefined;
  } catch {
    return undefined;
  }
}

/**
 * `size` nats-server processes with JetStream, routed to each other, on free loopback ports. A port
 * picked free can be taken by another test file's server before ours binds it: a server that exits
 * while starting is retried on fresh ports, a few times.
 */
export async function startNatsCluster(size = 3, name = 'e2e'): Promise<NatsCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(size, name);
    } catch (err) {
      if (attempt >= 3 || !/exited/.test((err as Error).message)) throw err;
    }
  }
}

async function startNatsClusterOnce(size: number, name: string): Promise<NatsCluster> {
  const bin = findNatsServer();
  if (!bin) throw new Error('nats-server not found');
  const dir = mkdtempSync(join(tmpdir(), `nats-cluster-${name}-`));
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), cluster: await freePort(), monitor: await freePort() })));
  const routes = ports.map((p) => `nats://127.0.0.1:${p.cluster}`).join(',');
  const servers = ports.map((p, i) => {
    const store = join(dir, `n${i}`);
    mkdirSync(store, { recursive: true });
    const args = ['-js', '-a', '127.0.0.1', '-p', String(p.client), '-m', String(p.monitor), '-n', `${name}-n${i}`, '--cluster_name', name, '--cluster', `nats://127.0.0.1:${p.cluster}`, '--routes', routes, '-sd', store];
    return new Proc(`nats-${i}`, spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  });
  const cluster: NatsCluster = {
    urls: ports.map((p) => `nats://127.0.0.1:${p.client}`),
    natsUrl: ports.map((p) => `nats://127.0.0.1:${p.client}`).join(','),
    servers,
    kill: (i, signal = 'SIGKILL') => servers[i]!.kill(signal),
    stop: async () => {
      await Promise.all(servers.map((s) => s.kill('SIGKILL')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(servers.map((s) => s.waitFor(/Server is ready/, 15_000)));
    await waitUntil(() => metaLeader(ports[0]!.monitor), 20_000, 'a JetStream meta leader');
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

export interface NodeProcess {
  readonly nodeId: string;
  readonly apiPort: number;
  readonly ocppPort: number;
  readonly proc: Proc;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/** A platform node as `npm start` runs it: main.ts in its own node process, configured by environment. */
export async function startPlatformNode(nodeId: string, env: Record<string, string>): Promise<NodeProcess> {
  const [apiPort, ocppPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      ...mallocTunablesEnv(),
      NODE_ID: nodeId,
      API_PORT: String(apiPort),
      OCPP_PORT: String(ocppPort),
      HOST: '127.0.0.1',
      ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      ...env,
    },
  });
  const proc = new Proc(nodeId, child);
  try {
    await proc.waitFor(/listening api=\d+ ocpp=\d+/, 90_000);
  } catch (err) {
    await proc.kill();
    throw err;
  }
  const api = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  return { nodeId, apiPort, ocppPort, proc, api };
}

/** Kills every child still running (SIGKILL): the tests' last word, also when they fail. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...live].map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGKILL');
        }),
    ),
  );
}
