import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Reads the `.cpuprofile` a platform node wrote (`node --cpu-prof`) and says where its time went:
 * self time per function and per file (node_modules grouped by package), and inclusive time of the
 * platform's own functions.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Time not idle (program + GC + functions). */
  busyMs: number;
  selfByFunction: { fn: string; ms: number; pct: number }[];
  selfByFile: { file: string; ms: number; pct: number }[];
  /**
   * Self time charged to the nearest JavaScript frame of a package or of the platform (a native
   * socket write lands on the library that wrote), by file: which code's work it is.
   */
  byOwnerFile: { file: string; ms: number; pct: number }[];
  byOwnerFunction: { fn: string; ms: number; pct: number }[];
  inclusivePlatform: { fn: string; ms: number; pct: number }[];
}

function where(url: string, root: string): string {
  if (!url) return '(native)';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    return `npm:${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (path.startsWith('node:')) return path;
  return path.startsWith(root) ? relative(root, path) : path;
}

const isPlatformFile = (file: string): boolean => /^(core|ocpp|south|north|balancer|api|main\.ts)/.test(file);

/**
 * The main thread's profile in `dir`. Each thread writes its own (tsx's module hooks run in a
 * worker thread), named `CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile`; the main thread is 0.
 */
export function mainThreadProfile(dir: string): string | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const main = files.find((f) => f.split('.')[4] === '0');
  const biggest = files.sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size)[0];
  const pick = main ?? biggest;
  return pick ? join(dir, pick) : undefined;
}

/** Now on the clock of V8's profiles (CLOCK_MONOTONIC in µs on Linux, the same in every process). */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * `window` (µs, from `monotonicUs()` in any process of this machine) keeps only the samples taken
 * while the bench measured, leaving out start-up (module loading and transpiling) and connects.
 */
export function summarizeProfile(file: string, root: string, window?: { fromUs: number; toUs: number }, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const from = window?.fromUs ?? -Infinity;
  const to = window?.toUs ?? Infinity;
  let t = profile.startTime;
  let totalMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < from || t > to) continue;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + delta / 1000);
    totalMs += delta / 1000;
  }
  // tsx transpiles without keeping line numbers: for .ts files the function name is all there is.
  const fnKey = (cf: CallFrame): string => `${cf.functionName || '(anonymous)'} ${where(cf.url, root)}${cf.url && !cf.url.endsWith('.ts') ? `:${cf.lineNumber + 1}` : ''}`;
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const isOwner = (cf: CallFrame): boolean => {
    const w = where(cf.url, root);
    return w.startsWith('npm:') || isPlatformFile(w);
  };
  const ownerFile = new Map<string, number>();
  const ownerFn = new Map<string, number>();
  for (const [id, ms] of self) {
    let cur: number | undefined = id;
    while (cur !== undefined && !isOwner(byId.get(cur)!.callFrame)) cur = parent.get(cur);
    const cf = cur === undefined ? byId.get(id)!.callFrame : byId.get(cur)!.callFrame;
    const file = cur === undefined ? cf.functionName || where(cf.url, root) : where(cf.url, root);
    ownerFile.set(file, (ownerFile.get(file) ?? 0) + ms);
    ownerFn.set(fnKey(cf), (ownerFn.get(fnKey(cf)) ?? 0) + ms);
  }
  const selfFn = new Map<string, number>();
  const selfFile = new Map<string, number>();
  let idle = 0;
  for (const [id, ms] of self) {
    const cf = byId.get(id)!.callFrame;
    if (cf.functionName === '(idle)') idle += ms;
    selfFn.set(fnKey(cf), (selfFn.get(fnKey(cf)) ?? 0) + ms);
    const f = cf.url ? where(cf.url, root) : cf.functionName;
    selfFile.set(f, (selfFile.get(f) ?? 0) + ms);
  }
  // Inclusive time of platform functions, counted once per stack even when recursive.
  const inclusive = new Map<string, number>();
  const walk = (id: number, onStack: Set<string>): number => {
    const n = byId.get(id)!;
    const key = fnKey(n.callFrame);
    const platform = isPlatformFile(where(n.callFrame.url, root));
    const fresh = platform && !onStack.has(key);
    if (fresh) onStack.add(key);
    let sum = self.get(id) ?? 0;
    for (const c of n.children ?? []) sum += walk(c, onStack);
    if (fresh) {
      onStack.delete(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
    }
    return sum;
  };
  walk(profile.nodes[0]!.id, new Set());
  const busyMs = totalMs - idle;
  const rank = <K extends string>(m: Map<string, number>, label: K, n: number) =>
    [...m.entries()]
      .filter(([k]) => !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, ms]) => ({ [label]: k, ms: Math.round(ms), pct: Number(((ms / busyMs) * 100).toFixed(1)) }) as { [P in K]: string } & { ms: number; pct: number });
  return {
    file,
    totalMs: Math.round(totalMs),
    busyMs: Math.round(busyMs),
    selfByFunction: rank(selfFn, 'fn', top),
    selfByFile: rank(selfFile, 'file', top),
    byOwnerFile: rank(ownerFile, 'file', top),
    byOwnerFunction: rank(ownerFn, 'fn', top),
    inclusivePlatform: rank(inclusive, 'fn', top),
  };
}
