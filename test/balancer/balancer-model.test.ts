import { describe, expect, it } from 'vitest';
import { admissionLimits, withPhaseLimits } from '../../balancer/admission-window.js';
import { allocationInput, committedLoad, countedAs, countedValue, newChargerModel, nextWakeAt, type BalancerModel, type ChargerModel, type ChargerWiring } from '../../balancer/balancer-model.js';
import { markSent, onChargerEvent, onConnection, onConnector, onMeter, onProfileResult, onReport, onWithdrawn, settleDue, trackUnderDraw } from '../../balancer/charger-events.js';
import { asleepState, tokensAt } from '../../balancer/charger-clocks.js';
import type { DispatchState } from '../../balancer/dispatch-lifecycle.js';
import { planDispatch, withSent } from '../../balancer/dispatch-plan.js';
import { allocate } from '../../balancer/allocate.js';
import { limitProfile } from '../../balancer/charging-profile.js';
import type { ChargerEvent } from '../../core/events.js';
import { validateRequest } from '../../ocpp/validator.js';

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
/** A charger's command state set directly, to start a case from it. */
const withDispatch = (c: ChargerModel, d: Partial<DispatchState>): ChargerModel => ({ ...c, dispatch: { ...c.dispatch, ...d } });
/** Connected, reported, its profile in place. */
const online = (c: ChargerModel): ChargerModel => withDispatch(onReport(onConnection(c, true), 0), { needsProfile: false });
const settings: BalancerModel['settings'] = {
  deadbandA: 0.5,
  minChangeIntervalMs: 0,
  rotationIntervalMs: 600_000,
  minRunMs: 0,
  minPauseMs: 0,
  reclaimAfterMs: 60_000,
  reclaimHeadroomA: 2,
  reclaimThresholdA: 3,
  settleMs: 1_000,
  lateAfterMs: 600,
  retryMs: 500,
  admissionWindowMs: 0,
  changesPerHour: 0,
  changeBurst: 6,
  idleAfterMs: 0,
  wakeProbeIntervalMs: 900_000,
  wakeProbeMs: 60_000,
};
const model = (chargers: Record<string, ChargerModel>, limit = 32): BalancerModel => ({ installationId: 'i', phaseLimits: { L1: limit, L2: limit, L3: limit }, settings, chargers });
const targets = (t: Record<string, number>) => new Map(Object.entries(t).map(([id, limit]) => [id, { limit, phases: ['L1', 'L2', 'L3'] as const }]));

describe('balancer model', () => {
  it('counts an unknown charger at its maximum and an offline one at its last accepted limit', () => {
    expect(countedValue(newChargerModel(wiring('a'), undefined))).toBe(32);
    const c = onConnection(onProfileResult(markSent(online(newChargerModel(wiring('a'), 0)), 20, 0), 20, 'accepted', 1, 500), false);
    expect(c.dispatch.online).toBe(false);
    expect(countedValue(c)).toBe(20);
  });

  it('counts an offline charger paused at 0 A at 0 A, and one configured "max" at its maximum until its limit is accepted again', () => {
    const paused = (w: ChargerWiring) => onConnection(onProfileResult(markSent(online(newChargerModel(w, 10)), 0, 0), 0, 'accepted', 1, 500), false);
    const keeps = paused(wiring('a'));
    expect(countedAs(keeps)).toEqual({ value: 10, basis: 'offline: last limit' });
    const settled = onConnection(settleDue(model({ a: online(keeps) }), 10_000).chargers.a!, false);
    expect(countedAs(settled)).toEqual({ value: 0, basis: 'offline: last limit' });
    expect(committedLoad(model({ a: settled }), 10_000)).toEqual({ L1: 0, L2: 0, L3: 0 });
    const drops = onConnection(settleDue(model({ a: online(paused(wiring('d', { offlineCurrent: 'max' }))) }), 10_000).chargers.a!, false);
    expect(countedAs(drops)).toEqual({ value: 32, basis: 'offline: max' });
    const own = onConnection(settleDue(model({ a: online(paused(wiring('f', { offlineCurrent: 13 }))) }), 10_000).chargers.a!, false);
    expect(countedAs(own)).toEqual({ value: 13, basis: 'failsafe' });
    // Back online, it may still run at its maximum until it accepts (and settles) its limit again.
    const back = onConnection(drops, true);
    expect(countedAs(back)).toEqual({ value: 32, basis: 'limit' });
    expect(planDispatch(model({ d: back }), targets({ d: 0 }), 20_000)).toEqual([{ chargerId: 'd', limit: 0 }]);
    const accepted = onProfileResult(markSent(back, 0, 20_000), 0, 'accepted', 20_001, 500);
    expect(countedAs(accepted).value).toBe(32);
    expect(countedAs(onMeter(accepted, { t1: 0, t2: 0, t3: 0 }, 20_002, 3)).value).toBe(0);
  });

  it('times under-draw from a reading within the meter slack of the threshold, and reclaims only below the threshold', () => {
    // Limit 16 A, threshold 3 A, readings republished only after a 0.5 A move: 13.2 A may hide 12.8 A.
    const c = online(onConnector(newChargerModel(wiring('a', { maxCurrent: 16 }), 16), 1, 'Charging', 0));
    const m3 = (t: number, a: number, slack: number) => onMeter(c, { t1: a, t2: a, t3: a }, t, 3, 1, slack);
    expect(m3(1_000, 13.2, 0).underDrawSince).toBeUndefined();
    const early = m3(1_000, 13.2, 0.5);
    expect(early.underDrawSince).toBe(1_000);
    // 60 s later the reading still sits above the threshold: nothing is reclaimed.
    const still = allocate(allocationInput(model({ a: early }), 61_000)).allocations[0]!;
    expect(still).toMatchObject({ limit: 16, reason: 'charging' });
    // The next published reading is below it: reclaimed at once, the clock having run since 1 s.
    const below = onMeter(early, { t1: 12.8, t2: 12.8, t3: 12.8 }, 61_000, 3, 1, 0.5);
    expect(below.underDrawSince).toBe(1_000);
    expect(allocate(allocationInput(model({ a: below }), 61_000)).allocations[0]).toMatchObject({ limit: 14.8, reason: 'reclaimed' });
    // A reading back within the slack-reduced threshold stops the clock.
    expect(onMeter(below, { t1: 13.6, t2: 13.6, t3: 13.6 }, 62_000, 3, 1, 0.5).underDrawSince).toBeUndefined();
  });

  it('starts the under-draw clock when an offer rises above a draw that does not follow', () => {
    const c = online(onConnector(newChargerModel(wiring('a'), 6), 1, 'Charging', 0));
    const drawing = onMeter(c, { t1: 6, t2: 6, t3: 6 }, 1_000, 1);
    expect(drawing.underDrawSince).toBeUndefined();
    const raised = onProfileResult(markSent(drawing, 13, 2_000), 13, 'accepted', 2_100, 500);
    // No new reading comes (the car stays at 6 A): the clock starts with the raise.
    expect(trackUnderDraw(raised, 2_100, 1).underDrawSince).toBe(2_100);
    expect(trackUnderDraw(onMeter(raised, { t1: 12.5, t2: 12.5, t3: 12.5 }, 2_200, 1), 2_300, 1).underDrawSince).toBeUndefined();
  });

  it('counts an increase at its new value as soon as it is sent, and after a timeout', () => {
    const sent = markSent(online(newChargerModel(wiring('a'), 10)), 20, 0);
    expect(countedValue(sent)).toBe(20);
    expect(countedValue(onProfileResult(sent, 20, 'timeout', 5, 500))).toBe(20);
    expect(countedValue(onProfileResult(sent, 20, 'rejected', 5, 500))).toBe(10);
  });

  it('keeps a decrease at the old value until accepted and settled (by meter or by time)', () => {
    const sent = markSent(online(newChargerModel(wiring('a'), 20)), 10, 0);
    expect(countedValue(sent)).toBe(20);
    expect(countedValue(onProfileResult(sent, 10, 'rejected', 5, 500))).toBe(20);
    expect(countedValue(onProfileResult(sent, 10, 'timeout', 5, 500))).toBe(20);
    const accepted = onProfileResult(sent, 10, 'accepted', 5, 500);
    expect(countedValue(accepted)).toBe(20);
    expect(countedValue(onMeter(accepted, { t1: 15, t2: 15, t3: 15 }, 6, 3))).toBe(20);
    expect(countedValue(onMeter(accepted, { t1: 10.5, t2: 9, t3: 0 }, 6, 3))).toBe(10);
    const m = model({ a: accepted });
    expect(nextWakeAt(m, 5)).toBe(1_005);
    expect(countedValue(settleDue(m, 1_004).chargers.a!)).toBe(20);
    expect(countedValue(settleDue(m, 1_005).chargers.a!)).toBe(10);
  });

  it('does not settle an accepted decrease the charger shows it did not apply (its offer above the limit), and sends it again', () => {
    const accepted = onProfileResult(markSent(online(newChargerModel(wiring('a'), 10)), 6.7, 0), 6.7, 'accepted', 5, 500);
    // Still drawing 10 A and offering 10 A: ignored. Counted at 10 A past the settle time, and resent.
    const ignored = onMeter(accepted, { t1: 10, t2: 10, t3: 10, offered: 10 }, 500, 3);
    expect(countedValue(settleDue(model({ a: ignored }), 10_000).chargers.a!)).toBe(10);
    expect(planDispatch(model({ a: ignored }), new Map([['a', { limit: 6.7, phases: ['L1', 'L2', 'L3'] as const }]]), 600)).toEqual([{ chargerId: 'a', limit: 6.7 }]);
    // Offering 6.7 A while the car still draws 10 A: slowing down; settles by time.
    const slowing = onMeter(accepted, { t1: 10, t2: 10, t3: 10, offered: 6.7 }, 500, 3);
    expect(countedValue(settleDue(model({ a: slowing }), 10_000).chargers.a!)).toBe(6.7);
  });

  it('sends decreases at once and holds the increase that needs their room until they settle', () => {
    const a = online(onConnector(newChargerModel(wiring('a'), 32), 1, 'Charging', 0));
    const b = online(onConnector(newChargerModel(wiring('b'), 0), 1, 'Charging', 0));
    let m = model({ a, b });
    expect(planDispatch(m, targets({ a: 16, b: 16 }), 0)).toEqual([{ chargerId: 'a', limit: 16 }]);
    m = model({ a: onProfileResult(markSent(a, 16, 0), 16, 'accepted', 1, 500), b });
    expect(planDispatch(m, targets({ a: 16, b: 16 }), 2)).toEqual([]);
    m = settleDue(m, 1_001);
    expect(committedLoad(m, 1_001)).toEqual({ L1: 16, L2: 16, L3: 16 });
    expect(planDispatch(m, targets({ a: 16, b: 16 }), 1_001)).toEqual([{ chargerId: 'b', limit: 16 }]);
  });

  it('raises nothing for a charger without fresh data, and gives a connecting charger its safe default', () => {
    const stale = withDispatch(online(onConnector(newChargerModel(wiring('a'), 0), 1, 'Charging', 0)), { fresh: false });
    expect(planDispatch(model({ a: stale }), targets({ a: 16 }), 0)).toEqual([]);
    const reconnected = onConnection(newChargerModel(wiring('b'), 0), true);
    expect(planDispatch(model({ b: reconnected }), targets({ b: 0 }), 0)).toEqual([{ chargerId: 'b', limit: 0 }]);
  });

  it('tracks arrival, pause and run times for rotation', () => {
    let c = online(newChargerModel(wiring('a'), 0));
    c = onConnector(c, 1, 'Preparing', 100);
    expect(c.arrivedAt).toBe(100);
    c = onProfileResult(markSent(c, 16, 200), 16, 'accepted', 200, 500);
    expect(c.runningSince).toBe(200);
    c = onProfileResult(markSent(c, 0, 300), 0, 'accepted', 300, 500);
    c = settleDue(model({ a: c }), 1_300).chargers.a!;
    expect(c.pausedSince).toBe(1_300);
    expect(c.runningSince).toBeUndefined();
    c = onConnector(c, 1, 'Available', 1_400);
    expect(c.arrivedAt).toBeUndefined();
  });

  it('remembers the phase limits of the admission window and wakes when a low leaves it', () => {
    const s = { ...settings, admissionWindowMs: 60_000 };
    const at = (v: number) => ({ L1: v, L2: v, L3: v });
    let m: BalancerModel = { ...model({}), settings: s };
    m = withPhaseLimits(m, at(28), 0);
    m = withPhaseLimits(m, at(20), 30_000);
    m = withPhaseLimits(m, at(28), 60_000);
    expect(m.phaseLimits).toEqual(at(28));
    expect(admissionLimits(m, 60_000)).toEqual(at(20));
    expect(admissionLimits(m, 119_999)).toEqual(at(20));
    expect(admissionLimits(m, 120_000)).toEqual(at(28));
    // The first entry leaves the window at 90 s (no change), the low at 120 s.
    expect(nextWakeAt(m, 60_000)).toBe(90_000);
    expect(nextWakeAt(m, 90_000)).toBe(120_000);
    // Old entries are dropped as the window moves on.
    m = withPhaseLimits(m, at(28), 200_000);
    expect(m.limitHistory).toEqual([{ from: 60_000, limits: at(28) }]);
    expect(allocationInput(m, 200_000).admissionLimits).toEqual(at(28));
  });

  it('spends the change budget per command and holds raises until two tokens are back', () => {
    const s = { ...settings, changesPerHour: 60, changeBurst: 3 };
    let c = online(onConnector(newChargerModel(wiring('a'), 0), 1, 'Charging', 0));
    expect(tokensAt(c, 0, s)).toBe(3);
    c = onProfileResult(markSent(c, 10, 0, s), 10, 'accepted', 0, 500);
    c = onProfileResult(markSent(c, 12, 0, s), 12, 'accepted', 0, 500);
    expect(tokensAt(c, 0, s)).toBe(1);
    const m: BalancerModel = { ...model({ a: c }), settings: s };
    // One token per minute: the second is back after 60 s.
    expect(allocationInput(m, 0).chargers[0]?.raiseHeldUntil).toBe(60_000);
    expect(nextWakeAt(m, 0)).toBe(60_000);
    expect(allocationInput(m, 60_000).chargers[0]?.raiseHeldUntil).toBeUndefined();
    // Under half the burst left: the allocator is told the budget runs low (its decreases take a margin).
    expect(allocationInput({ ...m, chargers: { a: online(onConnector(newChargerModel(wiring('a'), 0), 1, 'Charging', 0)) } }, 0).chargers[0]?.budgetLow).toBeUndefined();
    expect(allocationInput(m, 0).chargers[0]?.budgetLow).toBe(true);
    expect(allocationInput(m, 30_000).chargers[0]?.budgetLow).toBeUndefined();
    // Spending never goes below zero, and the bucket never holds more than the burst.
    expect(tokensAt(markSent(markSent(c, 0, 0, s), 0, 0, s), 0, s)).toBe(0);
    expect(tokensAt(c, 10 * 3_600_000, s)).toBe(3);
  });

  it('puts a car that draws nothing to sleep and probes it until it draws again', () => {
    const s = { ...settings, rotationIntervalMs: 3_600_000, idleAfterMs: 300_000, wakeProbeIntervalMs: 900_000, wakeProbeMs: 60_000 };
    let c: ChargerModel = withDispatch(online(onConnector(newChargerModel(wiring('a'), 0), 1, 'SuspendedEV', 0)), { granted: 6 });
    c = onMeter(c, { t1: 0, t2: 0, t3: 0 }, 1_000, 3);
    expect(c.noDrawSince).toBe(1_000);
    // Not while paused: a car offered nothing says nothing by drawing nothing.
    expect(onMeter({ ...withDispatch(c, { granted: 0 }), noDrawSince: undefined }, { t1: 0 }, 2_000, 3).noDrawSince).toBeUndefined();
    expect(asleepState(c, 300_999, s)).toBeUndefined();
    expect(asleepState(c, 301_000, s)).toBe('sleeping');
    expect(asleepState(c, 301_000 + 840_000, s)).toBe('probing');
    expect(asleepState(c, 301_000 + 900_000, s)).toBe('sleeping');
    expect(nextWakeAt({ ...model({ a: c }), settings: s }, 302_000)).toBe(301_000 + 840_000);
    // Drawing again ends it; a new car starts afresh.
    expect(onMeter(c, { t1: 6, t2: 6, t3: 6 }, 1_200_000, 3).noDrawSince).toBeUndefined();
    expect(onConnector(c, 1, 'Available', 5).noDrawSince).toBeUndefined();
    expect(allocationInput({ ...model({ a: c }), settings: s }, 400_000).chargers[0]?.asleep).toBe('sleeping');
  });

  it('counts a charger off the top only once its change is late, not while it is merely in flight or settling', () => {
    const c = online(onConnector(newChargerModel(wiring('a'), 16), 1, 'Charging', 0));
    const sent = markSent(c, 8, 1_000, settings);
    expect(allocationInput(model({ a: sent }), 1_599).chargers[0]?.online).toBe(true);
    expect(allocationInput(model({ a: sent }), 1_600).chargers[0]?.online).toBe(false);
    expect(nextWakeAt(model({ a: sent }), 1_001)).toBe(1_600);
    const settling = onProfileResult(sent, 8, 'accepted', 1_100, 500);
    // The allocator measures its deadband from what the charger was told (8); the model still counts 16.
    expect(allocationInput(model({ a: settling }), 1_900).chargers[0]).toMatchObject({ online: true, currentLimit: 8 });
    expect(countedValue(settling)).toBe(16);
    expect(allocationInput(model({ a: sent }), 1_600).chargers[0]).toMatchObject({ online: false, currentLimit: 16 });
  });

  it('shows the allocator a commanded pause as paused and a commanded start as running, from the command on', () => {
    const c = online(onConnector(newChargerModel(wiring('a'), 16), 1, 'Charging', 0));
    const pausing = onProfileResult(markSent({ ...c, runningSince: 0 }, 0, 1_000, settings), 0, 'accepted', 1_100, 500);
    expect(allocationInput(model({ a: pausing }), 1_200).chargers[0]).toMatchObject({ currentLimit: 0, pausedSince: 1_100 });
    const starting = markSent(online(onConnector(newChargerModel(wiring('b'), 0), 1, 'Charging', 0)), 10, 2_000, settings);
    expect(allocationInput(model({ b: starting }), 2_100).chargers[0]).toMatchObject({ currentLimit: 10, runningSince: 2_000 });
  });

  it('builds SetChargingProfile payloads that the official schema accepts', () => {
    for (const purpose of ['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile'] as const) {
      const p = limitProfile(purpose, 13.37, Date.parse('2026-01-01T00:00:00Z'), { transactionId: 5, connectorId: 1 });
      expect(validateRequest('SetChargingProfile', p)).toBeUndefined();
      expect(p.csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0]!.limit).toBe(13.3);
    }
    expect(limitProfile('TxProfile', 6, 0).csChargingProfiles.chargingProfilePurpose).toBe('TxDefaultProfile');
    expect(limitProfile('TxProfile', 6, 0, { transactionId: 9, connectorId: 2 })).toMatchObject({ connectorId: 2, csChargingProfiles: { transactionId: 9 } });
  });
});

describe('safe default profile', () => {
  it('re-sends the counted limit to a reconnected charger whose raise must wait', () => {
    const a = online(onConnector(newChargerModel(wiring('a'), 32), 1, 'Charging', 0));
    const b = onReport(onConnection(onConnector(newChargerModel(wiring('b'), 0), 1, 'Charging', 0), true), 0);
    const m = model({ a, b });
    // b wants 16 but a still holds 32: b gets its 0 A again now, the raise later.
    expect(planDispatch(m, targets({ a: 16, b: 16 }), 0)).toEqual([
      { chargerId: 'a', limit: 16 },
      { chargerId: 'b', limit: 0 },
    ]);
  });
});

describe('charger events', () => {
  const ids = { chargerId: 'a', installationId: 'i' };
  const meter = { thresholdA: 3, slackA: 0 };
  const tx = (event: 'started' | 'stopped', transactionId: number): ChargerEvent => ({ ...ids, kind: 'transaction', event, transactionId, connectorId: 1, at: '' });
  it('a boot sends the limit again; a stop ends only its own transaction', () => {
    const c = online(onConnector(newChargerModel(wiring('a'), 16), 1, 'Charging', 0));
    expect(onChargerEvent(c, { ...ids, kind: 'boot', status: 'Accepted', at: '' }, 1, meter).dispatch.needsProfile).toBe(true);
    const started = onChargerEvent(c, tx('started', 7), 1, meter);
    expect(started).toMatchObject({ activeTx: { transactionId: 7, connectorId: 1 } });
    expect(onChargerEvent(started, tx('stopped', 8), 2, meter)).toBe(started);
    expect(onChargerEvent(started, tx('stopped', 7), 2, meter).activeTx).toBeUndefined();
  });

  it('a new transaction sends the limit again only when the charger may not hold it', () => {
    const plugged = (w: ChargerWiring): ChargerModel => onConnector(newChargerModel(w, 16), 1, 'Preparing', 0);
    // Accepted on this connection (a TxDefaultProfile outlives transactions): no second profile.
    const holds = online(plugged(wiring('a')));
    expect(onChargerEvent(holds, tx('started', 7), 1, meter).dispatch).toMatchObject({ needsProfile: false, fresh: true });
    // Connected, its profile not yet accepted (the connect profile in flight or not sent): still owed.
    const owed = onReport(onConnection(plugged(wiring('a')), true), 0);
    expect(onChargerEvent(owed, tx('started', 7), 1, meter).dispatch.needsProfile).toBe(true);
    const inFlight = markSent(owed, 16, 0);
    const answeredAfterStart = onProfileResult(onChargerEvent(inFlight, tx('started', 7), 1, meter), 16, 'accepted', 2, 500);
    expect(answeredAfterStart.dispatch.needsProfile).toBe(false);
    // Reconnected after holding it: the reconnect owes it again, whatever the transaction does.
    const back = onConnection(onConnection(holds, false), true);
    expect(onChargerEvent(back, tx('started', 7), 1, meter).dispatch.needsProfile).toBe(true);
    // Drawing above its limit: it does not hold it.
    const over = onMeter(holds, { t1: 20, t2: 20, t3: 20 }, 1, 3);
    expect(onChargerEvent({ ...over, dispatch: { ...over.dispatch, needsProfile: false } }, tx('started', 7), 2, meter).dispatch.needsProfile).toBe(true);
    // A TxProfile ends with its transaction, and firmware that ignores its default until told in the
    // session (resendProfileOnTransaction): those get it again.
    const resend = online(plugged(wiring('a', { resendOnTransaction: true })));
    expect(onChargerEvent(resend, tx('started', 7), 1, meter).dispatch.needsProfile).toBe(true);
  });

  it('status, meter and connection events reach the model', () => {
    const c = online(newChargerModel(wiring('a'), 16));
    expect(onChargerEvent(c, { ...ids, kind: 'status', connectorId: 1, status: 'Preparing', errorCode: 'NoError', timestamp: '' }, 5, meter).arrivedAt).toBe(5);
    expect(onChargerEvent(c, { ...ids, kind: 'meter', connectorId: 1, currents: { t1: 20 }, timestamp: '' }, 5, meter).dispatch).toMatchObject({ granted: 20, overLimit: true });
    expect(onChargerEvent(c, { ...ids, kind: 'connection', nodeId: 'n', connected: false, connectionId: 'x', at: '' }, 5, meter).dispatch.online).toBe(false);
  });

  it('a raise that never left (its worst case not persisted, the lease lapsed) is withdrawn: counted at what the charger holds, and planned again', () => {
    const budgeted = { ...settings, changesPerHour: 40, changeBurst: 10 };
    const at10 = online(onProfileResult(markSent(online(newChargerModel(wiring('a'), 0)), 10, 0), 10, 'accepted', 1, 500));
    const m: BalancerModel = { ...model({ a: at10 }), settings: budgeted };
    const raise = planDispatch(m, targets({ a: 16 }), 1_000);
    expect(raise).toEqual([{ chargerId: 'a', limit: 16 }]);
    const marked = withSent(m, raise, 1_000).chargers.a!;
    expect(countedValue(marked)).toBe(16);
    // Withdrawn: counted at what it holds, the budget token given back, and the raise planned again.
    const withdrawn = onWithdrawn(marked, 16, 1_000, budgeted);
    expect(countedValue(withdrawn)).toBe(10);
    expect(tokensAt(withdrawn, 1_000, budgeted)).toBeCloseTo(tokensAt(at10, 1_000, budgeted));
    expect(planDispatch({ ...m, chargers: { a: withdrawn } }, targets({ a: 16 }), 1_001)).toEqual([{ chargerId: 'a', limit: 16 }]);
    // Counted as unanswered instead (as it once was), the raise counts as maybe applied: its target
    // equals what it is counted at, and it is never planned again.
    const unanswered = settleDue({ ...m, chargers: { a: onProfileResult(marked, 16, 'timeout', 1_000, 500) } }, 2_000);
    expect(planDispatch(unanswered, targets({ a: 16 }), 2_000)).toEqual([]);
  });
});
