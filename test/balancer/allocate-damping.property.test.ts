/** Random flat installations with damping: recent lows, change budgets and sleeping cars (safety kept), and decrease hysteresis moving one session only. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import type { AllocationInput, ChargerInput } from '../../balancer/allocation-types.js';
import { fairSettings, opt } from '../support/allocation-arbitraries.js';
import { anyInstallation, ceilDeci, checkOffers, checkSafety, get, NOW, PHASES, resultById, RUNS, TOL } from './allocate-fixtures.js';

describe('allocate: properties on random installations', () => {
  it('(g) keeps (a) and (b) with recent lows, change budgets and sleeping cars; a sleeping car gets 0, a waiting one starts only under the lows', () => {
    const extras = fc.record({
      raiseHeldUntil: opt(fc.integer({ min: NOW - 1_000, max: NOW + 60_000 })),
      asleep: opt(fc.constantFrom('sleeping' as const, 'probing' as const)),
    });
    const below = fc.constantFrom(0, 0, 3, 8.05, 20);
    const damped = fc.record({ base: anyInstallation, extras: fc.array(extras, { minLength: 40, maxLength: 40 }), below: fc.record({ L1: below, L2: below, L3: below }), oneClass: fc.boolean() });
    const running = (c: ChargerInput): boolean => c.currentLimit !== undefined && c.currentLimit > 0;
    fc.assert(
      fc.property(damped, ({ base, extras: xs, below: b, oneClass }) => {
        const chargers = base.chargers.map((c, i) => ({ ...c, ...xs[i], ...(oneClass ? { priority: 0 } : {}) }));
        const lows = { L1: Math.max(0, base.phaseLimits.L1 - b.L1), L2: Math.max(0, base.phaseLimits.L2 - b.L2), L3: Math.max(0, base.phaseLimits.L3 - b.L3) };
        // One class without rotation: every running session is admitted before any start.
        const settings = oneClass ? { ...base.settings, rotationIntervalMs: Number.MAX_SAFE_INTEGER } : base.settings;
        const input: AllocationInput = { ...base, settings, chargers, admissionLimits: lows };
        const result = allocate(input);
        checkSafety(input, result);
        checkOffers(input, result);
        const out = resultById(result);
        for (const c of chargers) {
          const a = get(out, c.id);
          if (c.online && c.wantsEnergy && c.asleep === 'sleeping') expect(a).toMatchObject({ limit: 0, reason: 'asleep' });
          if (c.online && c.asleep === 'probing' && !running(c) && a.limit > 0) expect(a.limit).toBe(ceilDeci(c.minCurrent));
        }
        if (!oneClass || result.overloadedPhases.length > 0) return;
        for (const p of PHASES) {
          let used = 0;
          let starts = false;
          for (const c of chargers) {
            const a = get(out, c.id);
            if (a.limit === 0 || !a.phases.includes(p)) continue;
            if (!c.online) used += a.limit;
            else {
              used += ceilDeci(c.minCurrent);
              starts ||= !running(c);
            }
          }
          // Running sessions' minimums may exceed the lows; then nothing may have started on that phase.
          if (starts) expect(used).toBeLessThanOrEqual(lows[p] + 1e-6);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('(j) decrease hysteresis: a drop the steadiest session can absorb moves that session only, and leaves no room unused', () => {
    // Sessions (1-phase on L1 and 3-phase) all running at one grid limit, L1 lowered by less than the
    // deadband per session: one profile instead of one per session, and L1 stays exactly full.
    const setup = fc
      .record({
        phases: fc.array(fc.constantFrom(1 as const, 3 as const), { minLength: 2, maxLength: 12 }),
        limitQ: fc.integer({ min: 70, max: 160 }),
        changedAgo: fc.array(fc.integer({ min: 1, max: 3_600_000 }), { minLength: 12, maxLength: 12 }),
      })
      .chain(({ phases, limitQ, changedAgo }) =>
        fc.record({ phases: fc.constant(phases), limitQ: fc.constant(limitQ), changedAgo: fc.constant(changedAgo), dropQ: fc.integer({ min: 1, max: Math.min(limitQ - 60, 9 * phases.length) }) }),
      );
    fc.assert(
      fc.property(setup, ({ phases, limitQ, changedAgo, dropQ }) => {
        const chargers = phases.map((ph, i): ChargerInput => ({
          id: `c${String(i).padStart(2, '0')}`,
          phases: ph,
          gridPhase: 'L1',
          minCurrent: 6,
          maxCurrent: 32,
          priority: 0,
          arrivedAt: 0,
          wantsEnergy: true,
          online: true,
          currentLimit: limitQ / 10,
          lastChangeAt: NOW - (changedAgo[i] ?? 1),
          runningSince: 0,
        }));
        const l1 = (phases.length * limitQ - dropQ) / 10;
        const input: AllocationInput = { now: NOW, phaseLimits: { L1: l1, L2: 1_000, L3: 1_000 }, chargers, settings: { ...fairSettings, deadbandA: 1 } };
        const result = allocate(input);
        const moved = result.allocations.filter((a) => Math.abs(a.limit - limitQ / 10) > TOL);
        const steadiest = [...chargers].sort((x, y) => (x.lastChangeAt ?? 0) - (y.lastChangeAt ?? 0) || (x.id < y.id ? -1 : 1))[0]!;
        expect(moved).toHaveLength(1);
        // When every fair share is below the limit in force, the one steady longest moves (the role
        // rotates); a drop of less than a unit per session lowers only the ones the remainder misses.
        if (dropQ >= phases.length) expect(moved[0]!.id).toBe(steadiest.id);
        expect(moved[0]!.limit).toBeCloseTo((limitQ - dropQ) / 10, 9);
        expect(result.phaseLoad.L1).toBeCloseTo(l1, 9);
      }),
      { numRuns: RUNS },
    );
  });
});
