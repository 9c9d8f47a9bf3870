import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './children.js';

/**
 * Summarises a V8 `.cpuprofile` (written by `node --cpu-prof`): self time per function, and self
 * time per source file or npm package, so one can see where a server spends its CPU.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  sampledMs: number;
  idleMs: number;
  byFunction: { fn: string; where: string; selfMs: number; pctOfBusy: number }[];
  bySource: { source: string; selfMs: number; pctOfBusy: number }[];
}

/** `node_modules/<pkg>` (scoped too), a repository path, `node:internal`, or `(native)`. */
function sourceOf(url: string): string {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return 'node: (core)';
  let path = url;
  if (url.startsWith('file://')) {
    try {
      path = fileURLToPath(url);
    } catch {
      path = url;
    }
  }
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + 'node_modules/'.length).split('/');
    return `npm:${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  return path.startsWith('/') ? relative(REPO_ROOT, path) : path;
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const selfUs = new Map<number, number>();
  // A sample's time is the delta to the next sample.
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? 0));
  }
  const byFn = new Map<string, { fn: string; where: string; us: number }>();
  const bySource = new Map<string, number>();
  let idleUs = 0;
  let busyUs = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const source = functionName.startsWith('(') ? functionName : sourceOf(url);
    const fn = functionName || '(anonymous)';
    const where = url ? `${sourceOf(url)}:${lineNumber + 1}` : '';
    const key = `${fn}@${where}`;
    const entry = byFn.get(key) ?? { fn, where, us: 0 };
    entry.us += us;
    byFn.set(key, entry);
    bySource.set(source, (bySource.get(source) ?? 0) + us);
  }
  const pct = (us: number): number => Number(((us / Math.max(1, busyUs)) * 100).toFixed(1));
  const ms = (us: number): number => Math.round(us / 1000);
  return {
    file,
    sampledMs: ms(busyUs + idleUs),
    idleMs: ms(idleUs),
    byFunction: [...byFn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ fn: e.fn, where: e.where, selfMs: ms(e.us), pctOfBusy: pct(e.us) })),
    bySource: [...bySource.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([source, us]) => ({ source, selfMs: ms(us), pctOfBusy: pct(us) })),
  };
}

/**
 * The main thread's `.cpuprofile` in `dir` (node writes one per thread, and tsx's module loader runs
 * in a worker thread): the largest file.
 */
export function mainThreadProfile(dir: string): string | undefined {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return undefined;
  }
  return files
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0];
}
