/** Which grid phases each session is counted on (wiring, rotation, what the car draws), and what an offline charger is counted at. */
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { aCharger, anInstallation, byId, limits, NOW } from './allocate-fixtures.js';

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
