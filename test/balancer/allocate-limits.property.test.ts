/** Random flat installations: every phase within its limit (offline chargers at their worst case too) and every offer in [min, min(max, cap)] on the 0.1 A grid, in a first round and the one after. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { anyInstallation, checkOffers, checkSafety, get, nextRound, offlineOracle, PHASES, resultById, RUNS, TOL, wiredPhases } from './allocate-fixtures.js';

describe('allocate: properties on random installations', () => {
  it('(a) keeps every phase within its limit, except an overload by offline chargers alone', () => {
    fc.assert(
      fc.property(anyInstallation, (input) => checkSafety(input, allocate(input))),
      { numRuns: RUNS },
    );
  });

  it('(b) offers 0 or a value in [min, min(max, cap)], on the 0.1 A grid unless the limit in force is kept', () => {
    fc.assert(
      fc.property(anyInstallation, (input) => checkOffers(input, allocate(input))),
      { numRuns: RUNS },
    );
  });

  it('(a, b) hold in a follow-up round that starts from the first round\'s limits', () => {
    // Exercises the anti-flap holds: every limit in force is close to a fair target.
    const rounds = fc.record({
      input: anyInstallation,
      drift: fc.record({
        L1: fc.integer({ min: -3000, max: 3000 }).map((m) => m / 1000),
        L2: fc.constant(0),
        L3: fc.integer({ min: -3000, max: 500 }).map((m) => m / 1000),
      }),
      dt: fc.constantFrom(1_000, 30_000, 600_000),
    });
    fc.assert(
      fc.property(rounds, ({ input, drift, dt }) => {
        const next = nextRound(input, allocate(input), drift, dt);
        const result = allocate(next);
        checkSafety(next, result);
        checkOffers(next, result);
      }),
      { numRuns: RUNS },
    );
  });

  it('(h) with offline chargers counted at their configured worst case, no phase exceeds its limit', () => {
    // Every input where the offline chargers' worst cases fit: the sum of everything counted, offline
    // chargers at the oracle's value, stays within each phase's limit.
    fc.assert(
      fc.property(anyInstallation, (input) => {
        const result = allocate(input);
        if (result.overloadedPhases.length > 0) return;
        const out = resultById(result);
        for (const p of PHASES) {
          let sum = 0;
          for (const c of input.chargers) {
            const a = get(out, c.id);
            if (!c.online) sum += wiredPhases(c).includes(p) ? offlineOracle(c) : 0;
            else if (a.phases.includes(p)) sum += a.limit;
          }
          expect(sum).toBeLessThanOrEqual(input.phaseLimits[p] + TOL);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
