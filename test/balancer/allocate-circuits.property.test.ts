/**
 * allocate() over a tree of circuits (issue 12): every phase of every circuit within its limit,
 * max-min fairness across the installation, and a one-circuit tree giving exactly the flat result.
 * Circuit chains are computed here from the input, independently of balancer/allocate-circuits.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { NOW, fairSettings, opt, settingsArb, time } from '../support/allocation-arbitraries.js';
import type { AllocationInput, AllocationResult, ChargerInput, CircuitInput, Phase, PhaseCurrents } from '../../balancer/allocation-types.js';

const RUNS = Number(process.env.ALLOC_PROPERTY_RUNS ?? 300);
const TOL = 1e-9;
const PHASES: readonly Phase[] = ['L1', 'L2', 'L3'];
const milli = (max: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: max * 1000 }).map((m) => m / 1000);
const draw = fc.oneof(fc.constantFrom(0, 0.4, 5), milli(40));

/** Up to 6 circuits; each hangs on the root or on an earlier one; a phase may be missing (0 A). */
const treeArb: fc.Arbitrary<CircuitInput[]> = fc.integer({ min: 0, max: 6 }).chain((m) =>
  fc.tuple(
    ...Array.from({ length: m }, (_v, i) =>
      fc.record({
        parent: fc.integer({ min: -1, max: i - 1 }),
        limits: fc.record({ L1: opt(milli(80)), L2: opt(milli(80)), L3: opt(milli(80)) }),
      }),
    ),
  ).map((rows) =>
    rows.map(({ parent, limits }, i): CircuitInput => {
      const clean: Partial<PhaseCurrents> = {};
      for (const p of PHASES) if (limits[p] !== undefined) clean[p] = limits[p];
      return { id: `b${i}`, ...(parent >= 0 ? { parentId: `b${parent}` } : {}), limits: clean };
    }),
  ),
);

function chargerArb(circuitIds: readonly (string | undefined)[]): fc.Arbitrary<Omit<ChargerInput, 'id'>> {
  return fc
    .record({
      phases: fc.constantFrom(1 as const, 3 as const),
      gridPhase: opt(fc.constantFrom(...PHASES)),
      minCurrent: fc.constantFrom(0, 6, 6, 6, 6.05, 8),
      maxAbove: fc.constantFrom(-1, 0, 4, 10, 26),
      priority: fc.constantFrom(0, 0, 1),
      arrivedAt: fc.integer({ min: 0, max: 5 }),
      cap: opt(fc.constantFrom(5, 8, 10.05, 20)),
      wantsEnergy: fc.constantFrom(true, true, true, false),
      online: fc.constantFrom(true, true, true, true, true, true, false),
      offlineCurrent: opt(fc.constantFrom<NonNullable<ChargerInput['offlineCurrent']>>('lastLimit', 'max', 0, 10)),
      measured: opt(fc.record({ t1: draw, t2: draw, t3: draw, at: time })),
      currentLimit: opt(fc.oneof(fc.constantFrom(0, 6, 10, 16), milli(32))),
      lastChangeAt: opt(time),
      pausedSince: opt(time),
      runningSince: opt(time),
      underDrawSince: opt(time),
      circuitId: fc.constantFrom(...circuitIds),
    })
    .map(({ maxAbove, circuitId, ...c }) => ({ ...c, maxCurrent: Math.max(0, c.minCurrent + maxAbove), ...(circuitId !== undefined ? { circuitId } : {}) }));
}

const installationArb: fc.Arbitrary<AllocationInput> = treeArb.chain((circuits) =>
  fc.record({
    now: fc.constant(NOW),
    phaseLimits: fc.record({ L1: milli(150), L2: milli(150), L3: milli(150) }),
    chargers: fc
      .array(chargerArb([undefined, 'ghost', ...circuits.map((c) => c.id)]), { maxLength: 30 })
      .map((cs) => cs.map((c, i): ChargerInput => ({ id: `c${i}`, ...c }))),
    settings: settingsArb,
    circuits: fc.constant(circuits),
  }),
);

/** The circuits a charger's current passes through, the root as 'root' (unknown ids: the root). */
function chainOf(input: AllocationInput, circuitId: string | undefined): string[] {
  const byId = new Map((input.circuits ?? []).map((c) => [c.id, c]));
  const chain: string[] = [];
  for (let c = circuitId === undefined ? undefined : byId.get(circuitId); c !== undefined && !chain.includes(c.id); c = c.parentId === undefined ? undefined : byId.get(c.parentId)) chain.push(c.id);
  return [...chain, 'root'];
}

function limitOf(input: AllocationInput, circuit: string, p: Phase): number {
  if (circuit === 'root') return input.phaseLimits[p];
  return input.circuits?.find((c) => c.id === circuit)?.limits[p] ?? 0;
}

/** Sum per circuit and phase of the allocations below it: all of them, and the offline ones alone. */
function sums(input: AllocationInput, result: AllocationResult): { total: Map<string, number>; offline: Map<string, number> } {
  const total = new Map<string, number>();
  const offline = new Map<string, number>();
  const byId = new Map(input.chargers.map((c) => [c.id, c]));
  for (const a of result.allocations) {
    const c = byId.get(a.id) as ChargerInput;
    for (const circuit of chainOf(input, c.circuitId)) {
      for (const p of a.phases) {
        const key = `${circuit}/${p}`;
        total.set(key, (total.get(key) ?? 0) + a.limit);
        if (!c.online) offline.set(key, (offline.get(key) ?? 0) + a.limit);
      }
    }
  }
  return { total, offline };
}

function checkCircuits(input: AllocationInput, result: AllocationResult): void {
  const { total, offline } = sums(input, result);
  const circuits = ['root', ...(input.circuits ?? []).map((c) => c.id)];
  const overloaded = new Set(circuits.filter((c) => PHASES.some((p) => (offline.get(`${c}/${p}`) ?? 0) > limitOf(input, c, p) + TOL)));
  for (const circuit of circuits) {
    for (const p of PHASES) {
      if (!overloaded.has(circuit)) expect(total.get(`${circuit}/${p}`) ?? 0).toBeLessThanOrEqual(limitOf(input, circuit, p) + TOL);
    }
  }
  // Below an overloaded circuit every online charger is paused; the result names those phases.
  const byId = new Map(input.chargers.map((c) => [c.id, c]));
  for (const a of result.allocations) {
    const c = byId.get(a.id) as ChargerInput;
    if (c.online && chainOf(input, c.circuitId).some((x) => overloaded.has(x))) expect(a.limit).toBe(0);
  }
  for (const load of result.circuits ?? []) {
    for (const p of PHASES) expect(load.load[p]).toBeCloseTo(total.get(`${load.id}/${p}`) ?? 0, 6);
    expect(load.overloadedPhases.length > 0).toBe(overloaded.has(load.id));
  }
}

/** The next round, as the balancer actor would run it: limits in force are the last allocation. */
function nextRound(input: AllocationInput, result: AllocationResult): AllocationInput {
  const out = new Map(result.allocations.map((a) => [a.id, a.limit]));
  const chargers = input.chargers.map((c): ChargerInput => {
    if (!c.online) return c;
    const limit = out.get(c.id) ?? 0;
    const before = c.currentLimit ?? 0;
    return { ...c, currentLimit: limit, lastChangeAt: limit !== before ? input.now : c.lastChangeAt, runningSince: limit > 0 && before === 0 ? input.now : c.runningSince };
  });
  // Tighten one board a little: holds must not keep it over its new limit.
  const circuits = (input.circuits ?? []).map((c, i) => (i === 0 ? { ...c, limits: { ...c.limits, ...(c.limits.L1 !== undefined ? { L1: Math.max(0, c.limits.L1 - 1.3) } : {}) } } : c));
  return { ...input, now: input.now + 30_000, chargers, circuits };
}

describe('allocate: circuits (properties)', () => {
  it('keeps every phase of every circuit within its limit, except an overload by offline chargers alone, also in a follow-up round with holds', () => {
    fc.assert(
      fc.property(installationArb, (input) => {
        const first = allocate(input);
        checkCircuits(input, first);
        const next = nextRound(input, first);
        checkCircuits(next, allocate(next));
      }),
      { numRuns: RUNS },
    );
  });

  it('is max-min fair across the installation: a session below its maximum is blocked by a full circuit phase where no one has more', () => {
    const fairArb = installationArb.map((input): AllocationInput => ({
      ...input,
      settings: fairSettings,
      chargers: input.chargers.map(({ measured: _m, currentLimit: _c, underDrawSince: _u, lastChangeAt: _l, ...c }) => ({ ...c, online: true, wantsEnergy: true, priority: 0, minCurrent: 6 })),
    }));
    fc.assert(
      fc.property(fairArb, (input) => {
        const result = allocate(input);
        const { total } = sums(input, result);
        const limit = new Map(result.allocations.map((a) => [a.id, a]));
        for (const c of input.chargers) {
          const a = limit.get(c.id)!;
          const max = Math.floor(Math.min(c.maxCurrent, c.cap ?? Infinity) * 10 + 1e-9) / 10;
          if (a.limit === 0 || a.limit >= max - TOL) continue;
          const bottleneck = chainOf(input, c.circuitId).some((circuit) =>
            a.phases.some((p) => {
              const room = Math.floor(limitOf(input, circuit, p) * 10 + 1e-9) / 10 - (total.get(`${circuit}/${p}`) ?? 0);
              if (room >= 0.1 - TOL) return false;
              return input.chargers.every((o) => {
                const b = limit.get(o.id)!;
                const shares = chainOf(input, o.circuitId).includes(circuit) && b.phases.includes(p);
                return !shares || b.limit <= a.limit + 0.1 + TOL;
              });
            }),
          );
          expect(bottleneck, `${c.id} at ${a.limit} A has no bottleneck`).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('gives exactly the flat allocation for a one-circuit tree, and for circuits that never bind', () => {
    const flatArb = installationArb.map(({ circuits: _c, ...input }) => ({ ...input, chargers: input.chargers.map(({ circuitId: _id, ...c }) => c) }));
    fc.assert(
      fc.property(flatArb, fc.integer({ min: 1, max: 4 }), (flat, boards) => {
        const expected = allocate(flat);
        const strip = ({ circuits: _c, ...r }: AllocationResult): AllocationResult => r;
        expect(allocate({ ...flat, circuits: [] })).toEqual({ ...expected, circuits: [] });
        const one = allocate({ ...flat, circuits: [{ id: 'main', limits: flat.phaseLimits }], chargers: flat.chargers.map((c) => ({ ...c, circuitId: 'main' })) });
        expect(strip(one)).toEqual(expected);
        const wide: CircuitInput[] = Array.from({ length: boards }, (_v, i) => ({ id: `b${i}`, ...(i > 0 ? { parentId: 'b0' } : {}), limits: { L1: 1e4, L2: 1e4, L3: 1e4 } }));
        const spread = allocate({ ...flat, circuits: wide, chargers: flat.chargers.map((c, i) => ({ ...c, circuitId: `b${i % boards}` })) });
        expect(strip(spread)).toEqual(expected);
      }),
      { numRuns: RUNS },
    );
  });
});
