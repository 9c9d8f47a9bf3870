/** Taking turns when not every minimum fits: the rotation interval and the relay-wear holds (minimum run and pause). */
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import type { ChargerInput } from '../../balancer/allocation-types.js';
import { aCharger, anInstallation, byId, limits, MIN, NOW } from './allocate-fixtures.js';

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
