import type { PhaseCurrents } from '../core/model.js';

/**
 * What a run leaves behind for the metrics and the report: step series, overshoot episodes,
 * sessions, reclaim episodes and ordering violations, per installation, phase and charger.
 */

/** A step function: value v[i] from t[i] (scenario ms) until t[i+1]. */
export interface Series {
  t: number[];
  v: number[];
}

export function pushStep(s: Series, t: number, v: number): void {
  const n = s.v.length;
  if (n > 0 && s.v[n - 1] === v) return;
  if (n > 0 && s.t[n - 1] === t) {
    s.v[n - 1] = v;
    if (n > 1 && s.v[n - 2] === v) {
      s.t.pop();
      s.v.pop();
    }
    return;
  }
  s.t.push(t);
  s.v.push(v);
}

export const newSeries = (): Series => ({ t: [], v: [] });

export interface OvershootEpisode {
  site: string;
  phase: string;
  startS: number;
  endS: number;
  peakA: number;
  /** Part of the integral the platform's own commands caused (A*s). */
  platformAs: number;
}

export interface PhaseTrack {
  current: Series;
  fuse: Series;
  known: Series;
  commanded: Series;
  base: Series;
  allocated: Series;
  overPeakA: number;
  overAs: number;
  overS: number;
  platformPeakA: number;
  platformAs: number;
  platformS: number;
  /** Raised by a platform increase that left the accepted limits above the known limit; see `siteChanged`. */
  platformFlag: boolean;
  episodeStart: number | undefined;
  episodePeak: number;
  episodePlatformAs: number;
}

export interface SessionTrack {
  charger: string;
  mask: number;
  arriveT: number;
  startT?: number;
  firstEnergyT?: number;
  departT?: number;
  waitingSince?: number;
  longestWaitMs: number;
  /** 1/3-phase switches (a profile's numberPhases changing the phases in force) during the session. */
  phaseSwitches: number;
  /** The phases the charger lets the car use, as last seen. */
  phasesInForce: number;
}

export interface ReclaimEpisode {
  charger: string;
  startS: number;
  /** Seconds until the offer came down to draw + headroom; undefined = never reclaimed. */
  reclaimS?: number;
  durationS: number;
}

export interface ChargerTrack {
  id: string;
  site: string;
  min: number;
  priority: number;
  profiles: number;
  profileLog: { t: number; limit: number | undefined; status?: string }[];
  offersInGap: number;
  pauses: number;
  resumes: number;
  commanded: Series;
  draw: Series;
  demand: Series;
  sessions: SessionTrack[];
  underDraw: { start: number; offerAtStart: number; contendedSince: number | undefined } | undefined;
}

export interface SiteTrack {
  id: string;
  phases: Record<string, PhaseTrack>;
  lastT: number;
  snapshot: { current: PhaseCurrents; fuse: PhaseCurrents; known: PhaseCurrents; commanded: PhaseCurrents; chargerSum: PhaseCurrents; achievable: number };
  deliveredAs: number;
  achievableAs: number;
  /** (t, known limit) history, for judging increases against what the platform could know then. */
  knownHistory: { t: number; k: PhaseCurrents }[];
  capacityCache: Map<string, number>;
}

export interface RecorderOptions {
  /** Reclaim rule of the platform (A), to judge reclaim: under-draw = demand < offer - threshold. */
  reclaimThresholdA: number;
  reclaimHeadroomA: number;
  /** Increases are judged against the most permissive known limit within this window (ms). */
  graceMs: number;
}

export interface OrderingViolation {
  charger: string;
  t: number;
  limit: number;
  phase: string;
  sum: number;
  known: number;
}
