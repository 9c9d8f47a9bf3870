/**
 * 1/3-phase switching (issue 12): which chargers go to one phase and on which phase, the hold and the
 * count, and the order of the commands that switch them (a switch changes the load per phase).
 */
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import type { AllocationInput, ChargerInput } from '../../balancer/allocation-types.js';
import { allocationInput, committedLoad, countedPhases, newChargerModel, type BalancerModel, type ChargerModel, type ChargerWiring } from '../../balancer/balancer-model.js';
import { markSent, onConnection, onConnector, onMeter, onProfileResult, onReport, settleDue } from '../../balancer/charger-events.js';
import { limitProfile } from '../../balancer/charging-profile.js';
import { planDispatch, withSent, type Targets } from '../../balancer/dispatch-plan.js';
import { afterSent, INITIAL_PHASE_SWITCH, maySwitch, newSession } from '../../balancer/phase-switch.js';
import { validateRequest } from '../../ocpp/validator.js';
import { fairSettings } from '../support/allocation-arbitraries.js';
import { aCharger } from './allocate-fixtures.js';

const NOW = 10_000_000;
const HOLD = 300_000;
const settings = { ...fairSettings, phaseSwitchHoldMs: HOLD, maxPhaseSwitches: 5 };
const car = (id: string, over: Partial<ChargerInput> = {}): ChargerInput => aCharger({ id, phaseSwitch: INITIAL_PHASE_SWITCH, ...over });
const input = (limit: number, chargers: ChargerInput[]): AllocationInput => ({ now: NOW, phaseLimits: { L1: limit, L2: limit, L3: limit }, chargers, settings });
const byId = (i: AllocationInput) => new Map(allocate(i).allocations.map((a) => [a.id, a]));

describe('phase switching: allocate', () => {
  it('puts three cars whose 3x6 A do not fit a 3x10 A fuse on one phase each: terminal 1 decides which (phase rotation)', () => {
    const a = byId(input(10, [car('a', { phaseRotation: 'L1L2L3' }), car('b', { phaseRotation: 'L2L3L1' }), car('c', { phaseRotation: 'L3L1L2' })]));
    expect(a.get('a')).toMatchObject({ limit: 10, phases: ['L1'], numberPhases: 1, reason: 'charging' });
    expect(a.get('b')).toMatchObject({ limit: 10, phases: ['L2'], numberPhases: 1 });
    expect(a.get('c')).toMatchObject({ limit: 10, phases: ['L3'], numberPhases: 1 });
  });

  it('without the flag the same chargers never get numberPhases: one charges on three phases, the others wait', () => {
    const plain = (id: string, r: ChargerInput['phaseRotation']): ChargerInput => {
      const { phaseSwitch: _p, ...c } = car(id, { phaseRotation: r });
      return c;
    };
    const a = [...byId(input(10, [plain('a', 'L1L2L3'), plain('b', 'L2L3L1'), plain('c', 'L3L1L2')])).values()];
    expect(a.every((x) => x.numberPhases === undefined)).toBe(true);
    expect(a.filter((x) => x.limit > 0)).toEqual([{ id: 'a', limit: 10, phases: ['L1', 'L2', 'L3'], reason: 'charging' }]);
  });

  it('keeps three phases where the 3-phase minimum fits beside every other minimum', () => {
    const a = byId(input(32, [car('a'), car('b', { phaseRotation: 'L2L3L1' })]));
    expect(a.get('a')).toMatchObject({ limit: 16, phases: ['L1', 'L2', 'L3'], numberPhases: 3 });
    expect(a.get('b')).toMatchObject({ limit: 16, numberPhases: 3 });
  });

  it('goes back to three phases when room returns, only once the switch stood its hold', () => {
    const switched = { mode: 1 as const, switches: 1, lastSwitchAt: NOW - HOLD + 1 };
    expect(byId(input(32, [car('a', { phaseSwitch: switched, currentLimit: 16 })])).get('a')).toMatchObject({ numberPhases: 1, phases: ['L1'], limit: 16 });
    const held = { ...switched, lastSwitchAt: NOW - HOLD };
    expect(byId(input(32, [car('a', { phaseSwitch: held, currentLimit: 16 })])).get('a')).toMatchObject({ numberPhases: 3, phases: ['L1', 'L2', 'L3'], limit: 16 });
  });

  it('after maxPhaseSwitches a session stays where it is: on one phase with room, paused on three without', () => {
    const spent1 = { mode: 1 as const, switches: 5, lastSwitchAt: 0 };
    expect(byId(input(32, [car('a', { phaseSwitch: spent1, currentLimit: 16 })])).get('a')).toMatchObject({ numberPhases: 1, limit: 16 });
    const spent3 = { mode: 3 as const, switches: 5, lastSwitchAt: 0 };
    // a would leave room for b on one phase, but has no switch left: it keeps three, b waits.
    const both = byId(input(10, [car('a', { phaseSwitch: spent3, currentLimit: 10 }), car('b', { phaseRotation: 'L2L3L1', arrivedAt: NOW })]));
    expect(both.get('a')).toMatchObject({ numberPhases: 3, limit: 10, phases: ['L1', 'L2', 'L3'] });
    expect(both.get('b')).toMatchObject({ limit: 0, reason: 'paused' });
    expect(byId(input(5, [car('a', { phaseSwitch: spent3, currentLimit: 6 })])).get('a')).toMatchObject({ numberPhases: 3, limit: 0, reason: 'paused' });
  });

  it('respects a sub-board: a 1-phase session counts on its board only on that phase', () => {
    const i: AllocationInput = { ...input(63, [car('a', { circuitId: 'board' }), car('b', { circuitId: 'board', phaseRotation: 'L2L3L1' })]), circuits: [{ id: 'board', limits: { L1: 10, L2: 10, L3: 10 } }] };
    const r = allocate(i);
    expect(r.circuits?.[0]?.load).toEqual({ L1: 10, L2: 10, L3: 0 });
  });

  it('counts switches per session and holds them (pure state)', () => {
    let s = INITIAL_PHASE_SWITCH;
    s = afterSent(s, 3, 0, settings);
    expect(s).toBe(INITIAL_PHASE_SWITCH);
    s = afterSent(s, 1, 1_000, settings);
    expect(s).toMatchObject({ mode: 1, switches: 1, lastSwitchAt: 1_000 });
    expect(maySwitch(s, 1_000 + HOLD - 1, settings)).toBe(false);
    expect(maySwitch(s, 1_000 + HOLD, settings)).toBe(true);
    expect(newSession(s)).toEqual({ mode: 1, switches: 0 });
    expect(maySwitch({ mode: 3, switches: 5 }, NOW, settings)).toBe(false);
  });
});

// ---- dispatch: the order of the commands that switch ----

const wiring = (id: string, over: Partial<ChargerWiring> = {}): ChargerWiring => ({
  id,
  phases: 3,
  phaseRotation: 'L1L2L3',
  gridPhase: 'L1',
  minCurrent: 6,
  maxCurrent: 32,
  priority: 0,
  offlineCurrent: 'lastLimit',
  ...over,
});
const modelSettings: BalancerModel['settings'] = {
  ...fairSettings,
  settleMs: 1_000,
  lateAfterMs: 600,
  retryMs: 500,
  admissionWindowMs: 0,
  changesPerHour: 0,
  changeBurst: 6,
  idleAfterMs: 0,
  wakeProbeIntervalMs: 900_000,
  wakeProbeMs: 60_000,
  phaseSwitchHoldMs: HOLD,
  maxPhaseSwitches: 5,
};
/** Online with a car charging, its `limit` accepted. */
function charging(w: ChargerWiring, limit: number, meter: { t1: number; t2: number; t3: number }, phaseSwitch?: ChargerModel['phaseSwitch']): ChargerModel {
  let c = onConnector(onReport(onConnection(newChargerModel(w, limit), true), 0), 1, 'Charging', 0);
  c = { ...c, dispatch: { ...c.dispatch, needsProfile: false }, ...(phaseSwitch ? { phaseSwitch } : {}) };
  return onMeter(c, meter, 1, 3);
}
const model = (chargers: Record<string, ChargerModel>, limit: number): BalancerModel => ({ installationId: 'i', phaseLimits: { L1: limit, L2: limit, L3: limit }, settings: modelSettings, chargers });
/** Targets as allocate gives them: chargers that switch carry numberPhases; the counted phases follow. */
const targets = (t: Record<string, { limit: number; phases: ('L1' | 'L2' | 'L3')[]; numberPhases?: 1 | 3 }>): Targets => new Map(Object.entries(t));
const THREE = ['L1', 'L2', 'L3'] as ('L1' | 'L2' | 'L3')[];

describe('phase switching: dispatch order', () => {
  it('1 -> 3 is a raise on two phases: it waits until a decrease on those phases has settled', () => {
    // 3x20 A: b (3-phase, no flag) at 16 A; a on one phase (L1) at 4 A. Both go to 10 A, a on three phases.
    const a = charging(wiring('a', { phaseSwitching: true }), 4, { t1: 4, t2: 0, t3: 0 }, { mode: 1, switches: 1, lastSwitchAt: -HOLD });
    const b = charging(wiring('b'), 16, { t1: 16, t2: 16, t3: 16 });
    let m = model({ a, b }, 20);
    expect(countedPhases(a, 10)).toEqual(['L1']);
    const t = targets({ a: { limit: 10, phases: THREE, numberPhases: 3 }, b: { limit: 10, phases: THREE } });
    // b's decrease goes; a's switch would put L2 and L3 at 16 + 10 (b not settled yet): it waits.
    expect(planDispatch(m, t, 10)).toEqual([{ chargerId: 'b', limit: 10 }]);
    m = withSent(m, [{ chargerId: 'b', limit: 10 }], 10);
    m = { ...m, chargers: { ...m.chargers, b: onProfileResult(m.chargers.b!, 10, 'accepted', 20, 500) } };
    expect(planDispatch(m, t, 30)).toEqual([]);
    // The meter shows b at 10 A: settled; now a switches up, counted on three phases at once.
    m = { ...m, chargers: { ...m.chargers, b: onMeter(m.chargers.b!, { t1: 10, t2: 10, t3: 10 }, 40, 3) } };
    const cmds = planDispatch(m, t, 50);
    expect(cmds).toEqual([{ chargerId: 'a', limit: 10, numberPhases: 3 }]);
    m = withSent(m, cmds, 50);
    expect(countedPhases(m.chargers.a!, 50)).toEqual(THREE);
    expect(m.chargers.a!.phaseSwitch).toMatchObject({ mode: 3, switches: 2, lastSwitchAt: 50 });
    const load = committedLoad(m, 50);
    for (const p of THREE) expect(load[p]).toBeLessThanOrEqual(20);
  });

  it('1 -> 3 with less per phase lowers the limit on its one phase first', () => {
    const a = charging(wiring('a', { phaseSwitching: true }), 16, { t1: 16, t2: 0, t3: 0 }, { mode: 1, switches: 1, lastSwitchAt: -HOLD });
    const m = model({ a }, 32);
    expect(planDispatch(m, targets({ a: { limit: 8, phases: THREE, numberPhases: 3 } }), 10)).toEqual([{ chargerId: 'a', limit: 8, numberPhases: 1 }]);
  });

  it('3 -> 1 is a decrease on two phases: sent at once, at no more than its limit; a raise into the freed phases waits for the meter', () => {
    // 3x16 A: a (flag) at 10 A on three phases; c, a 1-phase charger on L2, at 6 A wants 16 A there.
    const a = charging(wiring('a', { phaseSwitching: true }), 10, { t1: 10, t2: 10, t3: 10 });
    const c = charging(wiring('c', { phases: 1, gridPhase: 'L2' }), 6, { t1: 6, t2: 0, t3: 0 });
    let m = model({ a, c }, 16);
    const t = targets({ a: { limit: 16, phases: ['L1'], numberPhases: 1 }, c: { limit: 16, phases: ['L2'] } });
    const first = planDispatch(m, t, 10);
    expect(first).toEqual([{ chargerId: 'a', limit: 10, numberPhases: 1 }]);
    m = withSent(m, first, 10);
    m = { ...m, chargers: { ...m.chargers, a: onProfileResult(m.chargers.a!, 10, 'accepted', 20, 500) } };
    // Accepted, but a still draws on L2 (its meter says so): c's raise waits.
    expect(countedPhases(m.chargers.a!, 30)).toEqual(THREE);
    expect(planDispatch(m, t, 30)).toEqual([]);
    // The car switched: a on L1 alone; now c's raise on L2 and a's raise on L1 go.
    m = { ...m, chargers: { ...m.chargers, a: onMeter(m.chargers.a!, { t1: 10, t2: 0, t3: 0 }, 40, 3) } };
    expect(planDispatch(m, t, 50)).toEqual([
      { chargerId: 'a', limit: 16, numberPhases: 1 },
      { chargerId: 'c', limit: 16 },
    ]);
  });

  it('through the model: the fuse cut gives numberPhases 1 (terminal 1 on L2 here), never to the charger without the flag', () => {
    const a = charging(wiring('a', { phaseSwitching: true, phaseRotation: 'L2L3L1', maxCurrent: 16 }), 16, { t1: 16, t2: 16, t3: 16 });
    const b = charging(wiring('b', { maxCurrent: 16 }), 0, { t1: 0, t2: 0, t3: 0 });
    const c = charging(wiring('c', { phaseSwitching: true, phaseRotation: 'L3L1L2', maxCurrent: 16 }), 0, { t1: 0, t2: 0, t3: 0 });
    let m = settleDue(model({ a, b, c }, 10), 100);
    const result = allocate(allocationInput(m, 100));
    const byCharger = new Map(result.allocations.map((x) => [x.id, x]));
    expect(byCharger.get('b')!.numberPhases).toBeUndefined();
    expect(byCharger.get('a')).toMatchObject({ numberPhases: 1, phases: ['L2'] });
    const cmds = planDispatch(m, new Map(result.allocations.map((x) => [x.id, { limit: x.limit, phases: x.phases, ...(x.numberPhases ? { numberPhases: x.numberPhases } : {}) }])), 100);
    expect(cmds.find((x) => x.chargerId === 'a')).toMatchObject({ numberPhases: 1 });
    expect(cmds.filter((x) => x.chargerId === 'b').every((x) => !('numberPhases' in x))).toBe(true);
    m = withSent(m, cmds, 100);
    expect(m.chargers.a!.phaseSwitch).toMatchObject({ mode: 1, switches: 1 });
  });

  it('a switch the charger rejects did not happen: the mode and count go back; an accepted one stays', () => {
    const c = charging(wiring('a', { phaseSwitching: true }), 10, { t1: 10, t2: 10, t3: 10 });
    const sent = markSent(c, 10, 100, modelSettings, 1);
    expect(sent.phaseSwitch).toMatchObject({ mode: 1, switches: 1 });
    const rejected = onProfileResult(sent, 10, 'rejected', 150, 500);
    expect(rejected.phaseSwitch).toEqual({ mode: 3, switches: 0 });
    expect(rejected).not.toHaveProperty('phaseSwitchBefore');
    const accepted = onProfileResult(sent, 10, 'accepted', 150, 500);
    expect(accepted.phaseSwitch).toMatchObject({ mode: 1, switches: 1 });
    expect(accepted).not.toHaveProperty('phaseSwitchBefore');
  });

  it('a new car starts a fresh count; the charger keeps the phases it was last told', () => {
    let c = charging(wiring('a', { phaseSwitching: true }), 10, { t1: 10, t2: 10, t3: 10 }, { mode: 1, switches: 4, lastSwitchAt: 5 });
    c = onConnector(onConnector(c, 1, 'Available', 10), 1, 'Preparing', 20);
    expect(c.phaseSwitch).toEqual({ mode: 1, switches: 0 });
    expect(markSent(c, 10, 30, modelSettings, 3).phaseSwitch).toMatchObject({ mode: 3, switches: 1, lastSwitchAt: 30 });
  });
});

describe('phase switching: the profile', () => {
  it('carries numberPhases only when given, and stays a valid SetChargingProfile', () => {
    const plain = limitProfile('TxDefaultProfile', 10, 0);
    expect(plain.csChargingProfiles.chargingSchedule.chargingSchedulePeriod).toEqual([{ startPeriod: 0, limit: 10 }]);
    const one = limitProfile('TxProfile', 10, 0, { transactionId: 3, connectorId: 1 }, 1);
    expect(one.csChargingProfiles.chargingSchedule.chargingSchedulePeriod).toEqual([{ startPeriod: 0, limit: 10, numberPhases: 1 }]);
    expect(validateRequest('SetChargingProfile', one)).toBeUndefined();
  });
});
