/**
 * The balancer's memory of one installation (the events that move it: `charger-events.ts`): what each charger
 * wants and draws, and its command lifecycle (`dispatch-lifecycle.ts`: what it is counted at, which
 * SetChargingProfile is in flight or settling). The shell (`installation-balancer.ts`) feeds events
 * in and executes the commands `planDispatch` (`dispatch-plan.ts`) returns; nothing here does I/O or
 * reads the clock.
 */
import type { ChargerInput as AllocChargerInput, AllocationSettings, CircuitInput, Phase, PhaseCurrents } from './allocation-types.js';
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
  type DispatchState,
} from './dispatch-lifecycle.js';
import { offlineWorstCase, type OfflineBasis } from './offline-current.js';
import { countedMask, phasesOf, wiringOf } from './phases.js';
import { holdEndsAt, INITIAL_PHASE_SWITCH, startedOnOneMask, type PhaseSwitchState } from './phase-switch.js';

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
  /** A 3-phase charger that may be told `numberPhases` 1 or 3 (phase-switch.ts). */
  phaseSwitching?: boolean;
  /**
   * A transaction start needs the limit sent again even when the charger holds it: a TxProfile
   * belongs to one transaction, and some firmware ignores its TxDefaultProfile until a profile
   * arrives during the session (`resendProfileOnTransaction`). Absent: false.
   */
  resendOnTransaction?: boolean;
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
  /** Chargers with `phaseSwitching`: the phases last sent and this session's switches (absent: 3, none). */
  phaseSwitch?: PhaseSwitchState;
  /** The state before a switch still in flight: a rejected switch did not happen. */
  phaseSwitchBefore?: PhaseSwitchState;
}

/** The phase mode of a charger that may switch (undefined for any other: it never gets `numberPhases`). */
export function phaseSwitchOf(c: ChargerModel): PhaseSwitchState | undefined {
  return c.wiring.phaseSwitching === true && c.wiring.phases === 3 ? (c.phaseSwitch ?? INITIAL_PHASE_SWITCH) : undefined;
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
  const budgetLow = s !== undefined && s.changesPerHour > 0 && tokensAt(c, now, s) < s.changeBurst / 2;
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
  const phaseSwitch = phaseSwitchOf(c);
  // Just switched to three phases: a sample from its 1-phase time must not count the charger on one.
  const measured = c.measured && !(phaseSwitch?.mode === 3 && c.measured.at < (phaseSwitch.countAllUntil ?? -Infinity)) ? c.measured : undefined;
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
    ...(measured ? { measured } : {}),
    // Offline: the worst case. Online: what the charger was last told, the reference for the deadband
    // (measured from a decrease still settling, not from the old value, or every further drop of the
    // target while it settles became one more command).
    ...(d.granted !== undefined || inFlightOf(d) ? { currentLimit: online ? commanded : countedValue(c) } : {}),
    ...(c.lastChangeAt !== undefined ? { lastChangeAt: c.lastChangeAt } : {}),
    ...(pausedSince !== undefined ? { pausedSince } : {}),
    ...(runningSince !== undefined ? { runningSince } : {}),
    ...(c.underDrawSince !== undefined ? { underDrawSince: c.underDrawSince } : {}),
    ...(held !== undefined ? { raiseHeldUntil: held } : {}),
    ...(budgetLow ? { budgetLow } : {}),
    ...(asleep ? { asleep } : {}),
    ...(phaseSwitch ? { phaseSwitch } : {}),
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
  // A charger told one phase (1/3-phase switching) is counted there only once its meter shows it:
  // until then it may still draw on three (switching, or ignoring numberPhases). One started there
  // from 0 A is counted where its raise was judged (`startedOnOneMask`), so the count stays in the fuse.
  const one = c.dispatch.online ? startedOnOneMask(phaseSwitchOf(c), { ...input, ...(c.measured ? { measured: c.measured } : {}) }, wiring) : undefined;
  return phasesOf(one ?? (input.wantsEnergy ? countedMask(input, wiring) : wiring.mask));
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
    const ps = phaseSwitchOf(c);
    if (ps) [holdEndsAt(ps, s), ps.countAllUntil].forEach(consider);
  }
  admissionDeadlines(model).forEach(consider);
  return t === Infinity ? undefined : t;
}
