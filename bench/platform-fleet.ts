import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChargerStore } from '../core/charger-store.js';
import { CredentialStore } from '../core/credential-store.js';
import { freePort, startThrowawayNats } from '../core/embedded-nats.js';
import { InstallationStore } from '../core/installation-store.js';
import { mallocTunablesEnv } from '../core/malloc-tunables.js';
import { connectBus } from '../core/nats.js';
import { buckets } from '../core/subjects.js';
import { platformEntry as platformEntryOf, type PlatformEntry } from '../sim/platform-entry.js';
import { Child, sleep } from './children.js';

/**
 * The platform side of the bench: a private nats-server, a fleet of chargers written through the
 * stores (as the API does), and platform node processes (`node --import tsx main.ts`).
 */

export const CHARGER_PREFIX = 'bench-';
/** The steady state of a real fleet: every charger has its own rotated password (SHA-256, cheap to check). */
export const CHARGER_PASSWORD = 'bench-rotated-password-7Qx2';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';

export interface BenchNats {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startBenchNats(): Promise<BenchNats> {
  return startThrowawayNats('bench-nats');
}

/**
 * Writes `total` chargers (`bench-0` ...), `perInstallation` per installation, each with a rotated
 * password (`beginSouthRotation` + `confirmSouthRotation`), `concurrency` writes in flight.
 */
export async function seedFleet(natsUrl: string, total: number, opts: { perInstallation?: number; concurrency?: number } = {}): Promise<{ installations: number; ms: number }> {
  const perInstallation = opts.perInstallation ?? 100;
  const concurrency = opts.concurrency ?? 200;
  const t0 = Date.now();
  const bus = await connectBus({ url: natsUrl, name: 'bench-seed' });
  try {
    const credentials = new CredentialStore(bus.kv[buckets.credentials]);
    const installations = new InstallationStore(bus.kv[buckets.installations], credentials);
    const chargers = new ChargerStore(bus.kv[buckets.chargers], installations, credentials);
    const instCount = Math.ceil(total / perInstallation);
    await pool(instCount, concurrency, (k) =>
      installations.create({ id: `bench-inst-${k}`, name: `Bench garage ${k}`, fuse: { L1: 400, L2: 400, L3: 400 } }).then(() => undefined),
    );
    await pool(total, concurrency, async (n) => {
      const id = `${CHARGER_PREFIX}${n}`;
      await chargers.put(`bench-inst-${Math.floor(n / perInstallation)}`, id, { phases: 3, maxCurrent: 32 });
      await credentials.beginSouthRotation(id, CHARGER_PASSWORD);
      await credentials.confirmSouthRotation(id);
    });
    return { installations: instCount, ms: Date.now() - t0 };
  } finally {
    await bus.close();
  }
}

/** Runs `fn(0..n-1)` with at most `concurrency` in flight; the first failure fails the whole. */
async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

/**
 * What a platform node runs (sim/platform-entry.ts): the compiled build, built once per bench.
 * BENCH_PLATFORM_TSX=1 runs main.ts through tsx instead; BENCH_PLATFORM_MAIN: another checkout's
 * entry point (through tsx). `checkout`: another checkout's compiled build (bench `--versus`).
 */
export function platformEntry(checkout?: string): PlatformEntry {
  return platformEntryOf({
    ...(checkout ? { checkout } : {}),
    tsx: process.env.BENCH_PLATFORM_TSX === '1',
    main: process.env.BENCH_PLATFORM_MAIN,
    log: (line) => process.stdout.write(`${line}\n`),
  });
}

export interface PlatformNodeProcess {
  readonly child: Child;
  readonly nodeId: string;
  readonly ocppPort: number;
  readonly apiPort: number;
  /** `ws://127.0.0.1:<port>/ocpp/{id}` */
  readonly urlTemplate: string;
  readonly startMs: number;
}

/** Starts `main.ts` in its own process against `natsUrl` and waits until /health answers. */
export async function startPlatformNode(
  natsUrl: string,
  nodeId: string,
  env: Record<string, string> = {},
  opts: { execArgv?: string[]; timeoutMs?: number; checkout?: string } = {},
): Promise<PlatformNodeProcess> {
  try {
    return await startPlatformNodeOnce(natsUrl, nodeId, env, opts);
  } catch (err) {
    // On a loaded shared machine a node may give up on NATS while starting ("timeout"): one more try.
    if (!(err instanceof Error && err.message.includes('exited during start'))) throw err;
    process.stdout.write(`    ${err.message.split('\n')[0]}; starting it again\n`);
    return startPlatformNodeOnce(natsUrl, nodeId, env, opts);
  }
}

async function startPlatformNodeOnce(
  natsUrl: string,
  nodeId: string,
  env: Record<string, string>,
  opts: { execArgv?: string[]; timeoutMs?: number; checkout?: string },
): Promise<PlatformNodeProcess> {
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const t0 = Date.now();
  const [apiPort, ocppPort] = [await freePort(), await freePort()];
  const entry = platformEntry(opts.checkout);
  const child = new Child({
    name: `platform ${nodeId}`,
    script: entry.script,
    tsx: entry.tsx,
    gcHook: true,
    ...(opts.execArgv ? { execArgv: opts.execArgv } : {}),
    env: {
      ...mallocTunablesEnv(),
      NATS_URL: natsUrl,
      API_PORT: String(apiPort),
      OCPP_PORT: String(ocppPort),
      HOST: '127.0.0.1',
      NODE_ID: nodeId,
      ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
      DATA_DIR: join(tmpdir(), `bench-data-${nodeId}`),
      // The round-trip bench measures the ceiling: its clients call back to back, far above a real charger's rate.
      OCPP_CALL_RATE: '0',
      ...env,
    },
  });
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (!child.alive) throw new Error(`platform node ${nodeId} exited during start:\n${child.tail()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${apiPort}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > until) {
      await child.stop();
      throw new Error(`platform node ${nodeId} did not answer /health within ${timeoutMs} ms:\n${child.tail()}`);
    }
    await sleep(200);
  }
  return { child, nodeId, ocppPort, apiPort, urlTemplate: `ws://127.0.0.1:${ocppPort}/ocpp/{id}`, startMs: Date.now() - t0 };
}
