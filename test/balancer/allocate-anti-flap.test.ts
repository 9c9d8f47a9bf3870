/** Anti-flap: the deadband, decrease hysteresis and margin, and the minimum change interval. */
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import type { ChargerInput } from '../../balancer/allocation-types.js';
import { aCharger, anInstallation, byId, limits, MIN, NOW } from './allocate-fixtures.js';

describe('allocate: anti-flap', () => {
  it('keeps the limit in force when the increase is smaller than the deadband', () => {
    const a = aCharger({ id: 'a', phases: 1, currentLimit: 9.5 });
    const result = byId(allocate(anInstallation([a], { L1: 10 }, { deadbandA: 1 })));
    expect(result.a).toMatchObject({ limit: 9.5, held: 'deadband' });
  });

  it('keeps a small decrease when the phase sums allow it', () => {
    const chargers = [
      aCharger({ id: 'a', phases: 1, currentLimit: 10.5 }),
      aCharger({ id: 'b', phases: 1, currentLimit: 9.4 }),
    ];
    const result = allocate(anInstallation(chargers, { L1: 20 }, { deadbandA: 1 }));
    expect(limits(result)).toEqual({ a: 10.5, b: 9.4 });
    expect(result.phaseLoad.L1).toBeLessThanOrEqual(20);
  });

  it('drops a deadband hold that would exceed a phase limit when no session changes anyway', () => {
    const chargers = [aCharger({ id: 'a', phases: 1, currentLimit: 10.5 }), aCharger({ id: 'b', phases: 1, currentLimit: 10 })];
    const result = allocate(anInstallation(chargers, { L1: 20 }, { deadbandA: 1 }));
    expect(limits(result)).toEqual({ a: 10, b: 10 });
  });

  it('keeps a deadband hold by taking the difference from a session that is commanded anyway', () => {
    // b starts (a command either way): it takes 0.5 A less so that a needs no command.
    const start = allocate(anInstallation([aCharger({ id: 'a', phases: 1, currentLimit: 10.5 }), aCharger({ id: 'b', phases: 1 })], { L1: 20 }, { deadbandA: 1 }));
    expect(limits(start)).toEqual({ a: 10.5, b: 9.5 });
    // The limit comes down 8 A: the charger that moves most takes it all, the others keep theirs.
    const down = allocate(
      anInstallation(
        [aCharger({ id: 'a', currentLimit: 14 }), aCharger({ id: 'b', currentLimit: 7 }), aCharger({ id: 'c', currentLimit: 7 })],
        { L1: 20, L2: 20, L3: 20 },
        { deadbandA: 1 },
      ),
    );
    expect(limits(down)).toEqual({ a: 6, b: 7, c: 7 });
    expect(down.phaseLoad.L1).toBeLessThanOrEqual(20);
    // Never below a donor's minimum.
    const tight = allocate(
      anInstallation([aCharger({ id: 'a', currentLimit: 7 }), aCharger({ id: 'b', currentLimit: 7 }), aCharger({ id: 'c', currentLimit: 7 })], { L1: 18.5, L2: 18.5, L3: 18.5 }, { deadbandA: 1 }),
    );
    expect(limits(tight)).toEqual({ a: 6.2, b: 6.2, c: 6.1 });
  });

  it('decrease hysteresis: a small drop spread over many sessions moves only the steadiest one, by all of it', () => {
    // Eight 1-phase sessions at 8 A on a 64 A phase; the phase comes down 1.3 A. Shared fairly every one
    // would get a 0.1-0.2 A decrease (eight profiles); instead the one steady longest takes the whole drop.
    const chargers = Array.from({ length: 8 }, (_, i) => aCharger({ id: `c${i}`, phases: 1, currentLimit: 8, lastChangeAt: NOW - (i === 5 ? 9 : 1) * MIN }));
    const result = allocate(anInstallation(chargers, { L1: 62.7 }, { deadbandA: 1 }));
    expect(limits(result)).toEqual({ c0: 8, c1: 8, c2: 8, c3: 8, c4: 8, c5: 6.7, c6: 8, c7: 8 });
    // No room left unused: the phase is exactly full.
    expect(result.phaseLoad.L1).toBeCloseTo(62.7, 9);
    // The next small rise (0.5 A back) needs no profile at all: it is within the deadband.
    const after = chargers.map((c) => (c.id === 'c5' ? { ...c, currentLimit: 6.7, lastChangeAt: NOW } : c));
    const rise = allocate(anInstallation(after, { L1: 63.2 }, { deadbandA: 1 }));
    expect(limits(rise)).toEqual(limits(result));
    // Never below the donor's minimum: a drop bigger than one session can absorb is shared again.
    const deep = allocate(anInstallation(chargers, { L1: 56.5 }, { deadbandA: 1 }));
    expect(deep.phaseLoad.L1).toBeLessThanOrEqual(56.5 + 1e-9);
    expect(Math.min(...Object.values(limits(deep)))).toBeGreaterThanOrEqual(6);
  });

  it('decrease margin: a charger that spent half its change budget goes half a deadband further down, never below its minimum', () => {
    const one = (over: Partial<ChargerInput>) => [aCharger({ id: 'a', phases: 1, currentLimit: 12, ...over })];
    // The phase drops to 10.3 A: 10.3 A as usual, 9.8 A with half the budget spent.
    expect(limits(allocate(anInstallation(one({}), { L1: 10.3 }, { deadbandA: 1 })))).toEqual({ a: 10.3 });
    const low = allocate(anInstallation(one({ budgetLow: true }), { L1: 10.3 }, { deadbandA: 1 }));
    expect(limits(low)).toEqual({ a: 9.8 });
    // Its share is now mid-band: a swing of up to half a deadband either way needs no profile.
    for (const l1 of [9.8, 10.3, 10.7]) expect(byId(allocate(anInstallation(one({ budgetLow: true, currentLimit: 9.8 }), { L1: l1 }, { deadbandA: 1 }))).a?.limit).toBe(9.8);
    // Never below the minimum, no margin without a deadband, and none on a raise or a hold.
    expect(limits(allocate(anInstallation(one({ budgetLow: true }), { L1: 6.2 }, { deadbandA: 1 })))).toEqual({ a: 6 });
    expect(limits(allocate(anInstallation(one({ budgetLow: true }), { L1: 10.3 }, { deadbandA: 0 })))).toEqual({ a: 10.3 });
    expect(limits(allocate(anInstallation(one({ budgetLow: true, currentLimit: 8 }), { L1: 10.3 }, { deadbandA: 1 })))).toEqual({ a: 10.3 });
    expect(limits(allocate(anInstallation(one({ budgetLow: true, currentLimit: 10.5 }), { L1: 11 }, { deadbandA: 1 })))).toEqual({ a: 10.5 });
  });

  it('applies no deadband to changes from 0', () => {
    const a = aCharger({ id: 'a', phases: 1, currentLimit: 0 });
    expect(limits(allocate(anInstallation([a], { L1: 6.5 }, { deadbandA: 1 })))).toEqual({ a: 6.5 });
  });

  it('holds an increase within the minimum change interval and gives the room to others', () => {
    const chargers = [
      aCharger({ id: 'a', phases: 1, currentLimit: 8, lastChangeAt: NOW - 10_000 }),
      aCharger({ id: 'b', phases: 1, maxCurrent: 32 }),
    ];
    const result = byId(allocate(anInstallation(chargers, { L1: 30 }, { minChangeIntervalMs: 60_000 })));
    expect(result.a).toMatchObject({ limit: 8, held: 'minChangeInterval' });
    expect(result.b?.limit).toBe(22);
  });

  it('lets the increase through once the interval has passed', () => {
    const a = aCharger({ id: 'a', phases: 1, currentLimit: 8, lastChangeAt: NOW - 60_000 });
    expect(limits(allocate(anInstallation([a], { L1: 30 }, { minChangeIntervalMs: 60_000 })))).toEqual({ a: 16 });
  });

  it('never holds a decrease that safety needs', () => {
    const a = aCharger({ id: 'a', phases: 1, currentLimit: 16, lastChangeAt: NOW - 1_000 });
    const result = allocate(anInstallation([a], { L1: 9.5 }, { minChangeIntervalMs: 60_000, deadbandA: 1 }));
    expect(limits(result)).toEqual({ a: 9.5 });
  });

  it('holds a restart from 0 within the minimum change interval', () => {
    const a = aCharger({ id: 'a', phases: 1, currentLimit: 0, lastChangeAt: NOW - 1_000 });
    const result = byId(allocate(anInstallation([a], {}, { minChangeIntervalMs: 60_000 })));
    expect(result.a).toMatchObject({ limit: 0, reason: 'paused', held: 'minChangeInterval' });
  });
});
