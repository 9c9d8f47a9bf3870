/**
 * Input and output of `allocate()`, the balancer's pure core. Everything is readonly: the function
 * reads a snapshot that the balancer actor assembled and returns a new plan. Currents are amperes
 * per phase (OCPP 1.6 limits are per phase); times are milliseconds on the caller's clock.
 *
 * Inputs are assumed validated (finite numbers, unique charger ids); `allocate` still degrades to
 * the safe side where a bad value could overload a phase.
 */
import type { OfflineCurrent, Phase, PhaseCurrents, PhaseRotation } from '../core/model.js';
import type { PhaseSwitchSettings, PhaseSwitchState } from './phase-switch.js';

export type { OfflineCurrent, Phase, PhaseCurrents, PhaseRotation };

/** One charger as the balancer sees it this round. */
export interface ChargerInput {
  /** Unique within the installation; also the final tie-breaker, so results never depend on input order. */
  readonly id: string;
  /** 1- or 3-phase charger (wiring, not what the car does). */
  readonly phases: 1 | 3;
  /**
   * 3-phase wiring: terminal 1, 2, 3 connect to the grid phases named in this order
   * (`L2L3L1`: terminal 1 on L2). Default `L1L2L3`. An unknown value counts all three phases
   * and ignores per-terminal measurements (we cannot map them).
   */
  readonly phaseRotation?: PhaseRotation;
  /** 1-phase wiring: the grid phase of its only terminal. Default `L1`. */
  readonly gridPhase?: Phase;
  /** No offer between 0 and this (IEC 61851 cars stop below ~6 A). */
  readonly minCurrent: number;
  /** Hardware / cable maximum. */
  readonly maxCurrent: number;
  /** Higher is served first, both for admission and for filling. */
  readonly priority: number;
  /** When the session started; earlier sessions are admitted first when minimums do not all fit. */
  readonly arrivedAt: number;
  /** Partner `SetChargingProfile` or API cap: the limit is never above it. */
  readonly cap?: number;
  /** A car is plugged in and wants energy; false gets 0, so nothing is reserved for a charger that cannot use it. */
  readonly wantsEnergy: boolean;
  /** False when offline, silent or unknown: it cannot be commanded, so it is counted at its worst case. */
  readonly online: boolean;
  /** What it does while it cannot be commanded (default `lastLimit`); see `offline-current.ts`. */
  readonly offlineCurrent?: OfflineCurrent;
  /**
   * Last measured current per charger terminal (A) and the sample time. Decides which grid phases
   * the car actually loads (>= 1 A counts as drawing) and feeds reclaim. `at` is not used by
   * `allocate`: the caller drops samples it considers stale.
   */
  readonly measured?: { readonly t1: number; readonly t2: number; readonly t3: number; readonly at: number };
  /** The limit in force now (last accepted; undefined = never); the offline worst case and the anti-flap reference. */
  readonly currentLimit?: number;
  /** When the limit last changed; increases within `minChangeIntervalMs` of it are held. */
  readonly lastChangeAt?: number;
  /** When it was paused (limit 0) while wanting energy: drives minimum pause time and rotation. */
  readonly pausedSince?: number;
  /** When it last went from 0 to > 0: drives minimum run time and who is rotated out first. */
  readonly runningSince?: number;
  /**
   * Tracked by the caller: since when the car has drawn below `currentLimit - reclaimThresholdA` on
   * every drawn phase (cleared when the draw comes back within the threshold). `allocate` trusts it
   * for the duration and re-checks the current sample itself.
   */
  readonly underDrawSince?: number;
  /**
   * Increases are held until this time although `minChangeIntervalMs` has passed: the caller's
   * per-charger change budget is spent (every command costs relay, car and link wear).
   */
  readonly raiseHeldUntil?: number;
  /**
   * The caller's change budget for this charger is half spent or more: a decrease then goes half a
   * deadband further down, so the next small swing either way needs no profile (see anti-flap).
   */
  readonly budgetLow?: boolean;
  /**
   * Tracked by the caller: the car has drawn nothing for a long time while offered current (asleep
   * or full). `sleeping`: offer nothing, keep nothing reserved. `probing`: offer it its minimum again
   * for a while to see whether it woke, without taking a running session's place.
   */
  readonly asleep?: 'sleeping' | 'probing';
  /** The circuit it hangs on (`AllocationInput.circuits`); absent or unknown: the installation itself. */
  readonly circuitId?: string;
  /**
   * Present for a 3-phase charger with `phaseSwitching` (phase-switch.ts): the mode it was last told
   * and this session's switches. Absent: the charger never gets `numberPhases`.
   */
  readonly phaseSwitch?: PhaseSwitchState;
}

/**
 * A circuit below the installation's fuse (a sub-distribution board): its chargers, and those of
 * the circuits below it, share its per-phase limits as well as every limit above it.
 */
export interface CircuitInput {
  readonly id: string;
  /** Absent or unknown: wired to the installation (the root circuit). */
  readonly parentId?: string;
  /** Per-phase current available to chargers below it (fuse - margin - other load); a phase it lacks: absent (0 A). */
  readonly limits: Partial<PhaseCurrents>;
  /** Like `AllocationInput.admissionLimits`, for this circuit (default: `limits`). */
  readonly admissionLimits?: Partial<PhaseCurrents>;
}

/** Anti-flap, rotation and reclaim tuning (from the installation's balancer settings). */
export interface AllocationSettings {
  /** Changes smaller than this keep the limit in force (not for safety decreases, not to/from 0). */
  readonly deadbandA: number;
  /** Per charger: an increase within this time of `lastChangeAt` is held (decreases never are). */
  readonly minChangeIntervalMs: number;
  /** A session paused this long may take the place of a session of equal priority that has run long. */
  readonly rotationIntervalMs: number;
  /** Relay wear: a session running less than this is not paused for rotation. */
  readonly minRunMs: number;
  /** Relay wear: a paused session is not resumed before this. */
  readonly minPauseMs: number;
  /** How long a car must under-draw before its offer shrinks to draw + headroom. */
  readonly reclaimAfterMs: number;
  /** Headroom above the measured draw that a reclaimed car keeps, so it can ramp up and be seen. */
  readonly reclaimHeadroomA: number;
  /** "Well below the offer": draw < offer - this on every drawn phase. */
  readonly reclaimThresholdA: number;
  /** 1/3-phase switching: hold and switches per session (defaults in phase-switch.ts). */
  readonly phaseSwitchHoldMs?: PhaseSwitchSettings['phaseSwitchHoldMs'];
  readonly maxPhaseSwitches?: PhaseSwitchSettings['maxPhaseSwitches'];
}

export interface AllocationInput {
  /** The caller's clock; `allocate` never reads time itself. */
  readonly now: number;
  /** Per-phase current available to chargers: fuse minus margin, dynamic limit and other loads. */
  readonly phaseLimits: PhaseCurrents;
  /**
   * The lowest per-phase limits of the recent past (at most `phaseLimits`). A session that is not
   * running is admitted only if its minimum fits under these too, so a limit that swings does not
   * start and pause a car on every swing. Running sessions are judged against `phaseLimits` alone.
   */
  readonly admissionLimits?: PhaseCurrents;
  readonly chargers: readonly ChargerInput[];
  readonly settings: AllocationSettings;
  /** The circuits below the installation's fuse (the root is `phaseLimits`); absent: a flat installation. */
  readonly circuits?: readonly CircuitInput[];
}

/**
 * Why a charger got its limit:
 * - `charging`: served by fair filling.
 * - `capped`: held down by its cap (or 0 because the cap is below its minimum).
 * - `reclaimed`: offer shrunk to measured draw + headroom.
 * - `paused`: wants energy but gets 0 (minimums do not fit, rotation, a hold, or an offline overload).
 * - `idle`: does not want energy.
 * - `offline`: cannot be commanded; the limit shown is the worst case it is counted at.
 * - `misconfigured`: maximum below minimum, never servable.
 * - `asleep`: the car drew nothing for long while offered current; it gets 0 between wake-up probes.
 */
export type AllocationReason = 'charging' | 'capped' | 'reclaimed' | 'paused' | 'idle' | 'offline' | 'misconfigured' | 'asleep';

/** Why a limit did not move to the fair target (so logs and the UI can explain a steady limit). */
export type AllocationHold = 'deadband' | 'minChangeInterval' | 'changeBudget' | 'minPause';

export interface ChargerAllocation {
  readonly id: string;
  /**
   * A per phase to send: 0 or in [minimum, min(max, cap)], a multiple of 0.1 A (rounded down)
   * unless a hold keeps the limit in force as it is. Offline: the worst case it is counted at.
   */
  readonly limit: number;
  /**
   * Grid phases the limit is counted on. With limit 0: the phases it would load (empty when it
   * does not want energy). Offline chargers: all their wired phases.
   */
  readonly phases: readonly Phase[];
  readonly reason: AllocationReason;
  /** Present when anti-flap or relay-wear rules kept the limit away from the fair target. */
  readonly held?: AllocationHold;
  /** Chargers with `phaseSwitch` only: the phases to charge on (`numberPhases` of the profile). */
  readonly numberPhases?: 1 | 3;
}

export interface AllocationResult {
  /** One per input charger, sorted by id. */
  readonly allocations: readonly ChargerAllocation[];
  /** Sum of counted current per grid phase, offline worst cases included. */
  readonly phaseLoad: PhaseCurrents;
  /** Phases the offline chargers alone overload; non-empty means every online charger got 0. */
  readonly overloadedPhases: readonly Phase[];
  /** Present when the input has circuits: per circuit, the counted load and the phases offline chargers overload (its online chargers got 0). */
  readonly circuits?: readonly CircuitLoad[];
}

export interface CircuitLoad {
  readonly id: string;
  readonly load: PhaseCurrents;
  readonly overloadedPhases: readonly Phase[];
}
