import { encodeJson } from '../core/nats.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { loadConfig } from '../core/config.js';
import { startEmbeddedNats, type EmbeddedNats } from '../core/embedded-nats.js';
import { mallocTunablesEnv } from '../core/malloc-tunables.js';
import type { PhaseCurrents } from '../core/model.js';
import { subjects } from '../core/subjects.js';
import { startNode, type PlatformNode } from '../main.js';
import { platformEntry } from './platform-entry.js';
import type { SiteApi } from './site.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ADMIN_TOKEN = 'sim-admin-token-0123456789abcdef';

/** CPU and memory of a process, from /proc (Linux). */
export interface ProcessUsage {
  /** CPU seconds (user + system). */
  cpuS: number;
  rssMiB: number;
  /** Peak resident set size. */
  hwmMiB: number;
}

export function processUsage(pid: number): ProcessUsage | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { cpuS: ticks / 100, rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** A running platform node (in this process or a child) and the sim's own NATS connection to it. */
export interface PlatformHandle {
  readonly mode: 'in-process' | 'child';
  readonly ocppBaseUrl: string;
  readonly api: PlatformApi;
  readonly nc: NatsConnection;
  /** The platform process (child mode) and the nats-server. */
  readonly pid: number | undefined;
  readonly natsPid: number | undefined;
  readonly env: Readonly<Record<string, string>>;
  /** The node itself in in-process mode (for tests that look inside). */
  readonly node: PlatformNode | undefined;
  stop(): Promise<void>;
}

export interface StartOptions {
  mode: 'in-process' | 'child';
  env: Record<string, string>;
  /** Child mode: where the platform's log goes. */
  logFile?: string;
}

/** Starts a nats-server with JetStream and one platform node against it. */
export async function startPlatform(opts: StartOptions): Promise<PlatformHandle> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sim-platform-'));
  const nats: EmbeddedNats = await startEmbeddedNats({ storeDir: join(dataDir, 'nats') });
  const natsPid = findPid(nats);
  const env: Record<string, string> = {
    ...opts.env,
    NATS_URL: nats.url,
    API_PORT: '0',
    OCPP_PORT: '0',
    HOST: '127.0.0.1',
    ADMIN_TOKEN,
    NODE_ID: 'sim-node',
    DATA_DIR: dataDir,
  };
  let stopNode: () => Promise<void>;
  let ports: { api: number; ocpp: number };
  let pid: number | undefined;
  let node: PlatformNode | undefined;
  if (opts.mode === 'in-process') {
    node = await startNode(loadConfig(env), { logger: pino({ level: process.env.SIM_PLATFORM_LOG ?? 'silent' }) });
    ports = { api: node.apiPort, ocpp: node.ocppPort };
    const started = node;
    stopNode = () => started.stop();
  } else {
    // The compiled build, as `npm start` runs it (SIM_PLATFORM_TSX=1: main.ts through tsx, whose
    // loader would be counted in the platform's RSS).
    const entry = platformEntry({ tsx: process.env.SIM_PLATFORM_TSX === '1', log: (line) => process.stderr.write(`${line}\n`) });
    const child = spawn(process.execPath, entry.tsx ? ['--import', 'tsx', entry.script] : [entry.script], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...mallocTunablesEnv(), ...env, LOG_LEVEL: process.env.SIM_PLATFORM_LOG ?? 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    pid = child.pid;
    ports = await waitForListening(child, opts.logFile);
    stopNode = () => stopChild(child);
  }
  const nc = await connect({ servers: nats.url, name: 'simulator' });
  const api = new PlatformApi(`http://127.0.0.1:${ports.api}/api/v1`, ADMIN_TOKEN, nc);
  return {
    mode: opts.mode,
    ocppBaseUrl: `ws://127.0.0.1:${ports.ocpp}/ocpp`,
    api,
    nc,
    pid,
    natsPid,
    env,
    node,
    stop: async () => {
      await nc.close().catch(() => undefined);
      await stopNode();
      await nats.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The nats-server's pid, found by its store directory on its command line (Linux /proc). */
function findPid(nats: EmbeddedNats): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes('nats-server') && cmd.includes(nats.storeDir)) return Number(name);
    } catch {
      // gone
    }
  }
  return undefined;
}

function waitForListening(child: ChildProcess, logFile: string | undefined): Promise<{ api: number; ocpp: number }> {
  const log = logFile ? createWriteStream(logFile) : undefined;
  child.stderr?.on('data', (d: Buffer) => log?.write(d));
  return new Promise((resolvePorts, reject) => {
    const timer = setTimeout(() => reject(new Error('platform child did not start within 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`platform child exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log?.write(`${line}\n`);
      const m = /listening api=(\d+) ocpp=(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolvePorts({ api: Number(m[1]), ocpp: Number(m[2]) });
      }
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The platform's HTTP API as an installer, an energy manager and the simulator use it. */
export class PlatformApi implements SiteApi {
  constructor(
    private readonly base: string,
    private readonly token: string,
    private readonly nc: NatsConnection,
  ) {}

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  }

  createInstallation(body: Record<string, unknown>): Promise<unknown> {
    return this.request('POST', '/installations', body);
  }

  putCharger(installationId: string, chargerId: string, body: Record<string, unknown>): Promise<unknown> {
    return this.request('PUT', `/installations/${installationId}/chargers/${chargerId}`, body);
  }

  async patchFuse(installationId: string, fuse: PhaseCurrents): Promise<void> {
    await this.request('PATCH', `/installations/${installationId}`, { fuse });
  }

  /** A grid meter reading, published on the meter subject as a meter gateway does, stamped when measured. */
  publishMeterReading(installationId: string, circuitId: string, reading: PhaseCurrents): void {
    this.nc.publish(subjects.meterReading(installationId, circuitId), encodeJson({ ...reading, at: new Date().toISOString() }));
  }

  async putAvailableCurrent(installationId: string, available: PhaseCurrents, ttlSeconds = 86_400): Promise<void> {
    await this.request('PUT', `/installations/${installationId}/available-current`, { ...available, ttlSeconds });
  }

  /** The balancer's own view (`balancer.status.<id>` over NATS); undefined when no balancer answers. */
  async balancerStatus(installationId: string, timeoutMs = 2_000): Promise<{ allocated: PhaseCurrents; limits: PhaseCurrents; chargers: Record<string, { limit: number; target?: number; online: boolean }> } | undefined> {
    try {
      const msg = await this.nc.request(subjects.balancerStatus(installationId), new Uint8Array(0), { timeout: timeoutMs });
      return JSON.parse(new TextDecoder().decode(msg.data)) as never;
    } catch {
      return undefined;
    }
  }
}
