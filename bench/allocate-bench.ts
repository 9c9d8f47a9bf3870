/**
 * allocate() timing on seeded random installations of 10 to 10,000 chargers, against a naive
 * equal-share peer measured in the same run (each charger gets min over its phases of
 * phaseLimit / chargersOnPhase: the trivial O(n) lower bound). Target: 1,000 chargers under 1 ms.
 *
 *   npx tsx bench/allocate-bench.ts
 */
import { pathToFileURL } from 'node:url';
import { allocate } from '../balancer/allocate.js';
import type { AllocationInput, ChargerInput, CircuitInput, Phase } from '../balancer/allocation-types.js';

export interface AllocateBenchRow {
  chargers: number;
  runs: number;
  allocateMedianMs: number;
  allocateP99Ms: number;
  naiveMedianMs: number;
  naiveP99Ms: number;
  /** The same chargers on a 3-level circuit tree (`treeInstallation`). */
  treeMedianMs: number;
  treeP99Ms: number;
  circuits: number;
}

export interface AllocateBenchReport {
  name: string;
  results: AllocateBenchRow[];
  /** The target and whether this run met it (median and p99 at 1,000 chargers). */
  target: string;
  targetMet: boolean;
}

const SIZES = [10, 100, 1_000, 10_000] as const;
const NOW = 1_700_000_000_000;
const PHASES: readonly Phase[] = ['L1', 'L2', 'L3'];
const ROTATIONS = ['L1L2L3', 'L2L3L1', 'L3L1L2', 'L1L3L2', 'L3L2L1', 'L2L1L3'] as const;

/** mulberry32: small, seeded, good enough for test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A busy installation: 60% 3-phase chargers with random rotation, 40% 1-phase; 80% want energy,
 * 3% offline, some measured (1-phase cars on 3-phase chargers), some capped, three priorities.
 * Phase limits are sized so the minimums fit but the maxima do not: filling saturates phases.
 */
export function benchInstallation(n: number, seed = 42): AllocationInput {
  const rnd = prng(seed + n);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const chargers: ChargerInput[] = [];
  for (let i = 0; i < n; i++) {
    const three = rnd() < 0.6;
    const measured = rnd() < 0.3;
    const oneCar = rnd() < 0.3;
    const draw = 6 + rnd() * 10;
    chargers.push({
      id: `cp-${String(i).padStart(5, '0')}`,
      phases: three ? 3 : 1,
      phaseRotation: pick(ROTATIONS),
      gridPhase: pick(PHASES),
      minCurrent: 6,
      maxCurrent: pick([16, 16, 32]),
      priority: pick([0, 0, 0, 1, 2]),
      arrivedAt: NOW - Math.floor(rnd() * 3_600_000),
      cap: rnd() < 0.1 ? 10 : undefined,
      wantsEnergy: rnd() < 0.8,
      online: rnd() > 0.03,
      measured: measured ? { t1: draw, t2: oneCar ? 0 : draw, t3: oneCar ? 0 : draw, at: NOW } : undefined,
      currentLimit: rnd() < 0.5 ? 6 + Math.floor(rnd() * 100) / 10 : undefined,
      lastChangeAt: NOW - Math.floor(rnd() * 120_000),
      runningSince: NOW - Math.floor(rnd() * 3_600_000),
    });
  }
  const perPhase = 5 * n;
  return {
    now: NOW,
    phaseLimits: { L1: perPhase, L2: perPhase * 0.9, L3: perPhase * 1.1 },
    chargers,
    settings: {
      deadbandA: 1,
      minChangeIntervalMs: 30_000,
      rotationIntervalMs: 900_000,
      minRunMs: 300_000,
      minPauseMs: 120_000,
      reclaimAfterMs: 120_000,
      reclaimHeadroomA: 2,
      reclaimThresholdA: 2,
    },
  };
}

/**
 * The same installation wired as a 3-level tree: the main fuse, 10 boards, 5 sub-boards on each
 * (60 circuits). Chargers sit on the sub-boards, every fifth on a board. Each circuit's limit is
 * ~80% of what its chargers' minimums-to-maxima would take, so boards and sub-boards bind too.
 */
export function treeInstallation(n: number, seed = 42): AllocationInput {
  const flat = benchInstallation(n, seed);
  const circuits: CircuitInput[] = [];
  const perCharger = 5;
  for (let b = 0; b < 10; b++) {
    const boardShare = (n / 10) * perCharger * 0.9;
    circuits.push({ id: `board-${b}`, limits: { L1: boardShare, L2: boardShare, L3: boardShare } });
    for (let s = 0; s < 5; s++) {
      const subShare = (n / 50) * perCharger * 1.1;
      circuits.push({ id: `board-${b}-${s}`, parentId: `board-${b}`, limits: { L1: subShare, L2: subShare * 0.8, L3: subShare } });
    }
  }
  // Written out, not spread: a spread copy is a slower object shape in V8 and would time that instead.
  const chargers = flat.chargers.map((c, i): ChargerInput => ({
    id: c.id,
    phases: c.phases,
    phaseRotation: c.phaseRotation,
    gridPhase: c.gridPhase,
    minCurrent: c.minCurrent,
    maxCurrent: c.maxCurrent,
    priority: c.priority,
    arrivedAt: c.arrivedAt,
    cap: c.cap,
    wantsEnergy: c.wantsEnergy,
    online: c.online,
    measured: c.measured,
    currentLimit: c.currentLimit,
    lastChangeAt: c.lastChangeAt,
    runningSince: c.runningSince,
    circuitId: i % 5 === 0 ? `board-${i % 10}` : `board-${i % 10}-${Math.floor(i / 10) % 5}`,
  }));
  return { ...flat, chargers, circuits };
}

/** The naive peer: equal share per phase, no minimums, priorities, holds or fairness. */
export function equalShare(input: AllocationInput): number[] {
  const count = [0, 0, 0];
  const masks = input.chargers.map((c) => {
    if (!c.wantsEnergy) return 0;
    const mask = c.phases === 3 ? 0b111 : 1 << PHASES.indexOf(c.gridPhase ?? 'L1');
    for (let p = 0; p < 3; p++) if ((mask & (1 << p)) !== 0) count[p] = (count[p] ?? 0) + 1;
    return mask;
  });
  const limits = [input.phaseLimits.L1, input.phaseLimits.L2, input.phaseLimits.L3];
  return input.chargers.map((c, i) => {
    let share = Math.min(c.maxCurrent, c.cap ?? Infinity);
    const mask = masks[i] ?? 0;
    if (mask === 0) return 0;
    for (let p = 0; p < 3; p++) {
      if ((mask & (1 << p)) !== 0) share = Math.min(share, (limits[p] ?? 0) / (count[p] ?? 1));
    }
    return Math.floor(share * 10) / 10;
  });
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Times fn over `runs` calls after a warm-up; returns [median, p99] in ms. */
function time(fn: () => unknown, runs: number): [number, number] {
  const warmUntil = performance.now() + 150;
  for (let i = 0; i < runs || performance.now() < warmUntil; i++) fn();
  const samples: number[] = [];
  let sink = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = fn();
    samples.push(performance.now() - t0);
    if (r !== undefined) sink++;
  }
  if (sink < 0) throw new Error('unreachable');
  samples.sort((a, b) => a - b);
  return [quantile(samples, 0.5), quantile(samples, 0.99)];
}

/** `quick` (used by `npm run bench -- --quick`) takes a tenth of the samples. */
export async function runAllocateBench(opts: { quick?: boolean } = {}): Promise<AllocateBenchReport> {
  const results: AllocateBenchRow[] = [];
  const budget = opts.quick === true ? 100_000 : 1_000_000;
  for (const n of SIZES) {
    const input = benchInstallation(n);
    const runs = Math.max(opts.quick === true ? 20 : 100, Math.min(5_000, Math.floor(budget / n)));
    const [allocateMedianMs, allocateP99Ms] = time(() => allocate(input), runs);
    const [naiveMedianMs, naiveP99Ms] = time(() => equalShare(input), runs);
    const tree = treeInstallation(n);
    const [treeMedianMs, treeP99Ms] = time(() => allocate(tree), runs);
    results.push({ chargers: n, runs, allocateMedianMs, allocateP99Ms, naiveMedianMs, naiveP99Ms, treeMedianMs, treeP99Ms, circuits: (tree.circuits?.length ?? 0) + 1 });
    await new Promise((resolve) => setImmediate(resolve));
  }
  const at1000 = results.find((r) => r.chargers === 1_000);
  const targetMet = at1000 !== undefined && at1000.allocateMedianMs < 1 && at1000.allocateP99Ms < 1 && at1000.treeP99Ms < 1;
  return { name: 'allocate', results, target: 'allocate() for 1,000 chargers under 1 ms (p50 and p99 flat, p99 on a 3-level tree of 61 circuits)', targetMet };
}

function printTable(report: AllocateBenchReport): void {
  const ms = (x: number): string => x.toFixed(4);
  const rows = report.results.map((r) => [
    String(r.chargers),
    String(r.runs),
    ms(r.allocateMedianMs),
    ms(r.allocateP99Ms),
    ms(r.naiveMedianMs),
    ms(r.naiveP99Ms),
    (r.allocateMedianMs / r.naiveMedianMs).toFixed(1),
    ms(r.treeMedianMs),
    ms(r.treeP99Ms),
  ]);
  const head = ['chargers', 'runs', 'allocate p50 ms', 'allocate p99 ms', 'naive p50 ms', 'naive p99 ms', 'x naive', '3-level tree p50 ms', '3-level tree p99 ms'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i] ?? 0)).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log(`target: ${report.target} -> ${report.targetMet ? 'MET' : 'NOT MET'}`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const report = await runAllocateBench();
  console.log(`${report.name} (node ${process.version})`);
  printTable(report);
}
