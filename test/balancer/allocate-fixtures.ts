/**
 * Fixtures shared by allocate()'s example tests (builders: aCharger, anInstallation) and its property
 * tests on flat installations (generators, the offline oracle and the safety and offer checks).
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type {
  AllocationInput,
  AllocationResult,
  AllocationSettings,
  ChargerAllocation,
  ChargerInput,
  Phase,
  PhaseCurrents,
} from '../../balancer/allocation-types.js';
import { NOW, opt, settingsArb, time } from '../support/allocation-arbitraries.js';

export { NOW };
export const MIN = 60_000;

// ---- example tests ----

const quietSettings: AllocationSettings = {
  deadbandA: 0,
  minChangeIntervalMs: 0,
  rotationIntervalMs: 15 * MIN,
  minRunMs: 5 * MIN,
  minPauseMs: 2 * MIN,
  reclaimAfterMs: 2 * MIN,
  reclaimHeadroomA: 2,
  reclaimThresholdA: 2,
};

export function aCharger(overrides: Partial<ChargerInput> & { id?: string } = {}): ChargerInput {
  return {
    id: 'c1',
    phases: 3,
    minCurrent: 6,
    maxCurrent: 16,
    priority: 0,
    arrivedAt: 0,
    wantsEnergy: true,
    online: true,
    ...overrides,
  };
}

export function anInstallation(
  chargers: ChargerInput[],
  phaseLimits: Partial<PhaseCurrents> = {},
  settings: Partial<AllocationSettings> = {},
): AllocationInput {
  return {
    now: NOW,
    phaseLimits: { L1: 32, L2: 32, L3: 32, ...phaseLimits },
    chargers,
    settings: { ...quietSettings, ...settings },
  };
}

export function byId(result: AllocationResult): Record<string, ChargerAllocation> {
  return Object.fromEntries(result.allocations.map((a) => [a.id, a]));
}

export function limits(result: AllocationResult): Record<string, number> {
  return Object.fromEntries(result.allocations.map((a) => [a.id, a.limit]));
}

// ---- property tests ----

// ALLOC_PROPERTY_RUNS raises the count for a long hunt; the default keeps each file around a second.
export const RUNS = Number(process.env.ALLOC_PROPERTY_RUNS ?? 500);
export const TOL = 1e-9;
export const PHASES: readonly Phase[] = ['L1', 'L2', 'L3'];
const ROTATIONS = ['L1L2L3', 'L2L3L1', 'L3L1L2', 'L1L3L2', 'L3L2L1', 'L2L1L3'] as const;

const amps = fc.oneof(
  fc.constantFrom(0, 6, 8, 10, 13, 16, 32),
  fc.integer({ min: 0, max: 400 }).map((d) => d / 10),
  fc.integer({ min: 0, max: 100_000 }).map((m) => m / 1000),
);
const limitInForce = fc.oneof(
  fc.constantFrom(0, 6, 8, 10, 13, 16),
  fc.integer({ min: 0, max: 320 }).map((d) => d / 10),
  fc.integer({ min: 0, max: 32_000 }).map((m) => m / 1000),
);
const draw = fc.oneof(fc.constantFrom(0, 0.4, 1, 5), fc.integer({ min: 0, max: 40_000 }).map((m) => m / 1000));

const chargerArb = fc
  .record({
    phases: fc.constantFrom(1 as const, 3 as const),
    phaseRotation: opt(fc.constantFrom(...ROTATIONS)),
    gridPhase: opt(fc.constantFrom(...PHASES)),
    minCurrent: fc.constantFrom(0, 6, 6, 6, 6.05, 8, 10),
    // Mostly max >= min; sometimes below it (misconfigured).
    maxAbove: fc.constantFrom(-1, 0, 4, 7.37, 10, 10, 26),
    priority: fc.constantFrom(0, 0, 0, 1, 2),
    arrivedAt: fc.integer({ min: 0, max: 5 }),
    cap: opt(fc.constantFrom(5, 8, 10.05, 20)),
    wantsEnergy: fc.constantFrom(true, true, true, true, false),
    online: fc.constantFrom(true, true, true, true, true, true, true, true, true, false),
    offlineCurrent: opt(fc.constantFrom<NonNullable<ChargerInput['offlineCurrent']>>('lastLimit', 'max', 0, 6, 10, 40)),
    measured: opt(fc.record({ t1: draw, t2: draw, t3: draw, at: time })),
    currentLimit: opt(limitInForce),
    lastChangeAt: opt(time),
    pausedSince: opt(time),
    runningSince: opt(time),
    underDrawSince: opt(time),
    budgetLow: opt(fc.boolean()),
  })
  .map(({ maxAbove, ...c }) => ({ ...c, maxCurrent: Math.max(0, c.minCurrent + maxAbove) }));

/** Phase limits from 0 to ~15 A per charger: from everything paused to everyone at maximum. */
function phaseLimitsArb(chargers: number): fc.Arbitrary<Record<Phase, number>> {
  // Uniform in mA (fc.double is uniform over bit patterns, so mostly tiny), without the bias toward 0.
  const scaled = fc.noBias(fc.integer({ min: 0, max: 15_000 * Math.max(1, chargers) })).map((m) => m / 1000);
  const limit = fc.oneof({ arbitrary: scaled, weight: 5 }, { arbitrary: amps, weight: 1 });
  return fc.record({ L1: limit, L2: limit, L3: limit });
}

export function installationArb(settings: fc.Arbitrary<AllocationSettings>): fc.Arbitrary<AllocationInput> {
  return fc
    .array(chargerArb, { maxLength: 40, size: 'max' })
    .map((cs) => cs.map((c, i): ChargerInput => ({ id: `c${i}`, ...c })))
    .chain((chargers) =>
      fc.record({ now: fc.constant(NOW), phaseLimits: phaseLimitsArb(chargers.length), chargers: fc.constant(chargers), settings }),
    );
}

export const anyInstallation = installationArb(settingsArb);

/**
 * What an offline charger is counted at, written from the rule, not from the implementation:
 * never accepted: max; `max`: max (or more if its last limit was above); a number n: the higher of its
 * last limit and n (at most max); otherwise its last limit, 0 A included.
 */
export function offlineOracle(c: ChargerInput): number {
  const max = Math.max(0, c.maxCurrent);
  if (c.currentLimit === undefined) return max;
  if (c.offlineCurrent === 'max') return Math.max(c.currentLimit, max);
  if (typeof c.offlineCurrent === 'number') return Math.max(c.currentLimit, Math.min(c.offlineCurrent, max));
  return c.currentLimit;
}

/** Wired grid phases, computed independently of the implementation. */
export function wiredPhases(c: ChargerInput): Phase[] {
  if (c.phases === 1) return [c.gridPhase ?? 'L1'];
  return [...PHASES];
}

export function resultById(result: AllocationResult): Map<string, ChargerAllocation> {
  return new Map(result.allocations.map((a) => [a.id, a]));
}

export function get(map: Map<string, ChargerAllocation>, id: string): ChargerAllocation {
  const a = map.get(id);
  if (a === undefined) throw new Error(`no allocation for ${id}`);
  return a;
}

const onGrid = (a: number): boolean => Math.abs(a * 10 - Math.round(a * 10)) < 1e-6;
export const ceilDeci = (a: number): number => Math.ceil(a * 10 - 1e-9) / 10;
export const floorDeci = (a: number): number => Math.floor(a * 10 + 1e-9) / 10;

export function checkSafety(input: AllocationInput, result: AllocationResult): void {
  const out = resultById(result);
  expect(result.allocations).toHaveLength(input.chargers.length);
  const offline = { L1: 0, L2: 0, L3: 0 };
  const total = { L1: 0, L2: 0, L3: 0 };
  for (const c of input.chargers) {
    const a = get(out, c.id);
    const wired = wiredPhases(c);
    expect(a.phases.every((p) => wired.includes(p))).toBe(true);
    if (!c.online) {
      expect(a.phases).toEqual(wired);
      expect(a.limit).toBe(offlineOracle(c));
    } else if (c.wantsEnergy) {
      expect(a.phases.length).toBeGreaterThan(0);
      if (c.measured === undefined) expect(a.phases).toEqual(wired);
    }
    for (const p of a.phases) {
      total[p] += a.limit;
      if (!c.online) offline[p] += a.limit;
    }
  }
  const overloaded = PHASES.filter((p) => offline[p] > input.phaseLimits[p] + TOL);
  expect(result.overloadedPhases).toEqual(overloaded);
  for (const p of PHASES) {
    expect(result.phaseLoad[p]).toBeCloseTo(total[p], 6);
    if (overloaded.length === 0) expect(total[p]).toBeLessThanOrEqual(input.phaseLimits[p] + TOL);
  }
  if (overloaded.length > 0) {
    for (const c of input.chargers) if (c.online) expect(get(out, c.id).limit).toBe(0);
  }
}

export function checkOffers(input: AllocationInput, result: AllocationResult): void {
  const out = resultById(result);
  for (const c of input.chargers) {
    if (!c.online) continue;
    const { limit } = get(out, c.id);
    if (limit === 0) continue;
    expect(limit).toBeGreaterThanOrEqual(c.minCurrent - TOL);
    expect(limit).toBeLessThanOrEqual(Math.min(c.maxCurrent, c.cap ?? Infinity) + TOL);
    if (!onGrid(limit)) expect(limit).toBe(c.currentLimit);
  }
}

/** The caller's bookkeeping after a round, as the balancer actor would do it, with drifted phase limits. */
export function nextRound(
  input: AllocationInput,
  result: AllocationResult,
  drift: Record<Phase, number>,
  dt: number,
): AllocationInput {
  const out = resultById(result);
  const chargers = input.chargers.map((c): ChargerInput => {
    if (!c.online) return c;
    const limit = get(out, c.id).limit;
    const before = c.currentLimit ?? 0;
    return {
      ...c,
      currentLimit: limit,
      lastChangeAt: limit !== before ? input.now : c.lastChangeAt,
      runningSince: limit > 0 && before === 0 ? input.now : c.runningSince,
      pausedSince: limit === 0 && before > 0 && c.wantsEnergy ? input.now : c.pausedSince,
    };
  });
  const phaseLimits = {
    L1: Math.max(0, input.phaseLimits.L1 + drift.L1),
    L2: Math.max(0, input.phaseLimits.L2 + drift.L2),
    L3: Math.max(0, input.phaseLimits.L3 + drift.L3),
  };
  return { ...input, now: input.now + dt, phaseLimits, chargers };
}
