import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import type {
  AllocationInput,
  AllocationResult,
  AllocationSettings,
  ChargerAllocation,
  ChargerInput,
  PhaseCurrents,
} from '../../balancer/allocation-types.js';

const NOW = 10_000_000;
const MIN = 60_000;

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

function aCharger(overrides: Partial<ChargerInput> & { id?: string } = {}): ChargerInput {
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

function anInstallation(
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

function byId(result: AllocationResult): Record<string, ChargerAllocation> {
  return Object.fromEntries(result.allocations.map((a) => [a.id, a]));
}

function limits(result: AllocationResult): Record<string, number> {
  return Object.fromEntries(result.allocations.map((a) => [a.id, a.limit]));
}

describe('allocate: which phases a session loads', () => {
  it('counts a 3-phase charger wired L2L3L1 with a 1-phase car only on L2', () => {
    const result = allocate(
      anInstallation(
        [aCharger({ id: 'a', phaseRotation: 'L2L3L1', measured: { t1: 12, t2: 0.2, t3: 0, at: NOW } })],
        { L1: 0, L2: 20, L3: 0 },
      ),
    );
    expect(byId(result).a).toEqual({ id: 'a', limit: 16, phases: ['L2'], reason: 'charging' });
    expect(result.phaseLoad).toEqual({ L1: 0, L2: 16, L3: 0 });
  });

  it('maps a reversed rotation terminal by terminal (L1L3L2: terminal 2 is on L3)', () => {
    const result = allocate(
      anInstallation([aCharger({ id: 'a', phaseRotation: 'L1L3L2', measured: { t1: 0, t2: 9, t3: 0, at: NOW } })]),
    );
    expect(byId(result).a?.phases).toEqual(['L3']);
  });

  it.each(['L1', 'L2', 'L3'] as const)('counts a 1-phase charger on %s only there', (gridPhase) => {
    const result = allocate(anInstallation([aCharger({ id: 'a', phases: 1, gridPhase })], { [gridPhase]: 10 }));
    expect(byId(result).a).toMatchObject({ limit: 10, phases: [gridPhase] });
    expect(result.phaseLoad[gridPhase]).toBe(10);
  });

  it('serves 1-phase chargers on different phases independently', () => {
    const chargers = (['L1', 'L2', 'L3'] as const).map((p) => aCharger({ id: p, phases: 1, gridPhase: p }));
    expect(limits(allocate(anInstallation(chargers, { L1: 8, L2: 12, L3: 40 })))).toEqual({ L1: 8, L2: 12, L3: 16 });
  });

  it('counts every wired phase before the car is measured and while it draws nothing', () => {
    const unmeasured = aCharger({ id: 'a', phaseRotation: 'L3L1L2' });
    const silent = aCharger({ id: 'b', measured: { t1: 0.5, t2: 0, t3: 0, at: NOW } });
    const result = byId(allocate(anInstallation([unmeasured, silent])));
    expect(result.a?.phases).toEqual(['L1', 'L2', 'L3']);
    expect(result.b?.phases).toEqual(['L1', 'L2', 'L3']);
  });

  it('counts a phase at once when the car starts drawing on it', () => {
    const before = aCharger({ id: 'a', measured: { t1: 10, t2: 0, t3: 0, at: NOW } });
    const after = aCharger({ id: 'a', measured: { t1: 10, t2: 3, t3: 0, at: NOW } });
    expect(byId(allocate(anInstallation([before]))).a?.phases).toEqual(['L1']);
    expect(byId(allocate(anInstallation([after]))).a?.phases).toEqual(['L1', 'L2']);
  });

  it('ignores terminals a 1-phase charger does not have', () => {
    const result = allocate(
      anInstallation([aCharger({ id: 'a', phases: 1, gridPhase: 'L2', measured: { t1: 0, t2: 9, t3: 9, at: NOW } })]),
    );
    expect(byId(result).a?.phases).toEqual(['L2']);
  });

  it('counts an unknown rotation on all three phases', () => {
    const odd = aCharger({ id: 'a', phaseRotation: 'L1L1L2' as never, measured: { t1: 9, t2: 0, t3: 0, at: NOW } });
    expect(byId(allocate(anInstallation([odd]))).a?.phases).toEqual(['L1', 'L2', 'L3']);
  });
});

describe('allocate: offline chargers', () => {
  it('counts an offline charger at its last accepted limit on all wired phases, before anyone else', () => {
    const off = aCharger({ id: 'off', online: false, currentLimit: 10, phases: 1, gridPhase: 'L2' });
    const on = aCharger({ id: 'on' });
    const result = allocate(anInstallation([off, on], { L1: 32, L2: 20, L3: 32 }));
    expect(byId(result).off).toEqual({ id: 'off', limit: 10, phases: ['L2'], reason: 'offline' });
    expect(byId(result).on?.limit).toBe(10);
    expect(result.phaseLoad).toEqual({ L1: 10, L2: 20, L3: 10 });
  });

  it('counts an offline charger at its maximum when no limit was ever accepted, even if it wants nothing', () => {
    const unknown = aCharger({ id: 'a', online: false, wantsEnergy: false, maxCurrent: 13 });
    const never = aCharger({ id: 'b', online: false, maxCurrent: 7, phaseRotation: 'L2L3L1' });
    const result = allocate(anInstallation([unknown, never]));
    expect(limits(result)).toEqual({ a: 13, b: 7 });
    expect(byId(result).b?.phases).toEqual(['L1', 'L2', 'L3']);
    expect(result.phaseLoad).toEqual({ L1: 20, L2: 20, L3: 20 });
  });

  it('counts an offline charger paused at 0 A at 0 A (profiles persist offline), so the others keep charging', () => {
    const gone = aCharger({ id: 'gone', online: false, currentLimit: 0, maxCurrent: 20 });
    const others = ['a', 'b', 'c'].map((id) => aCharger({ id, maxCurrent: 20, currentLimit: 4 }));
    const result = allocate(anInstallation([gone, ...others], { L1: 12, L2: 12, L3: 12 }, { minChangeIntervalMs: 0 }));
    expect(byId(result).gone).toMatchObject({ limit: 0, reason: 'offline' });
    // 3 x 6 A > 12 A: two of the three charge at 6 A, exactly as without the offline charger.
    expect(result.phaseLoad).toEqual({ L1: 12, L2: 12, L3: 12 });
    expect(Object.values(limits(result)).filter((l) => l === 6)).toHaveLength(2);
  });

  it('counts an offline charger configured "max" at its maximum, and one with a failsafe current at the higher of it and its last limit', () => {
    const drops = aCharger({ id: 'drops', online: false, currentLimit: 0, maxCurrent: 16, offlineCurrent: 'max' });
    const own = aCharger({ id: 'own', online: false, currentLimit: 6, maxCurrent: 32, offlineCurrent: 10 });
    const keeps = aCharger({ id: 'keeps', online: false, currentLimit: 13, maxCurrent: 32, offlineCurrent: 10 });
    const on = aCharger({ id: 'on', maxCurrent: 32 });
    const result = allocate(anInstallation([drops, own, keeps, on], { L1: 45, L2: 45, L3: 45 }));
    expect(limits(result)).toEqual({ drops: 16, own: 10, keeps: 13, on: 6 });
  });

  it('pauses every online charger when the offline ones alone overload a phase', () => {
    const off = aCharger({ id: 'off', online: false, phases: 1, gridPhase: 'L1', currentLimit: 16 });
    const onL2 = aCharger({ id: 'on', phases: 1, gridPhase: 'L2' });
    const result = allocate(anInstallation([off, onL2], { L1: 10 }));
    expect(byId(result).on).toMatchObject({ limit: 0, reason: 'paused' });
    expect(result.phaseLoad.L1).toBe(16);
    expect(result.overloadedPhases).toEqual(['L1']);
  });
});

describe('allocate: minimums, admission and pause', () => {
  it('admits by priority, then arrival, and pauses the rest', () => {
    const chargers = [
      aCharger({ id: 'early', phases: 1, arrivedAt: 1 }),
      aCharger({ id: 'vip', phases: 1, arrivedAt: 3, priority: 1 }),
      aCharger({ id: 'later', phases: 1, arrivedAt: 2 }),
      aCharger({ id: 'latest', phases: 1, arrivedAt: 4 }),
    ];
    const result = byId(allocate(anInstallation(chargers, { L1: 13 })));
    expect(result.vip).toMatchObject({ limit: 7, reason: 'charging' });
    expect(result.early).toMatchObject({ limit: 6, reason: 'charging' });
    expect(result.later).toMatchObject({ limit: 0, reason: 'paused', phases: ['L1'] });
    expect(result.latest).toMatchObject({ limit: 0, reason: 'paused' });
  });

  it('breaks an arrival tie by id', () => {
    const chargers = [aCharger({ id: 'b', phases: 1 }), aCharger({ id: 'a', phases: 1 })];
    expect(limits(allocate(anInstallation(chargers, { L1: 11 })))).toEqual({ a: 11, b: 0 });
  });

  it('still admits a later session whose minimum fits on another phase', () => {
    const chargers = [
      aCharger({ id: 'big', arrivedAt: 1 }),
      aCharger({ id: 'small', phases: 1, gridPhase: 'L2', arrivedAt: 2 }),
      aCharger({ id: 'blocked', phases: 1, gridPhase: 'L1', arrivedAt: 3 }),
    ];
    const result = limits(allocate(anInstallation(chargers, { L1: 10, L2: 20, L3: 10 })));
    expect(result).toEqual({ big: 10, small: 10, blocked: 0 });
  });

  it('keeps running sessions ahead of a newer arrival of the same priority', () => {
    const running = aCharger({ id: 'z', phases: 1, arrivedAt: NOW - 30 * MIN, currentLimit: 8, runningSince: NOW - 30 * MIN });
    const newcomer = aCharger({ id: 'a', phases: 1, arrivedAt: NOW - MIN });
    expect(limits(allocate(anInstallation([running, newcomer], { L1: 10 })))).toEqual({ z: 10, a: 0 });
  });

  it('gives nothing to a charger that does not want energy, also as a decrease from a limit', () => {
    const idle = aCharger({ id: 'a', wantsEnergy: false, currentLimit: 16 });
    expect(byId(allocate(anInstallation([idle]))).a).toEqual({ id: 'a', limit: 0, phases: [], reason: 'idle' });
  });

  it('never offers below a minimum that is not on the 0.1 A grid', () => {
    const chargers = [aCharger({ id: 'a', phases: 1, minCurrent: 6.05 })];
    expect(limits(allocate(anInstallation(chargers, { L1: 6.1 })))).toEqual({ a: 6.1 });
    expect(limits(allocate(anInstallation(chargers, { L1: 6.09 })))).toEqual({ a: 0 });
  });

  it('marks a charger whose maximum is below its minimum as misconfigured', () => {
    const result = byId(allocate(anInstallation([aCharger({ id: 'a', maxCurrent: 5 })])));
    expect(result.a).toMatchObject({ limit: 0, reason: 'misconfigured' });
  });
});

describe('allocate: rotation', () => {
  const threeOnL1 = (overrides: Record<string, Partial<ChargerInput>>): ChargerInput[] =>
    ['a', 'b', 'c'].map((id, i) => aCharger({ id, phases: 1, arrivedAt: i, ...overrides[id] }));

  it('lets a session paused for the rotation interval take the place of the longest-running one', () => {
    const chargers = threeOnL1({
      a: { currentLimit: 6, runningSince: NOW - 40 * MIN },
      b: { currentLimit: 6, runningSince: NOW - 20 * MIN },
      c: { pausedSince: NOW - 15 * MIN },
    });
    expect(limits(allocate(anInstallation(chargers, { L1: 12 })))).toEqual({ a: 0, b: 6, c: 6 });
  });

  it('counts a session that was never admitted as waiting since it arrived', () => {
    const chargers = threeOnL1({
      a: { currentLimit: 6, runningSince: NOW - 40 * MIN },
      b: { currentLimit: 6, runningSince: NOW - 20 * MIN },
      c: { arrivedAt: NOW - 16 * MIN },
    });
    expect(limits(allocate(anInstallation(chargers, { L1: 12 })))).toEqual({ a: 0, b: 6, c: 6 });
    const early = chargers.map((c) => (c.id === 'c' ? { ...c, arrivedAt: NOW - 10 * MIN } : c));
    expect(limits(allocate(anInstallation(early, { L1: 12 })))).toEqual({ a: 6, b: 6, c: 0 });
  });

  it('shares the slots round-robin over time, within the limits and without wearing relays', () => {
    // Four 1-phase sessions, room for two minimums; the caller's bookkeeping runs every minute.
    let chargers = ['a', 'b', 'c', 'd'].map((id, i) => aCharger({ id, phases: 1, arrivedAt: NOW + i }));
    const ranMinutes: Record<string, number> = {};
    const switches: Record<string, number> = {};
    for (let minute = 0; minute < 240; minute++) {
      const now = NOW + minute * MIN;
      const result = allocate({ ...anInstallation(chargers, { L1: 13 }), now });
      expect(result.phaseLoad.L1).toBeLessThanOrEqual(13);
      const next = byId(result);
      chargers = chargers.map((c) => {
        const limit = next[c.id]?.limit ?? 0;
        const before = c.currentLimit ?? 0;
        if (limit > 0) ranMinutes[c.id] = (ranMinutes[c.id] ?? 0) + 1;
        if ((limit > 0) === (before > 0)) return { ...c, currentLimit: limit };
        switches[c.id] = (switches[c.id] ?? 0) + 1;
        // Relay wear: no run shorter than minRunMs, no pause shorter than minPauseMs.
        if (limit > 0 && c.pausedSince !== undefined) expect(now - c.pausedSince).toBeGreaterThanOrEqual(2 * MIN);
        if (limit === 0 && c.runningSince !== undefined) expect(now - c.runningSince).toBeGreaterThanOrEqual(5 * MIN);
        return limit > 0
          ? { ...c, currentLimit: limit, lastChangeAt: now, runningSince: now, pausedSince: undefined }
          : { ...c, currentLimit: 0, lastChangeAt: now, runningSince: undefined, pausedSince: now };
      });
    }
    // Two slots for four sessions: each runs about half the time, in turns of the rotation interval.
    for (const id of ['a', 'b', 'c', 'd']) {
      expect(ranMinutes[id]).toBeGreaterThanOrEqual(110);
      expect(switches[id]).toBeLessThanOrEqual(240 / 15 + 1);
    }
  });

  it('does not rotate before the interval', () => {
    const chargers = threeOnL1({
      a: { currentLimit: 6, runningSince: NOW - 40 * MIN },
      b: { currentLimit: 6, runningSince: NOW - 20 * MIN },
      c: { pausedSince: NOW - 14 * MIN },
    });
    expect(limits(allocate(anInstallation(chargers, { L1: 12 })))).toEqual({ a: 6, b: 6, c: 0 });
  });

  it('does not rotate out a session that has run less than the minimum run time', () => {
    const chargers = threeOnL1({
      a: { currentLimit: 6, runningSince: NOW - 4 * MIN },
      b: { currentLimit: 6, runningSince: NOW - 3 * MIN },
      c: { pausedSince: NOW - 30 * MIN },
    });
    expect(limits(allocate(anInstallation(chargers, { L1: 12 })))).toEqual({ a: 6, b: 6, c: 0 });
  });

  it('does not rotate a session of lower priority in', () => {
    const chargers = threeOnL1({
      a: { currentLimit: 6, runningSince: NOW - 40 * MIN, priority: 1 },
      b: { currentLimit: 6, runningSince: NOW - 20 * MIN, priority: 1 },
      c: { pausedSince: NOW - 60 * MIN },
    });
    expect(limits(allocate(anInstallation(chargers, { L1: 12 })))).toEqual({ a: 6, b: 6, c: 0 });
  });

  it('keeps a session paused for less than the minimum pause time paused, even with room', () => {
    const chargers = [aCharger({ id: 'a', phases: 1, pausedSince: NOW - 30_000 })];
    const result = byId(allocate(anInstallation(chargers)));
    expect(result.a).toMatchObject({ limit: 0, reason: 'paused', held: 'minPause' });
  });

  it('lets a higher-priority arrival pause a session that has not run its minimum run time', () => {
    const chargers = [
      aCharger({ id: 'a', phases: 1, currentLimit: 10, runningSince: NOW - MIN }),
      aCharger({ id: 'b', phases: 1, priority: 2 }),
    ];
    expect(limits(allocate(anInstallation(chargers, { L1: 10 })))).toEqual({ a: 0, b: 10 });
  });
});

describe('allocate: reclaim', () => {
  const underDrawing = (overrides: Partial<ChargerInput> = {}): ChargerInput =>
    aCharger({
      id: 'slow',
      phases: 1,
      currentLimit: 16,
      measured: { t1: 4.2, t2: 0, t3: 0, at: NOW },
      underDrawSince: NOW - 2 * MIN,
      ...overrides,
    });

  it('offers an under-drawing car its draw plus headroom and gives the rest to others', () => {
    const other = aCharger({ id: 'other', phases: 1, maxCurrent: 32 });
    const result = byId(allocate(anInstallation([underDrawing(), other], { L1: 24 })));
    // 4.2 A drawn + 2 A headroom, on the 0.1 A grid.
    expect(result.slow).toMatchObject({ limit: 6.2, reason: 'reclaimed' });
    expect(result.other).toMatchObject({ limit: 17.8, reason: 'charging' });
  });

  it('does not reclaim before reclaimAfterMs', () => {
    const result = byId(allocate(anInstallation([underDrawing({ underDrawSince: NOW - MIN })], { L1: 24 })));
    expect(result.slow).toMatchObject({ limit: 16, reason: 'charging' });
  });

  it('gives back the offer when the current sample shows the draw within the threshold', () => {
    const rising = underDrawing({ measured: { t1: 14.5, t2: 0, t3: 0, at: NOW } });
    expect(byId(allocate(anInstallation([rising], { L1: 24 }))).slow?.limit).toBe(16);
  });

  it('never reclaims below the minimum', () => {
    const idleCar = underDrawing({ measured: { t1: 0, t2: 0, t3: 0, at: NOW } });
    expect(byId(allocate(anInstallation([idleCar], { L1: 24 }))).slow).toMatchObject({ limit: 6, reason: 'reclaimed' });
  });
});

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

describe('allocate: purity', () => {
  it('returns the same result whatever the order of the chargers', () => {
    const chargers = [
      aCharger({ id: 'a', phases: 1, gridPhase: 'L3', arrivedAt: 2 }),
      aCharger({ id: 'b', phaseRotation: 'L3L1L2', arrivedAt: 2 }),
      aCharger({ id: 'c', online: false }),
      aCharger({ id: 'd', phases: 1, gridPhase: 'L1', priority: 1 }),
    ];
    const forward = allocate(anInstallation(chargers, { L1: 30, L2: 25, L3: 29 }));
    const backward = allocate(anInstallation([...chargers].reverse(), { L1: 30, L2: 25, L3: 29 }));
    expect(backward).toEqual(forward);
    expect(forward.allocations.map((a) => a.id)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('rejects duplicate charger ids', () => {
    expect(() => allocate(anInstallation([aCharger({ id: 'x' }), aCharger({ id: 'x' })]))).toThrow(/duplicate/);
  });

  it('does not modify its input', () => {
    const input = anInstallation([aCharger({ id: 'a' }), aCharger({ id: 'b', online: false })]);
    const copy = structuredClone(input);
    allocate(input);
    expect(input).toEqual(copy);
  });
});

describe('allocate: damping a swinging limit and sleeping cars', () => {
  it('admits a waiting session only if its minimum fits under the recent lows; running sessions keep their place', () => {
    const running = [1, 2, 3].map((i) => aCharger({ id: `r${i}`, currentLimit: 6, runningSince: NOW - MIN, arrivedAt: i }));
    const waiting = aCharger({ id: 'w', arrivedAt: 10 });
    const input = { ...anInstallation([...running, waiting], { L1: 28, L2: 28, L3: 28 }), admissionLimits: { L1: 20, L2: 20, L3: 20 } };
    const result = byId(allocate(input));
    expect(result.w).toMatchObject({ limit: 0, reason: 'paused' });
    // The running sessions share the 20 A of the lows fairly; the 8 A above them goes to one session
    // (the least served), so only that one follows the swing.
    expect(limits(allocate(input))).toEqual({ r1: 6.7, r2: 6.7, r3: 14.6, w: 0 });
    expect(allocate(input).phaseLoad.L1).toBeLessThanOrEqual(28 + 1e-9);
    // Without the lows it would have been admitted.
    expect(byId(allocate({ ...input, admissionLimits: { L1: 28, L2: 28, L3: 28 } })).w?.limit).toBe(7);
  });

  it('gives the surplus above the lows to the session steady longest, and leaves it there while it lasts', () => {
    const running = [1, 2, 3].map((i) => aCharger({ id: `r${i}`, currentLimit: 6, runningSince: NOW - 10 * MIN, lastChangeAt: NOW - (i === 2 ? 5 : 3) * MIN }));
    const input = { ...anInstallation(running, { L1: 28, L2: 28, L3: 28 }), admissionLimits: { L1: 20, L2: 20, L3: 20 } };
    expect(limits(allocate(input))).toEqual({ r1: 6.7, r2: 14.7, r3: 6.6 });
    // r2 took it just now: it keeps it rather than the role hopping to the now steadiest r1 or r3.
    const next = running.map((c) => (c.id === 'r2' ? { ...c, currentLimit: 14.7, lastChangeAt: NOW } : c));
    expect(limits(allocate({ ...input, chargers: next }))).toEqual({ r1: 6.7, r2: 14.7, r3: 6.6 });
    // Once the limit came down again, the next swing goes to the steadiest other session.
    const after = running.map((c) => (c.id === 'r2' ? { ...c, lastChangeAt: NOW } : c));
    expect(limits(allocate({ ...input, chargers: after }))).toEqual({ r1: 6.7, r2: 6.7, r3: 14.6 });
  });

  it('names the change budget when it holds an increase', () => {
    const result = allocate(anInstallation([aCharger({ id: 'a', currentLimit: 8, raiseHeldUntil: NOW + 1 })]));
    expect(result.allocations[0]).toMatchObject({ limit: 8, held: 'changeBudget' });
    expect(allocate(anInstallation([aCharger({ id: 'a', currentLimit: 8, raiseHeldUntil: NOW })])).allocations[0]?.limit).toBe(16);
    const paused = allocate(anInstallation([aCharger({ id: 'a', raiseHeldUntil: NOW + 1 })]));
    expect(paused.allocations[0]).toMatchObject({ limit: 0, held: 'changeBudget' });
  });

  it('offers a sleeping car nothing and reserves nothing for it; a probing car waits behind running sessions', () => {
    const sleeping = allocate(anInstallation([aCharger({ id: 'a', currentLimit: 6, asleep: 'sleeping' }), aCharger({ id: 'b', maxCurrent: 32 })], { L1: 30, L2: 30, L3: 30 }));
    expect(byId(sleeping).a).toMatchObject({ limit: 0, reason: 'asleep' });
    expect(byId(sleeping).b?.limit).toBe(30);
    // Only one minimum fits: the probe does not displace the session that has run for an hour.
    const probing = allocate(
      anInstallation(
        [aCharger({ id: 'a', asleep: 'probing', pausedSince: NOW - 60 * MIN, arrivedAt: 0 }), aCharger({ id: 'b', currentLimit: 10, runningSince: NOW - 60 * MIN, arrivedAt: 1 })],
        { L1: 10, L2: 10, L3: 10 },
      ),
    );
    expect(limits(probing)).toEqual({ a: 0, b: 10 });
    const room = allocate(anInstallation([aCharger({ id: 'a', asleep: 'probing', pausedSince: NOW - 60 * MIN })], { L1: 10, L2: 10, L3: 10 }));
    // A probe is offered its minimum only, however much room there is.
    expect(limits(room)).toEqual({ a: 6 });
  });
});
