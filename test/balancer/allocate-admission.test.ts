/** Who is admitted at their minimum and who is paused: priority, arrival, minimums, idle and misconfigured chargers. */
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { aCharger, anInstallation, byId, limits, MIN, NOW } from './allocate-fixtures.js';

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
