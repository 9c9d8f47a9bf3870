/**
 * The events that move one charger's model (`balancer-model.ts`): connector states, connections,
 * reports, meter samples, commands sent and their answers. Each returns a new model; no I/O, no clock.
 */
import type { ChargerEvent } from '../core/events.js';
import type { ChargerLiveStatus } from '../core/model.js';
import { countedValue, phaseSwitchOf, wantsEnergy, type BalancerModel, type ChargerModel, type ModelSettings } from './balancer-model.js';
import { tokensAt } from './charger-clocks.js';
import { holdsItsLimit, inFlightOf, transition, type DispatchEvent, type DispatchTuning, type ProfileOutcome } from './dispatch-lifecycle.js';
import type { Overtaken } from './event-order.js';
import { DRAWING_A } from './phases.js';
import { afterOnePhaseSent, afterReconnect, afterSent, newSession } from './phase-switch.js';

/**
 * Moves the command lifecycle, and when a limit took effect (an accepted raise, a settled decrease)
 * the clocks that hang on it: the last change, and the run or pause of the session.
 */
function step(c: ChargerModel, e: DispatchEvent, now: number, t: DispatchTuning): ChargerModel {
  const dispatch = transition(c.dispatch, e, now, t);
  if (dispatch === c.dispatch) return c;
  const next: ChargerModel = { ...c, dispatch };
  if (dispatch.applied === c.dispatch.applied) return next;
  const before = c.dispatch.granted ?? 0;
  const value = dispatch.granted ?? 0;
  if (value !== before) next.lastChangeAt = now;
  if (value > 0 && before <= 0) {
    next.runningSince = now;
    delete next.pausedSince;
  } else if (value <= 0 && before > 0) {
    delete next.runningSince;
    if (wantsEnergy(c)) next.pausedSince = now;
  }
  return next;
}

/** For events whose transition reads no timing (connection, reports, meter readings, sends). */
const UNTIMED: DispatchTuning = { settleMs: Infinity, retryMs: 0 };

export function onConnector(c: ChargerModel, connectorId: number, status: string, now: number): ChargerModel {
  const before = wantsEnergy(c);
  const next = { ...step(c, { kind: 'reported' }, now, UNTIMED), connectors: { ...c.connectors, [connectorId]: status } };
  const after = wantsEnergy(next);
  if (after === before) return next;
  // A new session is a new car: the last car's phases and draw say nothing about it.
  const { measured: _m, underDrawSince: _u, noDrawSince: _n, ...fresh } = next;
  // A new car gets a fresh count of switches; the charger keeps the phases it was last told.
  if (after) return { ...fresh, arrivedAt: now, ...(c.phaseSwitch ? { phaseSwitch: newSession(c.phaseSwitch) } : {}) };
  const { arrivedAt: _a, pausedSince: _p, ...rest } = fresh;
  return rest;
}

export function onConnection(c: ChargerModel, connected: boolean): ChargerModel {
  const { maxCurrent, offlineCurrent } = c.wiring;
  const next = step(c, connected ? { kind: 'connected', maxCurrent, offlineCurrent } : { kind: 'disconnected', maxCurrent }, 0, UNTIMED);
  return connected ? noOneStart(next) : next;
}

/** Fresh data from the charger (a live-status sync); with `profileLost`, a boot or a new transaction. */
export function onReport(c: ChargerModel, now: number, profileLost = false): ChargerModel {
  const next = step(c, { kind: profileLost ? 'profileLost' : 'reported' }, now, UNTIMED);
  return profileLost ? noOneStart(next) : next;
}

/**
 * A new leader's sync: the charger's live status from the node that holds it. Its reading counts
 * only if taken in the current session (both times are the charger's clock): the node keeps the last
 * reading after a car leaves, and a new leader took the previous car's 6.6 A for a charger told 0 A
 * as over its limit, counted it at 7 A and re-sent it 7 A, unchecked, over a full fuse. `draw`: the
 * reading for the grid's record. `overtaken`: the parts of the reply that events newer than it
 * already set, left out (a car plugged in just then was set back to Available by the reply, and
 * never raised).
 */
export function onLiveStatus(current: ChargerModel, live: ChargerLiveStatus, now: number, meter: { thresholdA: number; slackA: number }, overtaken?: Overtaken): { model: ChargerModel; draw?: { measured: ChargerLiveStatus['measured']; at: number } } {
  let c = onConnection(current, true);
  if (overtaken) live = { ...live, connectors: live.connectors.filter((k) => !overtaken.connector(k.connectorId)), measured: overtaken.reading ? {} : live.measured };
  for (const k of live.connectors) c = onConnector(c, k.connectorId, k.status, now);
  const tx = live.activeTransactions[0];
  const at = live.measured.at ? Date.parse(live.measured.at) : NaN;
  const ofThisSession = tx !== undefined && at >= Date.parse(tx.startedAt);
  if (ofThisSession) c = onMeter(c, live.measured, at, meter.thresholdA, 1, meter.slackA);
  c = onReport(c, now);
  if (tx) c = { ...c, activeTx: { transactionId: tx.transactionId, connectorId: tx.connectorId } };
  return ofThisSession ? { model: c, draw: { measured: live.measured, at } } : { model: c };
}

/** Connected again or booted: no longer counted on terminal 1 alone (it may run a failsafe on three). */
const noOneStart = (c: ChargerModel): ChargerModel => (c.phaseSwitch?.oneSince === undefined ? c : { ...c, phaseSwitch: afterReconnect(c.phaseSwitch)! });

/**
 * A meter sample (A per terminal). Settles a pending decrease once the draw shows it, and tracks
 * under-draw. `slackA`: readings reach the balancer only when they moved by that much (or grew old),
 * so a car drifting down crosses the reclaim threshold up to a meter-event age before the balancer
 * sees it. The under-draw clock therefore starts at a reading within `slackA` of the threshold;
 * `allocate` still reclaims only on a reading below the threshold itself.
 */
export function onMeter(c: ChargerModel, m: { t1?: number; t2?: number; t3?: number; offered?: number }, at: number, thresholdA: number, toleranceA = 1, slackA = 0): ChargerModel {
  const measured = { t1: m.t1 ?? 0, t2: m.t2 ?? 0, t3: m.t3 ?? 0, at };
  const top = Math.max(measured.t1, measured.t2, measured.t3);
  let next = step({ ...c, measured }, { kind: 'meter', top, toleranceA, ...(m.offered !== undefined ? { offered: m.offered } : {}) }, at, UNTIMED);
  const offer = countedValue(next);
  if (top >= DRAWING_A) {
    if (next.noDrawSince !== undefined) {
      const { noDrawSince: _n, ...rest } = next;
      next = rest;
    }
  } else if (next.noDrawSince === undefined && offer >= next.wiring.minCurrent && offer > 0 && !inFlightOf(next.dispatch)) {
    next = { ...next, noDrawSince: at };
  }
  return trackUnderDraw(next, at, thresholdA, slackA);
}

/**
 * Starts or stops the under-draw clock from the last reading against the offer. Run on every reading
 * and when an offer rises: a car that keeps drawing its own 8 A when offered more sends no new
 * reading (it did not move), so without this its clock started only at the next max-age reading.
 */
export function trackUnderDraw(c: ChargerModel, at: number, thresholdA: number, slackA = 0): ChargerModel {
  const offer = countedValue(c);
  const m = c.measured;
  if (!m) return c;
  const top = Math.max(m.t1, m.t2, m.t3);
  if (offer > 0 && top < offer - Math.max(0, thresholdA - slackA)) {
    if (c.underDrawSince === undefined) return { ...c, underDrawSince: at };
  } else if (c.underDrawSince !== undefined) {
    const { underDrawSince: _u, ...rest } = c;
    return rest;
  }
  return c;
}

/**
 * A charger event from NATS applied to its model. `meter`: the reclaim threshold and the slack of
 * published readings (see `onMeter`). After a connect the shell also asks the charger for its live status.
 */
export function onChargerEvent(c: ChargerModel, e: ChargerEvent, now: number, meter: { thresholdA: number; slackA: number }): ChargerModel {
  switch (e.kind) {
    case 'status':
      return onConnector(c, e.connectorId, e.status, now);
    case 'meter':
      return onMeter(c, { ...e.currents, ...(e.offered !== undefined ? { offered: e.offered } : {}) }, now, meter.thresholdA, 1, meter.slackA);
    case 'connection':
      return onConnection(c, e.connected);
    case 'transaction': {
      // A charger that accepted its limit on this connection still holds it for the new transaction
      // (a TxDefaultProfile or ChargePointMaxProfile outlives transactions, OCPP 1.6 3.13.2): sending
      // it again would only spend a profile. A TxProfile ends with its transaction, and some firmware
      // starts at full current until told: those (`resendOnTransaction`) get it again.
      if (e.event === 'started') return { ...onReport(c, now, c.wiring.resendOnTransaction === true || !holdsItsLimit(c.dispatch)), activeTx: { transactionId: e.transactionId, connectorId: e.connectorId } };
      if (c.activeTx?.transactionId !== e.transactionId) return c;
      const { activeTx: _t, ...rest } = c;
      return rest;
    }
    case 'boot':
      // A charger that (re)booted may have lost its profiles: it gets its limit again.
      return onReport(c, now, true);
  }
}

/** Time passed: settles decreases whose settle time passed, ends retry waits that ran out. */
export function settleDue(model: BalancerModel, now: number): BalancerModel {
  let changed = false;
  const chargers: Record<string, ChargerModel> = {};
  for (const [id, c] of Object.entries(model.chargers)) {
    chargers[id] = step(c, { kind: 'tick' }, now, model.settings);
    if (chargers[id] !== c) changed = true;
  }
  return changed ? { ...model, chargers } : model;
}

/**
 * The answer to the SetChargingProfile sent at `sentAt` (by default: the one in flight); ignored
 * unless that command is still in flight.
 */
export function onProfileResult(c: ChargerModel, value: number, outcome: ProfileOutcome, now: number, retryMs: number, sentAt = inFlightOf(c.dispatch)?.sentAt ?? NaN): ChargerModel {
  const next = step(c, { kind: 'answered', value, sentAt, outcome }, now, { settleMs: Infinity, retryMs });
  if (next === c || c.phaseSwitchBefore === undefined) return next;
  // A switch the charger refused did not happen (a timeout may have: it stays counted as sent).
  const { phaseSwitchBefore: before, ...rest } = next;
  return outcome === 'rejected' ? { ...rest, phaseSwitch: before } : rest;
}

/**
 * A command sent: counted at once if it raises, and paid for from the change budget (when `s` has
 * one). `numberPhases` (chargers that may switch): a different mode counts one switch.
 */
export function markSent(c: ChargerModel, limit: number, now: number, s?: ModelSettings, numberPhases?: 1 | 3): ChargerModel {
  let next = step(c, { kind: 'sent', value: limit }, now, UNTIMED);
  if (next === c) return c;
  const ps = phaseSwitchOf(c);
  // Only the command in flight may be undone: an earlier switch's fate is no longer known.
  const { phaseSwitchBefore: _b, ...rest } = next;
  if (ps && numberPhases !== undefined && numberPhases !== ps.mode) next = { ...rest, phaseSwitch: afterOnePhaseSent(afterSent(ps, numberPhases, now, s ?? {}), countedValue(c), now), phaseSwitchBefore: ps };
  else if (ps && numberPhases === 1) next = { ...rest, phaseSwitch: afterOnePhaseSent(ps, countedValue(c), now) };
  else next = rest;
  const tokens = s ? tokensAt(c, now, s) : Infinity;
  return tokens !== Infinity ? { ...next, budget: { tokens: Math.max(0, tokens - 1), at: now } } : next;
}

/**
 * A command marked sent at `sentAt` that never left (`withdrawn`): back to what the charger was told
 * before, its phase mode as it was, and the change-budget token it was charged given back. Counted
 * as unanswered instead, a raise never sent counted as applied, so its target equalled what the
 * charger was counted at and the raise was never planned again.
 */
export function onWithdrawn(c: ChargerModel, value: number, sentAt: number, s: ModelSettings): ChargerModel {
  const next = step(c, { kind: 'withdrawn', value, sentAt }, sentAt, UNTIMED);
  if (next === c) return c;
  const { phaseSwitchBefore: before, ...rest } = next;
  const restored: ChargerModel = before !== undefined ? { ...rest, phaseSwitch: before } : rest;
  return restored.budget ? { ...restored, budget: { tokens: Math.min(s.changeBurst, restored.budget.tokens + 1), at: restored.budget.at } } : restored;
}

