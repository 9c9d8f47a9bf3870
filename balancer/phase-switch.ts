/**
 * 1/3-phase switching (OCPP 1.6 `numberPhases` in the schedule period): a 3-phase charger with
 * `phaseSwitching` whose 3-phase minimum does not fit, but whose 1-phase minimum does, charges on one
 * phase (its terminal 1's grid phase, so phase rotation decides which) and goes back to three when
 * its 3-phase minimum fits again beside every other admitted minimum. A switch stands for
 * `phaseSwitchHoldMs` (cars and contactors do not like being switched often) and a session switches
 * at most `maxPhaseSwitches` times (Zaptec's default is 5); after that it stays where it is.
 * Pure data in, pure data out: the balancer model keeps the state (`afterSent`, `newSession`);
 * allocate's admission moves a session between its options (`switchDown`, `switchUp`).
 */
import { balancerSettingsSchema } from '../core/schemas.js';
import type { ChargerInput } from './allocation-types.js';
import { hasRoom, take, type Loads, type Vec } from './allocate-units.js';
import { drawnMask, type Wiring } from './phases.js';

/** What the charger was last told, and this session's switches. */
export interface PhaseSwitchState {
  /** The `numberPhases` of the last profile sent (3 before any). */
  readonly mode: 1 | 3;
  /** Switches this session (reset when a new car arrives). */
  readonly switches: number;
  /** When the last switch was sent (this session). */
  readonly lastSwitchAt?: number;
  /**
   * After a switch to 3 phases, meter samples older than this are not used to decide which phases the
   * charger loads: a sample from its 1-phase time would count a 3-phase raise on one phase.
   */
  readonly countAllUntil?: number;
  /**
   * Told one phase while it drew nowhere (0 A counted): it starts on terminal 1's phase, where its
   * raise was judged, so it is counted there (and on any phase a sample since then shows it drawing),
   * not on all three until its meter shows one. Unset after a 3 -> 1 switch while drawing: that one
   * may still draw on three until its meter shows otherwise.
   */
  readonly oneSince?: number;
}

export interface PhaseSwitchSettings {
  readonly phaseSwitchHoldMs: number;
  readonly maxPhaseSwitches: number;
}

/** The installation settings' defaults (core/schemas.ts), for inputs that leave them out. */
export const PHASE_SWITCH_DEFAULTS: PhaseSwitchSettings = {
  phaseSwitchHoldMs: balancerSettingsSchema.properties.phaseSwitchHoldMs.default,
  maxPhaseSwitches: balancerSettingsSchema.properties.maxPhaseSwitches.default,
};

export const INITIAL_PHASE_SWITCH: PhaseSwitchState = { mode: 3, switches: 0 };

/** Whether the session may switch now: switches left, and the last one has stood its hold. */
export function maySwitch(s: PhaseSwitchState, now: number, settings: Partial<PhaseSwitchSettings>): boolean {
  const max = settings.maxPhaseSwitches ?? PHASE_SWITCH_DEFAULTS.maxPhaseSwitches;
  const hold = settings.phaseSwitchHoldMs ?? PHASE_SWITCH_DEFAULTS.phaseSwitchHoldMs;
  if (s.switches >= max) return false;
  return s.lastSwitchAt === undefined || now - s.lastSwitchAt >= hold;
}

/** A profile with `numberPhases` sent at `now`: a different mode is one switch more. */
export function afterSent(s: PhaseSwitchState, numberPhases: 1 | 3, now: number, settings: Partial<PhaseSwitchSettings>): PhaseSwitchState {
  if (numberPhases === s.mode) return s;
  const hold = settings.phaseSwitchHoldMs ?? PHASE_SWITCH_DEFAULTS.phaseSwitchHoldMs;
  return { mode: numberPhases, switches: s.switches + 1, lastSwitchAt: now, ...(numberPhases === 3 ? { countAllUntil: now + hold } : {}) };
}

/** A new car: a fresh count; the charger still has the mode it was last told. */
export function newSession(s: PhaseSwitchState): PhaseSwitchState {
  const { lastSwitchAt: _last, ...rest } = s;
  return { ...rest, switches: 0 };
}

/**
 * After a profile with `numberPhases` 1 sent at `now` (`s` already `afterSent`): one sent while the
 * charger was counted at 0 A starts it on terminal 1's phase.
 */
export function afterOnePhaseSent(s: PhaseSwitchState, countedBefore: number, now: number): PhaseSwitchState {
  return s.mode === 1 && countedBefore <= 0 ? { ...s, oneSince: now } : s;
}

/** A (re)connect or a boot: it may have dropped its profiles and run its failsafe on three phases. */
export function afterReconnect(s: PhaseSwitchState | undefined): PhaseSwitchState | undefined {
  if (s?.oneSince === undefined) return s;
  const { oneSince: _o, ...rest } = s;
  return rest;
}

/**
 * The phases an online charger in 1-phase mode that started there from 0 A is counted on: terminal 1's
 * phase and any phase a sample taken since shows it drawing (one that ignores numberPhases). Undefined
 * when the rule does not apply (the usual counting holds).
 */
export function startedOnOneMask(s: PhaseSwitchState | undefined, c: ChargerInput, w: Wiring): number | undefined {
  const first = w.terminals?.[0];
  if (s?.mode !== 1 || s.oneSince === undefined || first === undefined) return undefined;
  const fresh = c.measured !== undefined && c.measured.at >= s.oneSince;
  return (1 << first) | (fresh ? drawnMask(c, w) : 0);
}

/** When the hold of the last switch ends (a time-driven change of the plan), if it matters. */
export function holdEndsAt(s: PhaseSwitchState, settings: Partial<PhaseSwitchSettings>): number | undefined {
  if (s.lastSwitchAt === undefined || s.switches >= (settings.maxPhaseSwitches ?? PHASE_SWITCH_DEFAULTS.maxPhaseSwitches)) return undefined;
  return s.lastSwitchAt + (settings.phaseSwitchHoldMs ?? PHASE_SWITCH_DEFAULTS.phaseSwitchHoldMs);
}

// ---- inside allocate(): a session's two ways of loading the tree ----

/** A switchable session's phase sets on one phase (terminal 1's grid phase) and on three. */
export interface PhaseOptions {
  /** The mode in force (what the charger was last told). */
  readonly from: 1 | 3;
  /** The mode this round: starts at `from`, moved by admission (`onePhaseFirst`, `switchUp`). */
  mode: 1 | 3;
  /** A switch is allowed this round (switches left, hold over, and the car loads more than one phase). */
  readonly may: boolean;
  readonly one: { readonly mask: number; readonly loads: Loads };
  readonly three: { readonly mask: number; readonly loads: Loads };
  /** The constraints `three` loads beyond `one`: what three phases cost on top of one. */
  readonly extra: Loads;
}

/** The part of a session admission moves between its options. */
export interface Switchable {
  mask: number;
  loads: Loads;
  readonly minQ: number;
  readonly phaseOptions: PhaseOptions | undefined;
  readonly out: { mask: number; numberPhases: 1 | 3 | undefined };
  admitted: boolean;
}

/**
 * `terminals`: grid phase per charger terminal (undefined: wiring unknown, no switching). `counted`:
 * the phases the car is counted on in 3-phase mode (measured, else wired); `wired`: every wired phase.
 */
export function phaseOptions(
  c: Pick<ChargerInput, 'phases' | 'phaseSwitch'>,
  terminals: readonly number[] | undefined,
  counted: number,
  wired: number,
  now: number,
  settings: Partial<PhaseSwitchSettings>,
  loadsFor: (mask: number) => Loads,
): PhaseOptions | undefined {
  const st = c.phaseSwitch;
  const first = terminals?.[0];
  if (!st || c.phases !== 3 || first === undefined) return undefined;
  const oneMask = 1 << first;
  const threeMask = st.mode === 3 ? counted : wired;
  const one = { mask: oneMask, loads: loadsFor(oneMask) };
  const three = { mask: threeMask, loads: loadsFor(threeMask) };
  const extra = three.loads.filter((k) => !one.loads.includes(k));
  const may = maySwitch(st, now, settings) && (threeMask & ~oneMask) !== 0;
  return { from: st.mode, mode: st.mode, may, one, three, extra };
}

function setMode(s: Switchable, o: PhaseOptions, mode: 1 | 3): void {
  const to = mode === 1 ? o.one : o.three;
  o.mode = mode;
  s.mask = to.mask;
  s.loads = to.loads;
  s.out.mask = to.mask;
  s.out.numberPhases = mode;
}

/**
 * Admission reserves minimums with the smallest footprint first: a 3-phase session that may switch
 * is admitted on one phase, so that a minimum that fits nowhere on three phases still finds a phase
 * (and every minimum that fits is served before anyone takes three phases). `switchUp` gives three
 * phases back where they fit. True when it moved the session; `undo` if it is not admitted after all.
 */
export function onePhaseFirst(s: Switchable): boolean {
  const o = s.phaseOptions;
  if (!o || o.mode !== 3 || !o.may) return false;
  setMode(s, o, 1);
  return true;
}

export function undoOnePhase(s: Switchable): void {
  const o = s.phaseOptions;
  if (o) setMode(s, o, o.from);
}

/**
 * After every minimum is reserved, in admission order: an admitted session on one phase takes three
 * when its 3-phase minimum fits in what is left. One already on three phases keeps them on the room
 * alone; one switching up must also fit under the recent lows (`stableRoom`), so a swing of the limit
 * does not switch it. Nobody admitted loses their place for it.
 */
export function switchUp(sessions: readonly Switchable[], room: Vec, stableRoom: Vec): void {
  for (const s of sessions) {
    const o = s.phaseOptions;
    if (!s.admitted || !o || o.mode !== 1 || (o.from === 1 && !o.may)) continue;
    if (!hasRoom(o.extra, room, s.minQ) || (o.from === 1 && !hasRoom(o.extra, stableRoom, s.minQ))) continue;
    take(o.extra, room, s.minQ);
    take(o.extra, stableRoom, s.minQ);
    setMode(s, o, 3);
  }
}
