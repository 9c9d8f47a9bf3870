/**
 * Step 2 of `allocate()`: an online charger that wants energy becomes a session. This is where its
 * amperes are read: counted phases (wiring + measurement), minimum and maximum in 0.1 A with the cap
 * and reclaim applied, relay-wear and anti-flap holds, and its admission tier (rotation).
 * Rule names follow test/balancer/allocate.test.ts: caps, reclaim, rotation, anti-flap.
 */
import type { AllocationHold, AllocationReason, AllocationSettings, ChargerInput } from './allocation-types.js';
import type { Wiring } from './phases.js';
import { countedMask, measuredMax, wiringOf } from './phases.js';
import { EPS, qDown, qUp, toQ, type Loads } from './allocate-units.js';

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
}

export const newOutcome = (): Outcome => ({ q: 0, exactA: undefined, reason: 'idle', held: undefined, mask: 0 });

export interface Session {
  readonly charger: ChargerInput;
  /** Position in id order: the deterministic tie-breaker. */
  readonly pos: number;
  readonly out: Outcome;
  readonly priority: number;
  readonly arrivedAt: number;
  readonly mask: number;
  /** The constraints (circuit phases) it loads. */
  readonly loads: Loads;
  /** Minimum and maximum, rounded toward safety (min up, max down). */
  readonly minQ: number;
  readonly maxQ: number;
  /** maxQ, lowered to the limit in force while increases are held (`raiseHold`). */
  readonly fillMax: number;
  /** Why increases are held this round: the minimum change interval or the change budget. */
  readonly raiseHold: AllocationHold | undefined;
  /** When its limit last changed (-Infinity if never): the steadiest session takes a swing's surplus. */
  readonly steadySince: number;
  readonly capBound: boolean;
  readonly reclaimBound: boolean;
  /** Limit in force (unrounded), 0 when none is known. */
  readonly curQ: number;
  readonly tier: Tier;
  /** Tie-breaker inside the tier (waiting since for Due, -runningSince for Displaceable). */
  readonly tierKey: number;
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
  loadsFor: (mask: number) => Loads,
): Session {
  const wiring = wiringOf(c);
  const mask = countedMask(c, wiring);
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
  const { tier, tierKey } = c.asleep === 'probing' && !running ? { tier: Tier.Waiting, tierKey: 0 } : admissionTier(c, running, now, settings);
  return {
    charger: c,
    pos,
    out,
    priority: Number.isFinite(c.priority) ? c.priority : 0,
    arrivedAt: Number.isFinite(c.arrivedAt) ? c.arrivedAt : Infinity,
    mask,
    loads: loadsFor(mask),
    minQ,
    maxQ,
    fillMax,
    raiseHold: fillMax < maxQ ? raiseHold : undefined,
    steadySince: c.lastChangeAt ?? -Infinity,
    capBound: capQ < hwQ && maxQ === capQ,
    reclaimBound: reclaimQ < baseQ,
    curQ,
    tier,
    tierKey,
    startHold,
    a: 0,
    admitted: false,
    growing: false,
  };
}

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
function admissionTier(c: ChargerInput, running: boolean, now: number, s: AllocationSettings): { tier: Tier; tierKey: number } {
  if (running) {
    const since = c.runningSince;
    if (since !== undefined && !(now - since >= s.minRunMs)) return { tier: Tier.Protected, tierKey: 0 };
    return { tier: Tier.Displaceable, tierKey: since === undefined ? Infinity : -since };
  }
  // A session never admitted has been waiting since it arrived.
  const waitingSince = c.pausedSince ?? c.arrivedAt;
  if (now - waitingSince >= s.rotationIntervalMs) return { tier: Tier.Due, tierKey: waitingSince };
  return { tier: Tier.Waiting, tierKey: 0 };
}

/** Why a session got its limit. */
export function reasonOf(s: Session): AllocationReason {
  const { q, exactA } = s.out;
  const limitQ = exactA === undefined ? q : toQ(exactA);
  if (limitQ === 0) return 'paused';
  if (s.reclaimBound) return 'reclaimed';
  if (s.capBound && limitQ >= s.maxQ - EPS) return 'capped';
  return 'charging';
}
