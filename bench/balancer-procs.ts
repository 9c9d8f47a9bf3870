import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ChargerStore } from '../core/charger-store.js';
import { CredentialStore } from '../core/credential-store.js';
import { startThrowawayNats } from '../core/embedded-nats.js';
import { InstallationStore } from '../core/installation-store.js';
import { mallocTunablesEnv } from '../core/malloc-tunables.js';
import { connect } from '@nats-io/transport-node';
import { connectBus } from '../core/nats.js';
import { buckets } from '../core/subjects.js';
import type { PlatformEntry } from '../sim/platform-entry.js';
import type { FleetSpec, LoadCommand } from './balancer-chargers.js';

/**
 * The processes of the balancer latency bench: a private nats-server, the fleet written through
 * the stores, one platform node (`node --import tsx main.ts`) and the load generator
 * (`bench/balancer-chargers.ts`). Every child is killed when the bench process exits, and every
 * wait on a child has a timeout.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ADMIN_TOKEN = 'bench-balancer-admin-token-0123';
/** Pre-rotated per-charger password (SHA-256 hash in KV, cheap to check; no scrypt on connect). */
export const CHARGER_PASSWORD = 'bench-balancer-rotated-pw-7Qx2';
const TAIL_LINES = 30;

const live = new Set<ChildProcess>();
let exitHooked = false;
function track(proc: ChildProcess): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => {
      for (const p of live) p.kill('SIGKILL');
    });
  }
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
}

/** Kills every child of the bench at once (the deadline passed); pending waits on them fail. */
export function killAll(): void {
  for (const p of live) p.kill('SIGKILL');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command name start at field 3 (state); utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds the whole machine has spent busy (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle and iowait.
  return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)) / 100;
}

/**
 * CPU seconds used so far by this process and all its descendants (the nats-server, node, load
 * generator); with `command`, by those of them running that command only (`nats-server`, say).
 */
export function benchTreeCpuSeconds(command?: string): number {
  const children = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  const commands = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(name);
      const ppid = Number(fields[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
      cpu.set(pid, (Number(fields[11]) + Number(fields[12])) / 100);
      commands.set(pid, stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')));
    } catch {
      // gone meanwhile
    }
  }
  let sum = 0;
  const todo = [process.pid];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    if (command === undefined || commands.get(pid) === command) sum += cpu.get(pid) ?? 0;
    todo.push(...(children.get(pid) ?? []));
  }
  return sum;
}

// ---- nats-server and fleet ----

export interface BenchNats {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startNats(): Promise<BenchNats> {
  return startThrowawayNats('bench-balancer-nats');
}

export interface FleetPlan {
  prefix: string;
  installations: number;
  perInstallation: number;
  /** Per phase, A. */
  fuseA: number;
  maxCurrentA: number;
}

/**
 * Writes the installations and chargers through the stores (as the API does). Balancer settings
 * take every wait out of the way of a raise: no settle time, no minimum interval, run or pause.
 */
export async function seedFleet(natsUrl: string, plan: FleetPlan): Promise<FleetSpec['installations']> {
  const bus = await connectBus({ url: natsUrl, name: 'bench-balancer-seed' });
  try {
    const credentials = new CredentialStore(bus.kv[buckets.credentials]);
    const installations = new InstallationStore(bus.kv[buckets.installations], credentials);
    const chargers = new ChargerStore(bus.kv[buckets.chargers], installations, credentials);
    const fleet = Array.from({ length: plan.installations }, (_, i) => ({
      id: `${plan.prefix}-i${i}`,
      chargers: Array.from({ length: plan.perInstallation }, (_, k) => `${plan.prefix}-i${i}-c${k}`),
    }));
    const fuse = { L1: plan.fuseA, L2: plan.fuseA, L3: plan.fuseA };
    // Anti-churn off: the bench measures how fast an event becomes a command, many times per charger.
    const balancer = { settleMs: 0, minChangeIntervalMs: 0, deadbandA: 0.5, minRunMs: 0, minPauseMs: 0, changesPerHour: 0, idleAfterMs: 0 };
    await pool(fleet, 20, async (inst) => {
      await installations.create({ id: inst.id, name: `Bench ${inst.id}`, fuse, balancer });
      for (const id of inst.chargers) {
        // On a replicated cluster a KV get may be answered by a replica that has not applied the
        // installation's create yet (README, Running a cluster): retried, as an API client would.
        for (let attempt = 1; ; attempt++) {
          try {
            await chargers.put(inst.id, id, { phases: 3, maxCurrent: plan.maxCurrentA });
            break;
          } catch (err) {
            if (attempt >= 20 || !/not found/i.test((err as Error).message)) throw err;
            await sleep(50);
          }
        }
        await credentials.beginSouthRotation(id, CHARGER_PASSWORD);
        await credentials.confirmSouthRotation(id);
      }
    });
    return fleet;
  } finally {
    await bus.close();
  }
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** A class of subject, so message counts read as what they are. */
function subjectClass(subject: string): string {
  const t = subject.split('.');
  if (t[0] === '$KV') return `KV put ${t[1]}`;
  if (t[0] === '$JS' && t[1] === 'API') return `JS API ${t[2]}`;
  if (t[0] === '$JS' && t[1] === 'ACK') return 'JS ack (KV watch)';
  if (t[0] === '_INBOX') return 'replies (_INBOX)';
  if (t[0] === 'evt') return `event ${t[t.length - 1]}`;
  if (t[0] === 'cmd') return 'command cmd.charger';
  return t[0] ?? subject;
}

/** Counts every message through the nats-server by subject class (a `>` subscriber), for diagnosis. */
export async function countMessages(natsUrl: string): Promise<{ take(): Record<string, number>; stop(): Promise<void> }> {
  const nc = await connect({ servers: natsUrl, name: 'bench-balancer-counter' });
  let counts: Record<string, number> = {};
  nc.subscribe('>', {
    callback: (err, msg) => {
      if (err) return;
      const k = subjectClass(msg.subject);
      counts[k] = (counts[k] ?? 0) + 1;
    },
  });
  await nc.flush();
  return {
    take: () => {
      const out = counts;
      counts = {};
      return out;
    },
    stop: () => nc.close(),
  };
}

// ---- the platform node ----

export interface PlatformOptions {
  natsUrl: string;
  nodeId: string;
  ocppLog: boolean;
  coalesceMs: number;
  /** When set, the node runs with --cpu-prof and writes its profile here on exit. */
  cpuProfDir?: string;
  /** More environment for the node (e.g. NATS_REPLICAS on a cluster). */
  env?: Record<string, string>;
  /** What the node runs (sim/platform-entry.ts); main.ts through tsx when not given. */
  entry?: PlatformEntry;
}

export interface PlatformProcess {
  readonly pid: number;
  readonly apiPort: number;
  readonly ocppPort: number;
  /** pino lines at warn or above. */
  warnings(): number;
  tail(lines?: number): string;
  /** SIGTERM (the node shuts down and writes its CPU profile), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts a platform node (`main.ts`, or `opts.entry`) in its own process and waits for its `listening api=<port> ocpp=<port>` log line. */
export async function startPlatform(opts: PlatformOptions, timeoutMs = 60_000): Promise<PlatformProcess> {
  const entry = opts.entry ?? { script: 'main.ts', tsx: true };
  const execArgv = [...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : []), ...(entry.tsx ? ['--import', 'tsx'] : [])];
  const proc = spawn(process.execPath, [...execArgv, resolve(REPO_ROOT, entry.script)], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...mallocTunablesEnv(),
      NATS_URL: opts.natsUrl,
      API_PORT: '0',
      OCPP_PORT: '0',
      HOST: '127.0.0.1',
      NODE_ID: opts.nodeId,
      ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      OCPP_LOG: opts.ocppLog ? 'on' : 'off',
      BALANCER_COALESCE_MS: String(opts.coalesceMs),
      DATA_DIR: join(tmpdir(), `bench-data-${opts.nodeId}`),
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(proc);
  const exited = new Promise<void>((done) => proc.once('exit', () => done()));
  const tailLines: string[] = [];
  let warnings = 0;
  const keep = (line: string): void => {
    tailLines.push(line.length > 400 ? `${line.slice(0, 400)}...` : line);
    if (tailLines.length > TAIL_LINES) tailLines.shift();
  };
  const tail = (lines = 12): string => tailLines.slice(-lines).join('\n');
  const ports = new Promise<{ api: number; ocpp: number }>((found, fail) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let entry: { level?: number; msg?: string } | undefined;
      try {
        entry = JSON.parse(line) as { level?: number; msg?: string };
      } catch {
        entry = undefined;
      }
      if ((entry?.level ?? 0) >= 40) {
        warnings++;
        keep(line);
      }
      const m = /listening api=(\d+) ocpp=(\d+)/.exec(entry?.msg ?? '');
      if (m) found({ api: Number(m[1]), ocpp: Number(m[2]) });
    });
    createInterface({ input: proc.stderr! }).on('line', keep);
    void exited.then(() => fail(new Error(`platform node ${opts.nodeId} exited during start:\n${tail()}`)));
  });
  const stop = async (graceMs = 15_000): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  let found: { api: number; ocpp: number };
  try {
    found = await withTimeout(ports, timeoutMs, `platform node ${opts.nodeId} to log "listening"`);
  } catch (err) {
    await stop(2_000);
    throw err;
  }
  return { pid: proc.pid ?? -1, apiPort: found.api, ocppPort: found.ocpp, warnings: () => warnings, tail, stop };
}

// ---- the load generator ----

/** `bench/balancer-chargers.ts` in its own process, driven by JSON lines, one command at a time. */
export class LoadGenerator {
  private readonly proc: ChildProcess;
  private readonly exited: Promise<void>;
  private readonly waiting = new Map<number, (v: Record<string, unknown>) => void>();
  private readonly stderr: string[] = [];
  private seq = 0;

  constructor() {
    this.proc = spawn(process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'bench/balancer-chargers.ts')], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    track(this.proc);
    this.exited = new Promise((done) => this.proc.once('exit', () => done()));
    this.proc.stdin!.on('error', () => undefined);
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      try {
        const v = JSON.parse(line) as Record<string, unknown>;
        if (typeof v.seq === 'number') this.waiting.get(v.seq)?.(v);
      } catch {
        this.stderr.push(line);
      }
    });
    createInterface({ input: this.proc.stderr! }).on('line', (line) => {
      this.stderr.push(line);
      if (this.stderr.length > TAIL_LINES) this.stderr.shift();
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  async request<T>(cmd: LoadCommand, timeoutMs: number): Promise<T> {
    const seq = ++this.seq;
    const answer = new Promise<Record<string, unknown>>((done, fail) => {
      this.waiting.set(seq, done);
      void this.exited.then(() => fail(new Error(`load generator exited during ${cmd.op}:\n${this.stderr.join('\n')}`)));
    });
    this.proc.stdin!.write(`${JSON.stringify({ seq, ...cmd })}\n`);
    try {
      const v = await withTimeout(answer, timeoutMs, `load generator: ${cmd.op}`);
      if (typeof v.error === 'string') throw new Error(`load generator: ${cmd.op} failed: ${v.error}`);
      return v as T;
    } finally {
      this.waiting.delete(seq);
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.stdin!.end();
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3_000);
    await this.exited;
    clearTimeout(timer);
  }
}
