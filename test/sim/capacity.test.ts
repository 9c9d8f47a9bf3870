import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { achievableCurrent, fairFill, type CarDemand } from '../../sim/capacity.js';

const L1 = 1;
const L2 = 2;
const L3 = 4;
const ALL = L1 | L2 | L3;
const car = (mask: number, demand: number, min = 6): CarDemand => ({ mask, min, demand });

describe('the ideal balancer behind utilisation', () => {
  it('gives every car its demand when everything fits', () => {
    expect(achievableCurrent([32, 32, 32], [car(ALL, 10), car(L1, 16)])).toBeCloseTo(46, 6);
  });

  it('shares a bottleneck phase max-min fairly (a 20 A step on L1 with everything at max)', () => {
    // Three 3-phase 16 A cars and a 1-phase 10 A car share the 40 A left on L1: 10 A each.
    expect(achievableCurrent([40, 63, 63], [car(ALL, 16), car(ALL, 16), car(ALL, 16), car(L1, 10)])).toBeCloseTo(100, 6);
  });

  it('keeps cars that cannot get their minimum out, and never counts less than a fair admission', () => {
    // L1 has 4 A: no 3-phase car can run; the 1-phase cars on L2 and L3 share 20 A each.
    expect(achievableCurrent([4, 20, 20], [car(ALL, 32), car(L1, 32), car(L2, 32), car(L2, 32), car(L3, 32)])).toBeCloseTo(40, 6);
    // 10 A on L2 for three 1-phase cars: one runs at 10 A.
    expect(achievableCurrent([25, 10, 25], [car(L2, 32), car(L2, 32), car(L2, 32)])).toBeCloseTo(10, 6);
  });

  it('ignores sleeping and full cars and treats an under-drawing car at its draw', () => {
    expect(achievableCurrent([40, 40, 40], [car(ALL, 0), car(ALL, 10), car(ALL, 32)])).toBeCloseTo(120, 6);
  });

  it('never exceeds any phase or any demand (property)', () => {
    const arb = fc.record({
      headroom: fc.tuple(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 })),
      cars: fc.array(fc.record({ mask: fc.integer({ min: 1, max: 7 }), demand: fc.integer({ min: 0, max: 32 }) }), { maxLength: 6 }),
    });
    fc.assert(
      fc.property(arb, ({ headroom, cars }) => {
        const list = cars.map((c) => car(c.mask, c.demand));
        const v = achievableCurrent(headroom, list);
        const bits = (m: number): number => (m & 1) + ((m >> 1) & 1) + ((m >> 2) & 1);
        expect(v).toBeLessThanOrEqual(headroom[0] + headroom[1] + headroom[2] + 1e-6);
        expect(v).toBeLessThanOrEqual(list.reduce((s, c) => s + (c.demand >= 6 ? c.demand * bits(c.mask) : 0), 0) + 1e-6);
        expect(fairFill(headroom, [])).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
