import { readdirSync, readFileSync } from 'node:fs';
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

const isPlatformFile = (file: string): boolean => /^(core|ocpp|actors|balancer|api|main\.ts)/.test(file);

export function latestProfile(dir: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  const last = files[files.length - 1];
  return last ? join(dir, last) : undefined;
}

export function summarizeProfile(file: string, root: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  const fnKey = (cf: CallFrame): string => `${cf.functionName || '(anonymous)'} ${where(cf.url, root)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
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
    inclusivePlatform: rank(inclusive, 'fn', top),
  };
}
