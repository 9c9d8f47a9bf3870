/**
 * The balancer's memory of one installation, and the pure rules that move it: what each charger
 * wants and draws, and its command lifecycle (`dispatch-lifecycle.ts`: what it is counted at, which
 * SetChargingProfile is in flight or settling). The shell (`installation-balancer.ts`) feeds events
 * in and executes the commands `planDispatch` (`dispatch-plan.ts`) returns; nothing here does I/O or
 * reads the clock.
 */
import type { ChargerInput as AllocChargerInput, AllocationSettings, CircuitInput, Phase, PhaseCurrents } from './allocation-types.js';
import type { ChargerEvent } from '../core/events.js';
import type { BalancerSettings, OfflineCurrent } from '../core/model.js';
import { admissionDeadlines, admissionLimits } from './admission-window.js';
import { asleepState, nextAsleepChange, raiseHeldUntil, tokensAt } from './charger-clocks.js';
import {
  countedLimit,
  dispatchDeadlines,
  initialDispatch,
  inFlightOf,
  isLate,
  isRetrying,
  lastCommanded,
  settlingOf,
  transition,
  type DispatchEvent,
  type DispatchState,
  type DispatchTuning,
  type ProfileOutcome,
} from './dispatch-lifecycle.js';
import { offlineWorstCase, type OfflineBasis } from './offline-current.js';
import { countedMask, DRAWING_A, phasesOf, wiringOf } from './phases.js';

/** Connector states in which a car is plugged in and wants (or may soon want) energy. */
const WANTS_ENERGY = new Set(['Preparing', 'Charging', 'SuspendedEV', 'SuspendedEVSE']);

export interface ChargerWiring {
  id: string;
  phases: 1 | 3;
  phaseRotation: AllocChargerInput['phaseRotation'];
  gridPhase: Phase;
  minCurrent: number;
  maxCurrent: number;
  priority: number;
  offlineCurrent: OfflineCurrent;
  /** The circuit it is wired to (`BalancerModel.circuits`); absent: the installation's fuse. */
  circuitId?: string;
}

export interface ChargerModel {
  wiring: ChargerWiring;
  /** Connection, freshness and the SetChargingProfile lifecycle: moved only by `transition`. */
  dispatch: DispatchState;
  connectors: Record<number, string>;
  arrivedAt?: number;
  activeTx?: { transactionId: number; connectorId: number };
  measured?: { t1: number; t2: number; t3: number; at: number };
  /** When a limit that took effect last changed the limit in force. */
  lastChangeAt?: number;
  pausedSince?: number;
  runningSince?: number;
  underDrawSince?: number;
  /** Since when the car draws nothing (< 1 A on every phase) although offered its minimum or more. */
  noDrawSince?: number;
  /** Change budget: tokens left at `at` (see `charger-clocks.ts`). Undefined = full. */
  budget?: { tokens: number; at: number };
  cap?: number;
}

/** The installation's balancer settings (but the margin, applied to the phase limits) and the node's tuning. */
export type ModelSettings = AllocationSettings &
  Omit<BalancerSettings, 'safetyMarginA' | 'failsafeCurrent' | 'fuseDedicatedToChargers'> & {
    /** An unanswered change older than this is late: its charger is counted off the top. */
    lateAfterMs: number;
    retryMs: number;
  };

export interface BalancerModel {
  installationId: string;
  /** Per-phase current available to chargers (fuse - margin, or the dynamic limit when lower). */
  phaseLimits: PhaseCurrents;
  /** Phase limits in force since `from`, oldest first, back to the start of the admission window. */
  limitHistory?: readonly { from: number; limits: PhaseCurrents }[];
  settings: ModelSettings;
  chargers: Record<string, ChargerModel>;
  /** Circuits below the fuse with the limits in force for their chargers (absent: a flat installation). */
  circuits?: readonly CircuitInput[];
}

export function newChargerModel(wiring: ChargerWiring, granted: number | undefined): ChargerModel {
  return { wiring, dispatch: initialDispatch(granted), connectors: {} };
}

export function wantsEnergy(c: ChargerModel): boolean {
  return Object.values(c.connectors).some((s) => WANTS_ENERGY.has(s));
}

/** The worst current the charger may draw now, per phase. */
export function countedValue(c: ChargerModel): number {
  return countedLimit(c.dispatch, c.wiring.maxCurrent);
}

/** Why a charger is counted at its value, as the status shows it. */
export type CountedBasis = OfflineBasis | 'limit' | 'raise in flight' | 'over limit: draw';

/**
 * What the charger is counted at in the committed load, and why: an offline charger at what it will
 * do offline (`offline-current.ts`), an online one at `countedValue`.
 */
export function countedAs(c: ChargerModel): { value: number; basis: CountedBasis } {
  const d = c.dispatch;
  if (!d.online) return offlineWorstCase(d.granted, c.wiring.maxCurrent, c.wiring.offlineCurrent);
  const value = countedValue(c);
  const inFlight = inFlightOf(d);
  if (d.granted === undefined && !inFlight) return { value, basis: 'offline: max' };
  const basis: CountedBasis = d.overLimit ? 'over limit: draw' : inFlight && inFlight.value > (d.granted ?? 0) ? 'raise in flight' : 'limit';
  return { value, basis };
}

function asAllocInput(c: ChargerModel, now: number, s?: ModelSettings): AllocChargerInput {
  const w = c.wiring;
  const d = c.dispatch;
  const held = s ? raiseHeldUntil(c, now, s) : undefined;
  const asleep = s ? asleepState(c, now, s) : undefined;
  // A pause or a start already commanded counts from the command: to the allocator, a charger told 0
  // is paused (not a long-waiting session due its turn), one told to start is running.
  const commanded = lastCommanded(d, w.maxCurrent);
  const inForce = (d.granted ?? 0) > 0;
  const commandedAt = inFlightOf(d)?.sentAt ?? settlingOf(d)?.acceptedAt;
  const pausedSince = commanded === 0 && inForce ? (commandedAt ?? now) : c.pausedSince;
  const runningSince = commanded > 0 && !inForce ? (commandedAt ?? now) : c.runningSince;
  // Not commandable this round, so counted at its worst case off the top: offline, a last command
  // that failed, or a late change (a late acceptor must not leave its share to others while the phase
  // is over its limit). A change that is merely in flight or settling is not: squeezing the others
  // for those seconds paused cars on every swing of the limit, and planDispatch already holds every
  // raise until the room is real.
  const online = d.online && !isRetrying(d, now) && !(s !== undefined && isLate(d, now, s.lateAfterMs));
  return {
    id: w.id,
    phases: w.phases,
    ...(w.phaseRotation ? { phaseRotation: w.phaseRotation } : {}),
    gridPhase: w.gridPhase,
    minCurrent: w.minCurrent,
    maxCurrent: w.maxCurrent,
    priority: w.priority,
    offlineCurrent: w.offlineCurrent,
    ...(w.circuitId !== undefined ? { circuitId: w.circuitId } : {}),
    arrivedAt: c.arrivedAt ?? now,
    ...(c.cap !== undefined ? { cap: c.cap } : {}),
    wantsEnergy: wantsEnergy(c),
    online,
    ...(c.measured ? { measured: c.measured } : {}),
    // Offline: the worst case. Online: what the charger was last told, the reference for the deadband
    // (measured from a decrease still settling, not from the old value, or every further drop of the
    // target while it settles became one more command).
    ...(d.granted !== undefined || inFlightOf(d) ? { currentLimit: online ? commanded : countedValue(c) } : {}),
    ...(c.lastChangeAt !== undefined ? { lastChangeAt: c.lastChangeAt } : {}),
    ...(pausedSince !== undefined ? { pausedSince } : {}),
    ...(runningSince !== undefined ? { runningSince } : {}),
    ...(c.underDrawSince !== undefined ? { underDrawSince: c.underDrawSince } : {}),
    ...(held !== undefined ? { raiseHeldUntil: held } : {}),
    ...(asleep ? { asleep } : {}),
  };
}

export function allocationInput(model: BalancerModel, now: number) {
  return {
    now,
    phaseLimits: model.phaseLimits,
    admissionLimits: admissionLimits(model, now),
    chargers: Object.values(model.chargers).map((c) => asAllocInput(c, now, model.settings)),
    settings: model.settings,
    ...(model.circuits ? { circuits: model.circuits } : {}),
  };
}

/** Grid phases a charger is counted on: measured-drawn phases of a session, else its wiring. */
export function countedPhases(c: ChargerModel, now: number): readonly Phase[] {
  const input = asAllocInput(c, now);
  const wiring = wiringOf(input);
  return phasesOf(input.wantsEnergy ? countedMask(input, wiring) : wiring.mask);
}

/** Sum of counted current per grid phase: what the installation may draw at worst right now. */
export function committedLoad(model: BalancerModel, now: number): PhaseCurrents {
  const load: PhaseCurrents = { L1: 0, L2: 0, L3: 0 };
  for (const c of Object.values(model.chargers)) {
    const v = countedAs(c).value;
    if (v <= 0) continue;
    for (const p of countedPhases(c, now)) load[p] += v;
  }
  return load;
}

// ---- events (each returns a new charger model) ----

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
  if (after) return { ...fresh, arrivedAt: now };
  const { arrivedAt: _a, pausedSince: _p, ...rest } = fresh;
  return rest;
}

export function onConnection(c: ChargerModel, connected: boolean): ChargerModel {
  const { maxCurrent, offlineCurrent } = c.wiring;
  return step(c, connected ? { kind: 'connected', maxCurrent, offlineCurrent } : { kind: 'disconnected', maxCurrent }, 0, UNTIMED);
}

/** Fresh data from the charger (a live-status sync); with `profileLost`, a boot or a new transaction. */
export function onReport(c: ChargerModel, now: number, profileLost = false): ChargerModel {
  return step(c, { kind: profileLost ? 'profileLost' : 'reported' }, now, UNTIMED);
}

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
      // A new transaction gets its limit again: some chargers start at full current until told.
      if (e.event === 'started') return { ...onReport(c, now, true), activeTx: { transactionId: e.transactionId, connectorId: e.connectorId } };
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
  return step(c, { kind: 'answered', value, sentAt, outcome }, now, { settleMs: Infinity, retryMs });
}

/** A command sent: counted at once if it raises, and paid for from the change budget (when `s` has one). */
export function markSent(c: ChargerModel, limit: number, now: number, s?: ModelSettings): ChargerModel {
  const next = step(c, { kind: 'sent', value: limit }, now, UNTIMED);
  if (next === c) return c;
  const tokens = s ? tokensAt(c, now, s) : Infinity;
  return tokens !== Infinity ? { ...next, budget: { tokens: Math.max(0, tokens - 1), at: now } } : next;
}

/** The earliest time at which something time-driven may change the plan (timers in the shell). */
export function nextWakeAt(model: BalancerModel, now: number): number | undefined {
  const s = model.settings;
  let t = Infinity;
  const consider = (v: number | undefined): void => {
    if (v !== undefined && v > now && v < t) t = v;
  };
  for (const c of Object.values(model.chargers)) {
    dispatchDeadlines(c.dispatch, s).forEach(consider);
    consider(c.lastChangeAt !== undefined ? c.lastChangeAt + s.minChangeIntervalMs : undefined);
    consider(c.pausedSince !== undefined ? c.pausedSince + s.minPauseMs : undefined);
    // A session waits since its pause, or since it arrived when it was never admitted (allocate's rotation rule).
    const waitingSince = c.pausedSince ?? c.arrivedAt;
    consider(waitingSince !== undefined ? waitingSince + s.rotationIntervalMs : undefined);
    consider(c.runningSince !== undefined ? c.runningSince + s.minRunMs : undefined);
    consider(c.underDrawSince !== undefined ? c.underDrawSince + s.reclaimAfterMs : undefined);
    consider(raiseHeldUntil(c, now, s));
    consider(nextAsleepChange(c, now, s));
  }
  admissionDeadlines(model).forEach(consider);
  return t === Infinity ? undefined : t;
}
