/**
 * Step 2 of `allocate()`: an online charger that wants energy becomes a session. This is where its
 * amperes are read: counted phases (wiring + measurement), minimum and maximum in 0.1 A with the cap
 * and reclaim applied, relay-wear and anti-flap holds, and its admission tier (rotation).
 * Rule names follow the tests (test/balancer/allocate-*.test.ts): caps, reclaim, rotation, anti-flap.
 */
import type { AllocationHold, AllocationReason, AllocationSettings, ChargerInput } from './allocation-types.js';
import type { Wiring } from './phases.js';
import { countedMask, measuredMax, wiringOf } from './phases.js';
import { EPS, qDown, qUp, toQ, type Loads } from './allocate-units.js';
import { phaseOptions, type PhaseOptions } from './phase-switch.js';
import type { CircuitTree } from './allocate-circuits.js';
import { scratchI32 } from './allocate-scratch.js';

/** Admission tiers within one priority class, in order. See `admissionTier` for the rotation rule. */
export const enum Tier {
  /** Running, and has run less than minRunMs (or we cannot tell it may be rotated out). */
  Protected = 0,
  /** Not running, waiting (paused or never admitted) for at least rotationIntervalMs: its turn. */
  Due = 1,
  /** Running for at least minRunMs: may be rotated out, longest-running first. */
  Displaceable = 2,
  /** Not running, waiting for less than rotationIntervalMs. */
  Waiting = 3,
}

/** What one charger gets, filled in step by step; `buildResult` turns it into its allocation. */
export interface Outcome {
  /** The limit in 0.1 A. */
  q: number;
  /** Set when the limit is not a grid point: an offline worst case or a limit in force kept as it is (A). */
  exactA: number | undefined;
  reason: AllocationReason;
  held: AllocationHold | undefined;
  /** Grid phases it is counted on. */
  mask: number;
  /** Chargers that may switch phases: the `numberPhases` to send. */
  numberPhases: 1 | 3 | undefined;
}

export const newOutcome = (): Outcome => ({ q: 0, exactA: undefined, reason: 'idle', held: undefined, mask: 0, numberPhases: undefined });

/**
 * Outcomes and sessions are reused from call to call, as the scratch buffers are (allocate-scratch.ts,
 * whose rule holds here too: one call at a time, nothing in a result points to them). A thousand of
 * each were 40 % of what a call on a thousand chargers allocated: a young-generation GC every few
 * dozen calls, and each one that fell inside a call copied them all (the slow calls of the p99).
 * Every field is written before it is read, in the order of the first literal (one object shape).
 */
const outcomePool: Outcome[] = [];
const sessionPool: Mutable<Session>[] = [];
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * n fresh outcomes (as `newOutcome` makes them), reused from earlier calls: the first n of the array
 * returned (itself reused, so it may be longer: read it by index only).
 */
export function outcomesFor(n: number): readonly Outcome[] {
  for (let i = 0; i < n; i++) {
    let o = outcomePool[i];
    if (o === undefined) {
      outcomePool[i] = o = newOutcome();
    } else {
      o.q = 0;
      o.exactA = undefined;
      o.reason = 'idle';
      o.held = undefined;
      o.mask = 0;
      o.numberPhases = undefined;
    }
  }
  return outcomePool;
}

export interface Session {
  readonly charger: ChargerInput;
  /** Position in id order: the deterministic tie-breaker. */
  readonly pos: number;
  readonly out: Outcome;
  readonly priority: number;
  /** Phases and constraints (circuit phases) it loads; admission may move a switchable session to one phase (phase-switch.ts). */
  mask: number;
  loads: Loads;
  readonly phaseOptions: PhaseOptions | undefined;
  /** Minimum and maximum, rounded toward safety (min up, max down). */
  readonly minQ: number;
  readonly maxQ: number;
  /** maxQ, lowered to the limit in force while increases are held (`raiseHold`). */
  readonly fillMax: number;
  /** Why increases are held this round: the minimum change interval or the change budget. */
  readonly raiseHold: AllocationHold | undefined;
  readonly capBound: boolean;
  readonly reclaimBound: boolean;
  /** Limit in force (unrounded), 0 when none is known. */
  readonly curQ: number;
  readonly tier: Tier;
  /** Set when relay wear or anti-flap keeps a paused session from starting this round. */
  readonly startHold: AllocationHold | undefined;
  /** Allocation; 0 until admitted. */
  a: number;
  admitted: boolean;
  growing: boolean;
}

export function toSession(
  c: ChargerInput,
  pos: number,
  now: number,
  settings: AllocationSettings,
  out: Outcome,
  tree: CircuitTree,
  at: number,
  slot: number,
): Session {
  const wiring = wiringOf(c);
  const counted = countedMask(c, wiring);
  // Only a charger that may switch phases needs a loads function (one closure, not one per session).
  const options = c.phaseSwitch === undefined ? undefined : phaseOptions(c, wiring.terminals, counted, wiring.mask, now, settings, tree.loaderOf(at));
  const mask = options ? (options.mode === 1 ? options.one : options.three).mask : counted;
  out.numberPhases = c.phaseSwitch?.mode;
  const minQ = Math.max(0, qUp(c.minCurrent));
  const hwQ = qDown(c.maxCurrent);
  const capQ = c.cap === undefined ? Infinity : qDown(c.cap);
  const baseQ = Math.min(hwQ, capQ);
  const reclaimQ = reclaimMax(c, wiring, now, settings, minQ);
  // A wake-up probe offers the minimum only: enough to see the car draw, without moving the others.
  const maxQ = c.asleep === 'probing' ? Math.min(baseQ, reclaimQ, minQ) : Math.min(baseQ, reclaimQ);
  const curQ = c.currentLimit !== undefined && c.currentLimit > 0 ? toQ(c.currentLimit) : 0;
  const running = curQ > 0;

  let fillMax = maxQ;
  let startHold: AllocationHold | undefined;
  const raiseHold = raiseHoldOf(c, now, settings);
  if (running) {
    // Increases are held at the limit in force, when that limit is still a valid offer.
    if (raiseHold && curQ >= minQ - EPS) fillMax = Math.min(maxQ, Math.max(minQ, Math.floor(curQ + EPS)));
  } else if (c.pausedSince !== undefined && now - c.pausedSince < settings.minPauseMs) {
    startHold = 'minPause';
  } else if (raiseHold) {
    startHold = raiseHold;
  }

  // A wake-up probe waits behind running sessions: probing a sleeping car never pauses another.
  const tier = c.asleep === 'probing' && !running ? Tier.Waiting : admissionTier(c, running, now, settings);
  let s = sessionPool[slot];
  if (s === undefined) {
    s = { charger: c, pos, out, priority: 0, mask: 0, loads: NO_LOADS, phaseOptions: undefined, minQ: 0, maxQ: 0, fillMax: 0, raiseHold: undefined, capBound: false, reclaimBound: false, curQ: 0, tier, startHold: undefined, a: 0, admitted: false, growing: false };
    sessionPool[slot] = s;
  }
  s.charger = c;
  s.pos = pos;
  s.out = out;
  s.priority = Number.isFinite(c.priority) ? c.priority : 0;
  s.mask = mask;
  s.loads = tree.loads(at, mask);
  s.phaseOptions = options;
  s.minQ = minQ;
  s.maxQ = maxQ;
  s.fillMax = fillMax;
  s.raiseHold = fillMax < maxQ ? raiseHold : undefined;
  s.capBound = capQ < hwQ && maxQ === capQ;
  s.reclaimBound = reclaimQ < baseQ;
  s.curQ = curQ;
  s.tier = tier;
  s.startHold = startHold;
  s.a = 0;
  s.admitted = false;
  s.growing = false;
  return s;
}

const NO_LOADS: Loads = Object.freeze([]);

function raiseHoldOf(c: ChargerInput, now: number, s: AllocationSettings): AllocationHold | undefined {
  if (c.lastChangeAt !== undefined && s.minChangeIntervalMs > 0 && now - c.lastChangeAt < s.minChangeIntervalMs) return 'minChangeInterval';
  if (c.raiseHeldUntil !== undefined && now < c.raiseHeldUntil) return 'changeBudget';
  return undefined;
}

/**
 * Reclaim: the caller reports since when the car under-draws (`underDrawSince`); after
 * `reclaimAfterMs` of that, and if the current sample still shows every drawn phase below
 * `currentLimit - reclaimThresholdA`, the offer shrinks to max(min, draw + headroom), rounded up to
 * 0.1 A. Infinity when it does not apply. Never below the minimum (a non-grid minimum could
 * otherwise round under it).
 */
function reclaimMax(c: ChargerInput, wiring: Wiring, now: number, s: AllocationSettings, minQ: number): number {
  if (c.underDrawSince === undefined || !(now - c.underDrawSince >= s.reclaimAfterMs)) return Infinity;
  const cur = c.currentLimit;
  if (cur === undefined || !(cur > 0)) return Infinity;
  const draw = measuredMax(c, wiring);
  if (draw === undefined || !(draw < cur - s.reclaimThresholdA)) return Infinity;
  return Math.max(minQ, qUp(Math.max(0, draw) + s.reclaimHeadroomA));
}

/**
 * Rotation rule. Within a priority class, minimums are reserved in this order:
 *  1. Protected: running (limit in force > 0) for less than minRunMs.
 *  2. Due: waiting for at least rotationIntervalMs, longest-waiting first. Waiting since
 *     `pausedSince`, or since `arrivedAt` for a session that was never paused (never admitted).
 *  3. Displaceable: running for at least minRunMs (or runningSince unknown), most recently
 *     started first, so the longest-running session is the first whose minimum no longer fits.
 *  4. Waiting: sessions waiting for less than rotationIntervalMs.
 * then by arrival and id. Running sessions thus keep their place against waiting ones, and a due
 * session takes the place of the longest-running displaceable session(s) it shares a full phase
 * with. Sessions paused less than minPauseMs are not admitted at all (see `startHold`).
 */
function admissionTier(c: ChargerInput, running: boolean, now: number, s: AllocationSettings): Tier {
  if (running) {
    const since = c.runningSince;
    return since !== undefined && !(now - since >= s.minRunMs) ? Tier.Protected : Tier.Displaceable;
  }
  // A session never admitted has been waiting since it arrived.
  return now - (c.pausedSince ?? c.arrivedAt) >= s.rotationIntervalMs ? Tier.Due : Tier.Waiting;
}

/**
 * The tie-breaker inside a tier: waiting since (Due), minus running since (Displaceable), else 0.
 * Computed where admission sorts, not kept on every session (a boxed number per session per call).
 */
export function tierKeyOf(c: ChargerInput, tier: Tier): number {
  if (tier === Tier.Displaceable) return c.runningSince === undefined ? Infinity : -c.runningSince;
  if (tier === Tier.Due) return c.pausedSince ?? c.arrivedAt;
  return 0;
}

/**
 * Read from the charger when needed rather than kept on every session (each would be a boxed number
 * per session per call): arrival for admission (not a number: last), and when its limit last changed
 * (-Infinity if never) for who takes a swing's surplus and who goes down first.
 */
export const arrivedAtOf = (s: Session): number => (Number.isFinite(s.charger.arrivedAt) ? s.charger.arrivedAt : Infinity);
export const steadySinceOf = (s: Session): number => s.charger.lastChangeAt ?? -Infinity;

/** Why a session got its limit. */
export function reasonOf(s: Session): AllocationReason {
  const { q, exactA } = s.out;
  const limitQ = exactA === undefined ? q : toQ(exactA);
  if (limitQ === 0) return 'paused';
  if (s.reclaimBound) return 'reclaimed';
  if (s.capBound && limitQ >= s.maxQ - EPS) return 'capped';
  return 'charging';
}

/** Per constraint, the positions in a list of sessions of those on it: constraint c's are `of[at[c]]` to `of[at[c + 1] - 1]`, in list order. */
export interface ByConstraint {
  readonly at: Int32Array;
  readonly of: Int32Array;
}

/** `list`'s sessions indexed by the constraints they load, in work buffers (two passes over their loads, no array per constraint). */
export function sessionsByConstraint(list: readonly Session[], k: number): ByConstraint {
  const at = scratchI32(k + 1);
  for (const s of list) for (const c of s.loads) at[c + 1] = (at[c + 1] as number) + 1;
  for (let c = 0; c < k; c++) at[c + 1] = (at[c + 1] as number) + (at[c] as number);
  const of = scratchI32(at[k] as number);
  const next = scratchI32(k);
  next.set(at.subarray(0, k));
  for (let i = 0; i < list.length; i++) {
    for (const c of (list[i] as Session).loads) {
      const slot = next[c] as number;
      of[slot] = i;
      next[c] = slot + 1;
    }
  }
  return { at, of };
}
