import type { PhaseSwitchState } from './phase-switch.js';

/** A charger's worst-case limit as persisted in KV, read by the next leader before it sends anything. */
export interface StoredAllocation {
  limit: number;
  at: string;
  /** Chargers with phaseSwitching: the phases last sent and the session's switches, so a new leader knows a charger it finds on one phase. */
  phaseSwitch?: PhaseSwitchState;
}

/** What was last persisted for a charger, to write only changes. */
export const storedKey = (limit: number, ps: PhaseSwitchState | undefined): string => (ps ? `${limit}/${JSON.stringify(ps)}` : String(limit));
