/**
 * The per-phase current available to an installation's chargers, and the failsafe: an energy
 * manager's dynamic limit subtracts the building's other load from the fuse, so when it goes silent
 * (its limit expired) the bare fuse is not safe. Pure: the shell passes the record and the time.
 */
import { lowestDynamic, type AvailableCurrent } from '../core/available-current-store.js';
import type { Installation, PhaseCurrents } from '../core/model.js';
import { PHASES } from './phases.js';


/** Where the failsafe current came from. */
export type FailsafeSource = 'configured' | 'lowest dynamic limit of the last hour' | 'fuse dedicated to chargers';

export interface Failsafe {
  /** When the dynamic limit expired (ms). */
  since: number;
  source: FailsafeSource;
  /** Per phase, before the fuse and margin cap it. */
  current: PhaseCurrents;
}

export interface PhaseLimitsInForce {
  /** Fuse minus margin, or lower: the dynamic limit while it lives, the failsafe after. */
  limits: PhaseCurrents;
  /** Present while the installation runs on its failsafe current. */
  failsafe?: Failsafe;
}

/**
 * No dynamic record (never set, or deleted by the operator): fuse minus margin. A live one: the lower
 * of it and the fuse. An expired one: the failsafe, which is the installation's `failsafeCurrent`, else
 * the bare fuse only when the operator marked the fuse as dedicated to the chargers, else the lowest
 * dynamic limit of the last hour (the building load the energy manager was subtracting is still there).
 */
export function phaseLimitsAt(installation: Installation, dynamic: AvailableCurrent | undefined, now: number): PhaseLimitsInForce {
  const b = installation.balancer;
  const fuse = { L1: 0, L2: 0, L3: 0 };
  for (const p of PHASES) fuse[p] = installation.fuse[p] - b.safetyMarginA;
  const expiresAt = dynamic ? Date.parse(dynamic.expiresAt) : NaN;
  let cap: PhaseCurrents | undefined;
  let failsafe: Failsafe | undefined;
  if (dynamic && expiresAt > now) cap = dynamic;
  else if (dynamic) {
    const [source, current]: [FailsafeSource, PhaseCurrents] = b.failsafeCurrent
      ? ['configured', b.failsafeCurrent]
      : b.fuseDedicatedToChargers
        ? ['fuse dedicated to chargers', installation.fuse]
        : ['lowest dynamic limit of the last hour', lowestDynamic(dynamic)];
    // An unreadable expiry counts as expired long ago: the failsafe, never the bare fuse.
    failsafe = { since: Number.isFinite(expiresAt) ? expiresAt : 0, source, current: { L1: current.L1, L2: current.L2, L3: current.L3 } };
    cap = current;
  }
  const limits = { L1: 0, L2: 0, L3: 0 };
  for (const p of PHASES) limits[p] = Math.max(0, cap ? Math.min(fuse[p], cap[p]) : fuse[p]);
  return failsafe ? { limits, failsafe } : { limits };
}
