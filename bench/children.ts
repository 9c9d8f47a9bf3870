import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Child processes of the benchmark: servers and load generators. Every child is killed when the
 * bench exits (also on errors and signals), and every wait on a child has a timeout.
 */

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHILD_HOOK = pathToFileURL(resolve(REPO_ROOT, 'bench/child-hook.mjs')).href;
const TAIL_LINES = 40;
const QUEUE_LIMIT = 1_000;

const live = new Set<ChildProcess>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `p`, failing with `what` after `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export interface SpawnOptions {
  name: string;
  /** Script path relative to the repository root, run with `node --import tsx` (unless `tsx` is false). */
  script: string;
  /** Default true. False: plain JavaScript (the compiled platform), no TypeScript loader. */
  tsx?: boolean;
  args?: string[];
  env?: Record<string, string>;
  /** Start with --expose-gc and the bench hook (SIGUSR2 = full GC; exits when the bench dies). */
  gcHook?: boolean;
  /** More node options, e.g. `--cpu-prof`. */
  execArgv?: string[];
}

interface Waiter {
  match: (v: Record<string, unknown>) => boolean;
  resolve: (v: Record<string, unknown>) => void;
}

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Lines of stderr and non-JSON stdout, and JSON lines with a `level` (pino), newest last. */
  private readonly tailLines: string[] = [];
  private readonly queue: Record<string, unknown>[] = [];
  private readonly waiters = new Set<Waiter>();
  /** pino lines at warn (40) or above that the child printed. */
  warnings = 0;

  constructor(opts: SpawnOptions) {
    hookExit();
    this.name = opts.name;
    const loader = opts.tsx === false ? [] : ['--import', 'tsx'];
    const execArgv = [...(opts.execArgv ?? []), ...loader, ...(opts.gcHook ? ['--expose-gc', '--import', CHILD_HOOK] : [])];
    this.proc = spawn(process.execPath, [...execArgv, resolve(REPO_ROOT, opts.script), ...(opts.args ?? [])], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(this.proc);
    this.exited = new Promise((done) => {
      this.proc.once('exit', (code, signal) => {
        live.delete(this.proc);
        done({ code, signal });
      });
    });
    this.proc.stdin?.on('error', () => undefined);
    createInterface({ input: this.proc.stdout! }).on('line', (line) => this.onStdout(line));
    createInterface({ input: this.proc.stderr! }).on('line', (line) => this.keep(line));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  tail(lines = 12): string {
    return this.tailLines.slice(-lines).join('\n');
  }

  /** Resolves with the next JSON line (printed after or before this call) that `match` accepts. */
  nextJson<T = Record<string, unknown>>(match: (v: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<T> {
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0] as T);
    let waiter!: Waiter;
    const found = new Promise<Record<string, unknown>>((resolveFound, rejectFound) => {
      waiter = { match, resolve: resolveFound };
      void this.exited.then(({ code, signal }) => rejectFound(new Error(`${this.name} exited (${code ?? signal}) while waiting for ${what}\n${this.tail()}`)));
    });
    this.waiters.add(waiter);
    return withTimeout(found, timeoutMs, `${this.name}: ${what}\n${this.tail()}`).finally(() => this.waiters.delete(waiter)) as Promise<T>;
  }

  send(line: string): void {
    if (this.alive && this.proc.stdin?.writable) this.proc.stdin.write(`${line}\n`);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.alive) this.proc.kill(sig);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.alive) return;
    this.proc.stdin?.end();
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private onStdout(line: string): void {
    if (!line.startsWith('{')) return this.keep(line);
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return this.keep(line);
    }
    if (typeof value.level === 'number') {
      if (value.level >= 40) this.warnings++;
      return this.keep(line);
    }
    for (const w of this.waiters) {
      if (w.match(value)) {
        this.waiters.delete(w);
        w.resolve(value);
        return;
      }
    }
    this.queue.push(value);
    if (this.queue.length > QUEUE_LIMIT) this.queue.shift();
  }

  private keep(line: string): void {
    this.tailLines.push(line.length > 400 ? `${line.slice(0, 400)}...` : line);
    if (this.tailLines.length > TAIL_LINES) this.tailLines.shift();
  }
}

/** Resident set size of a process in KiB, read from /proc (the same way for every server). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!m?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

export interface MemoryUse {
  /** From /proc after the settle time, in KiB. */
  rssKiB: number;
  /** From process.memoryUsage() right after the GC, in KiB. */
  heapUsedKiB: number;
  heapTotalKiB: number;
  /** Memory of C++ objects bound to JS (Buffers included), in KiB. */
  externalKiB: number;
}

/** Asks a child started with `gcHook` for a full GC and its memory use, lets it settle, then reads its RSS. */
export async function settledMemory(child: Child, settleMs: number): Promise<MemoryUse> {
  child.signal('SIGUSR2');
  const m = await child.nextJson<{ heapUsed: number; heapTotal: number; external: number }>((v) => v.event === 'memory', settleMs + 10_000, 'memory after GC');
  await sleep(settleMs);
  const kib = (bytes: number): number => Math.round(bytes / 1024);
  return { rssKiB: rssKiB(child.pid), heapUsedKiB: kib(m.heapUsed), heapTotalKiB: kib(m.heapTotal), externalKiB: kib(m.external) };
}

/** The per-process open-file limit, read from /proc (soft and hard). */
export function openFileLimit(): { soft: number; hard: number } {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(limits);
  const num = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return { soft: num(m?.[1]), hard: num(m?.[2]) };
}
