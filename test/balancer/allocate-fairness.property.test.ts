/** Random flat installations: deterministic and order-free, max-min fair, nothing for idle chargers, no pause while a minimum fits, and an offline charger at 0 A changes no share. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import type { ChargerInput } from '../../balancer/allocation-types.js';
import { fairSettings } from '../support/allocation-arbitraries.js';
import { anyInstallation, ceilDeci, floorDeci, get, installationArb, PHASES, resultById, RUNS, TOL } from './allocate-fixtures.js';

describe('allocate: properties on random installations', () => {
  it('(c) is deterministic and independent of the order of the chargers', () => {
    const withShuffle = anyInstallation.chain((input) =>
      fc
        .shuffledSubarray([...input.chargers], { minLength: input.chargers.length, maxLength: input.chargers.length })
        .map((shuffled) => ({ input, shuffled })),
    );
    fc.assert(
      fc.property(withShuffle, ({ input, shuffled }) => {
        const first = allocate(input);
        expect(allocate(input)).toEqual(first);
        expect(allocate({ ...input, chargers: shuffled })).toEqual(first);
      }),
      { numRuns: RUNS },
    );
  });

  it('(d) is max-min fair: every session below its maximum is blocked by a full phase where it is not behind', () => {
    // Standard bottleneck check on the 0.1 A lattice. For each online session c with
    // 0 < limit < its maximum (min(max, cap) rounded down to 0.1 A) there is a phase p it is
    // counted on such that
    //   - p is full: less than 0.1 A of p's limit is left (raising c by 0.1 A would break it), and
    //   - no other online session d counted on p with priority <= c's and limit above its own
    //     minimum (rounded up to 0.1 A) has more than c's limit + 0.1 A (the remainder unit), and
    //     every lower-priority session on p is at its minimum (higher classes are filled first).
    // Sessions held at their minimum are exempt: their floor is not a share of the filling.
    fc.assert(
      fc.property(installationArb(fc.constant(fairSettings)), (input) => {
        const result = allocate(input);
        if (result.overloadedPhases.length > 0) return;
        const out = resultById(result);
        const online = input.chargers.filter((c) => c.online && c.wantsEnergy);
        for (const c of online) {
          const a = get(out, c.id);
          const maxQ = floorDeci(Math.min(c.maxCurrent, c.cap ?? Infinity));
          if (a.limit === 0 || a.limit >= maxQ - 1e-6) continue;
          const blocked = a.phases.some((p) => {
            if (input.phaseLimits[p] - result.phaseLoad[p] >= 0.1 + TOL) return false;
            return online.every((d) => {
              if (d === c || d.priority > c.priority) return true;
              const b = get(out, d.id);
              if (!b.phases.includes(p) || b.limit <= ceilDeci(d.minCurrent) + 1e-6) return true;
              return d.priority === c.priority && b.limit <= a.limit + 0.1 + 1e-6;
            });
          });
          expect(blocked, `${c.id} at ${a.limit} could grow`).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('(e) gives nothing to an online charger that does not want energy', () => {
    fc.assert(
      fc.property(anyInstallation, (input) => {
        const out = resultById(allocate(input));
        for (const c of input.chargers) {
          if (c.online && !c.wantsEnergy) expect(get(out, c.id)).toMatchObject({ limit: 0, reason: 'idle' });
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('(f) pauses no session for lack of room while its minimum would still fit', () => {
    // Admission is greedy: a session paused without a relay-wear hold must not fit beside the others.
    fc.assert(
      fc.property(installationArb(fc.constant(fairSettings)), (input) => {
        const result = allocate(input);
        if (result.overloadedPhases.length > 0) return;
        const out = resultById(result);
        for (const c of input.chargers) {
          const a = get(out, c.id);
          if (!c.online || a.reason !== 'paused' || a.held !== undefined) continue;
          const min = ceilDeci(c.minCurrent);
          if (min === 0) continue; // admitted at 0 with no room to grow looks the same
          // Room left if every admitted session dropped to its minimum.
          const fits = a.phases.every((p) => {
            let used = 0;
            for (const d of input.chargers) {
              const b = get(out, d.id);
              if (!b.phases.includes(p) || b.limit === 0) continue;
              used += d.online ? ceilDeci(d.minCurrent) : b.limit;
            }
            // Fits with a margin: at the last 1e-9 A the allocator may round toward safety.
            return used + min <= input.phaseLimits[p] - 1e-6;
          });
          expect(fits, `${c.id} paused though its minimum fits`).toBe(false);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('(i) an offline charger counted at 0 A leaves every online charger\'s share unchanged', () => {
    // A paused charger dropping off (last limit 0, `lastLimit`): the others get what they would get
    // without it, whatever else the installation holds.
    const paused = fc.record({
      phases: fc.constantFrom(1 as const, 3 as const),
      gridPhase: fc.constantFrom(...PHASES),
      wantsEnergy: fc.boolean(),
      offlineCurrent: fc.constantFrom<ChargerInput['offlineCurrent']>(undefined, 'lastLimit', 0),
    });
    fc.assert(
      fc.property(anyInstallation, paused, (input, p) => {
        const gone: ChargerInput = { id: 'zz-gone', minCurrent: 6, maxCurrent: 32, priority: 0, arrivedAt: 0, online: false, currentLimit: 0, ...p };
        const without = allocate(input);
        const withGone = allocate({ ...input, chargers: [...input.chargers, gone] });
        expect(resultById(withGone).get('zz-gone')).toMatchObject({ limit: 0, reason: 'offline' });
        expect(withGone.allocations.filter((a) => a.id !== 'zz-gone')).toEqual(without.allocations);
        expect(withGone.phaseLoad).toEqual(without.phaseLoad);
      }),
      { numRuns: RUNS },
    );
  });
});
