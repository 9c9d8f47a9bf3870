/** Sharing the room: caps, max-min fair filling by priority class, and the 0.1 A grid. */
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { aCharger, anInstallation, byId, limits } from './allocate-fixtures.js';

describe('allocate: caps', () => {
  it('never offers above the cap and gives the rest to others', () => {
    const chargers = [aCharger({ id: 'a', phases: 1, cap: 10 }), aCharger({ id: 'b', phases: 1, maxCurrent: 32 })];
    const result = byId(allocate(anInstallation(chargers, { L1: 30 })));
    expect(result.a).toMatchObject({ limit: 10, reason: 'capped' });
    expect(result.b).toMatchObject({ limit: 20, reason: 'charging' });
  });

  it('rounds a cap down to 0.1 A', () => {
    expect(limits(allocate(anInstallation([aCharger({ id: 'a', cap: 10.05 })])))).toEqual({ a: 10 });
  });

  it('gives 0 when the cap is below the minimum', () => {
    const result = byId(allocate(anInstallation([aCharger({ id: 'a', cap: 5 })])));
    expect(result.a).toMatchObject({ limit: 0, reason: 'capped' });
  });

  it('says charging, not capped, when the phase limit binds before the cap', () => {
    const result = byId(allocate(anInstallation([aCharger({ id: 'a', phases: 1, cap: 12 })], { L1: 9 })));
    expect(result.a).toMatchObject({ limit: 9, reason: 'charging' });
  });
});

describe('allocate: fair filling', () => {
  it('freezes the sessions of a saturated phase and keeps filling the others', () => {
    const chargers = [
      aCharger({ id: 'l1', phases: 1, gridPhase: 'L1' }),
      aCharger({ id: 'three' }),
      aCharger({ id: 'l2', phases: 1, gridPhase: 'L2' }),
    ];
    const result = allocate(anInstallation(chargers, { L1: 20, L2: 24, L3: 32 }));
    expect(limits(result)).toEqual({ l1: 10, three: 10, l2: 14 });
    expect(result.phaseLoad).toEqual({ L1: 20, L2: 24, L3: 10 });
  });

  it('fills the higher priority class first, to its maxima', () => {
    const chargers = [
      aCharger({ id: 'vip', phases: 1, priority: 5, maxCurrent: 20 }),
      aCharger({ id: 'low1', phases: 1 }),
      aCharger({ id: 'low2', phases: 1 }),
    ];
    expect(limits(allocate(anInstallation(chargers, { L1: 40 })))).toEqual({ vip: 20, low1: 10, low2: 10 });
  });

  it('reserves lower-priority minimums before filling higher classes', () => {
    const chargers = [aCharger({ id: 'vip', phases: 1, priority: 5, maxCurrent: 32 }), aCharger({ id: 'low', phases: 1 })];
    expect(limits(allocate(anInstallation(chargers, { L1: 30 })))).toEqual({ vip: 24, low: 6 });
  });

  it('splits in 0.1 A steps, the remainder to the lowest ids, never above the limit', () => {
    const chargers = ['c', 'a', 'b'].map((id) => aCharger({ id, phases: 1 }));
    const result = allocate(anInstallation(chargers, { L1: 20 }));
    expect(limits(result)).toEqual({ a: 6.7, b: 6.7, c: 6.6 });
    expect(result.phaseLoad.L1).toBeLessThanOrEqual(20);
  });

  it('rounds a fractional phase limit down', () => {
    expect(limits(allocate(anInstallation([aCharger({ id: 'a', phases: 1 })], { L1: 7.39 })))).toEqual({ a: 7.3 });
  });

  it('lets a session with a higher minimum stay at its minimum while others grow to it', () => {
    const chargers = [aCharger({ id: 'hi', phases: 1, minCurrent: 10 }), aCharger({ id: 'lo', phases: 1 })];
    expect(limits(allocate(anInstallation(chargers, { L1: 18 })))).toEqual({ hi: 10, lo: 8 });
    expect(limits(allocate(anInstallation(chargers, { L1: 24 })))).toEqual({ hi: 12, lo: 12 });
  });
});
