/**
 * 1/3-phase switching in allocate() (issue 12), as properties over random trees of circuits and
 * chargers, some with `phaseSwitch`: no phase of any circuit over its limit with sessions on one
 * phase; a 1-phase session sits on terminal 1's grid phase only; chargers without the flag never get
 * `numberPhases`; and over rounds of changing limits, where each allocation is "sent" (afterSent),
 * no session switches more than `maxPhaseSwitches` times nor before its last switch stood the hold.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import type { AllocationInput, AllocationResult, ChargerInput, CircuitInput, Phase, PhaseCurrents, PhaseRotation } from '../../balancer/allocation-types.js';
import { afterSent, maySwitch, type PhaseSwitchState } from '../../balancer/phase-switch.js';
import { fairSettings, NOW, opt, settingsArb } from '../support/allocation-arbitraries.js';

const RUNS = Number(process.env.ALLOC_PROPERTY_RUNS ?? 300);
const TOL = 1e-9;
const PHASES: readonly Phase[] = ['L1', 'L2', 'L3'];
const ROTATIONS: readonly PhaseRotation[] = ['L1L2L3', 'L2L3L1', 'L3L1L2', 'L1L3L2', 'L3L2L1', 'L2L1L3'];
const milli = (max: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: max * 1000 }).map((m) => m / 1000);
const HOLD = 300_000;
const MAX = 3;

const treeArb: fc.Arbitrary<CircuitInput[]> = fc.integer({ min: 0, max: 4 }).chain((m) =>
  fc.tuple(...Array.from({ length: m }, (_v, i) => fc.record({ parent: fc.integer({ min: -1, max: i - 1 }), limits: fc.record({ L1: opt(milli(60)), L2: opt(milli(60)), L3: opt(milli(60)) }) }))).map((rows) =>
    rows.map(({ parent, limits }, i): CircuitInput => {
      const clean: Partial<PhaseCurrents> = {};
      for (const p of PHASES) if (limits[p] !== undefined) clean[p] = limits[p];
      return { id: `b${i}`, ...(parent >= 0 ? { parentId: `b${parent}` } : {}), limits: clean };
    }),
  ),
);

const stateArb: fc.Arbitrary<PhaseSwitchState> = fc.record({
  mode: fc.constantFrom(1 as const, 3 as const),
  switches: fc.integer({ min: 0, max: MAX }),
  lastSwitchAt: opt(fc.integer({ min: NOW - 2 * HOLD, max: NOW })),
}).map(({ lastSwitchAt, ...s }) => (lastSwitchAt === undefined ? s : { ...s, lastSwitchAt }));

function chargerArb(circuitIds: readonly (string | undefined)[]): fc.Arbitrary<Omit<ChargerInput, 'id'>> {
  const draw = fc.constantFrom(0, 0, 6, 10);
  return fc
    .record({
      phases: fc.constantFrom(1 as const, 3 as const, 3 as const),
      phaseRotation: fc.constantFrom(...ROTATIONS),
      gridPhase: fc.constantFrom(...PHASES),
      minCurrent: fc.constantFrom(6, 6, 8),
      maxCurrent: fc.constantFrom(16, 32),
      priority: fc.constantFrom(0, 0, 1),
      arrivedAt: fc.integer({ min: 0, max: 5 }),
      wantsEnergy: fc.constantFrom(true, true, true, false),
      online: fc.constantFrom(true, true, true, true, true, false),
      currentLimit: opt(fc.constantFrom(0, 6, 10, 16)),
      measured: opt(fc.record({ t1: draw, t2: draw, t3: draw, at: fc.constant(NOW - 1000) })),
      phaseSwitch: opt(stateArb),
      circuitId: fc.constantFrom(...circuitIds),
    })
    .map(({ circuitId, phaseSwitch, ...c }) => ({ ...c, ...(circuitId !== undefined ? { circuitId } : {}), ...(phaseSwitch && c.phases === 3 ? { phaseSwitch } : {}) }));
}

const installationArb: fc.Arbitrary<AllocationInput> = treeArb.chain((circuits) =>
  fc.record({
    now: fc.constant(NOW),
    phaseLimits: fc.record({ L1: milli(80), L2: milli(80), L3: milli(80) }),
    chargers: fc.array(chargerArb([undefined, ...circuits.map((c) => c.id)]), { maxLength: 16 }).map((cs) => cs.map((c, i): ChargerInput => ({ id: `c${i}`, ...c }))),
    settings: settingsArb.map((s) => ({ ...s, phaseSwitchHoldMs: HOLD, maxPhaseSwitches: MAX })),
    circuits: fc.constant(circuits),
  }),
);

function chainOf(input: AllocationInput, circuitId: string | undefined): string[] {
  const byId = new Map((input.circuits ?? []).map((c) => [c.id, c]));
  const chain: string[] = [];
  for (let c = circuitId === undefined ? undefined : byId.get(circuitId); c !== undefined && !chain.includes(c.id); c = c.parentId === undefined ? undefined : byId.get(c.parentId)) chain.push(c.id);
  return [...chain, 'root'];
}

const limitOf = (input: AllocationInput, circuit: string, p: Phase): number => (circuit === 'root' ? input.phaseLimits[p] : (input.circuits?.find((c) => c.id === circuit)?.limits[p] ?? 0));

/** Terminal 1's grid phase of a 3-phase charger. */
const firstPhase = (c: ChargerInput): Phase => (c.phaseRotation ?? 'L1L2L3').slice(0, 2) as Phase;

function check(input: AllocationInput, result: AllocationResult): void {
  const byId = new Map(input.chargers.map((c) => [c.id, c]));
  const total = new Map<string, number>();
  const offline = new Map<string, number>();
  for (const a of result.allocations) {
    const c = byId.get(a.id)!;
    // The flag decides: numberPhases for chargers with it only; one phase means terminal 1's phase alone.
    if (c.phaseSwitch === undefined) expect(a.numberPhases).toBeUndefined();
    if (a.numberPhases === 1 && a.limit > 0) expect(a.phases).toEqual([firstPhase(c)]);
    if (a.numberPhases !== undefined && a.numberPhases !== c.phaseSwitch?.mode) expect(maySwitch(c.phaseSwitch!, input.now, input.settings)).toBe(true);
    for (const circuit of chainOf(input, c.circuitId)) {
      for (const p of a.phases) {
        total.set(`${circuit}/${p}`, (total.get(`${circuit}/${p}`) ?? 0) + a.limit);
        if (!c.online) offline.set(`${circuit}/${p}`, (offline.get(`${circuit}/${p}`) ?? 0) + a.limit);
      }
    }
  }
  for (const circuit of ['root', ...(input.circuits ?? []).map((c) => c.id)]) {
    if (PHASES.some((p) => (offline.get(`${circuit}/${p}`) ?? 0) > limitOf(input, circuit, p) + TOL)) continue;
    for (const p of PHASES) expect(total.get(`${circuit}/${p}`) ?? 0, `${circuit}/${p}`).toBeLessThanOrEqual(limitOf(input, circuit, p) + TOL);
  }
}

/** The next round: the allocation was sent and took effect (numberPhases too), and the limits moved. */
function nextRound(input: AllocationInput, result: AllocationResult, limits: PhaseCurrents, dtMs: number): AllocationInput {
  const out = new Map(result.allocations.map((a) => [a.id, a]));
  const chargers = input.chargers.map((c): ChargerInput => {
    const a = out.get(c.id);
    if (!c.online || !a) return c;
    const sent = c.phaseSwitch && a.numberPhases !== undefined && a.limit > 0 ? afterSent(c.phaseSwitch, a.numberPhases, input.now, input.settings) : c.phaseSwitch;
    const { measured: _m, ...rest } = c;
    return { ...rest, currentLimit: a.limit, lastChangeAt: a.limit !== (c.currentLimit ?? 0) ? input.now : c.lastChangeAt, ...(sent ? { phaseSwitch: sent } : {}) };
  });
  return { ...input, now: input.now + dtMs, phaseLimits: limits, chargers };
}

describe('allocate: 1/3-phase switching (properties)', () => {
  it('keeps every phase of every circuit within its limit with sessions on one phase; only chargers with the flag get numberPhases, one phase on terminal 1', () => {
    fc.assert(
      fc.property(installationArb, (input) => check(input, allocate(input))),
      { numRuns: RUNS },
    );
  });

  it('over rounds of moving limits: never more than maxPhaseSwitches switches a session, none before the hold, every round within the limits', () => {
    const limitsArb = fc.record({ L1: milli(60), L2: milli(60), L3: milli(60) });
    fc.assert(
      fc.property(installationArb, fc.array(fc.tuple(limitsArb, fc.integer({ min: 10_000, max: 400_000 })), { minLength: 1, maxLength: 12 }), (first, steps) => {
        // Fresh sessions: every flagged charger starts on three phases with no switch yet.
        let input: AllocationInput = { ...first, settings: { ...fairSettings, phaseSwitchHoldMs: HOLD, maxPhaseSwitches: MAX }, chargers: first.chargers.map((c) => (c.phaseSwitch ? { ...c, phaseSwitch: { mode: 3, switches: 0 } } : c)) };
        const switchTimes = new Map<string, number[]>();
        for (const [limits, dt] of steps) {
          const result = allocate(input);
          check(input, result);
          for (const a of result.allocations) {
            const c = input.chargers.find((x) => x.id === a.id)!;
            if (c.online && c.phaseSwitch && a.limit > 0 && a.numberPhases !== c.phaseSwitch.mode) switchTimes.set(a.id, [...(switchTimes.get(a.id) ?? []), input.now]);
          }
          input = nextRound(input, result, limits, dt);
        }
        for (const times of switchTimes.values()) {
          expect(times.length).toBeLessThanOrEqual(MAX);
          for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(HOLD);
        }
        for (const c of input.chargers) if (c.phaseSwitch) expect(c.phaseSwitch.switches).toBeLessThanOrEqual(MAX);
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });
});
