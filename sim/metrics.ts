import type { Recorder, Series, SessionTrack } from './recorder.js';
import { balancerSettingsSchema } from '../core/schemas.js';
import { PHASES } from '../core/model.js';

const DEFAULT_CHANGE_BURST = balancerSettingsSchema.properties.changeBurst.default;

/** The pass lines of issue 6, in one place. */
export const PASS_LINES = {
  platformOvershootAs: 0,
  transientMaxS: 10,
  utilisationMin: 0.95,
  jainMin: 0.95,
  reclaimMaxS: 60,
  profilesPerChargerHourMax: 60,
  pausesPerChargerHourMax: 6,
  orderingViolations: 0,
  offersInGap: 0,
} as const;

/** Epochs shorter than this are not judged for fairness (scenario seconds). */
const FAIRNESS_EPOCH_MIN_S = 600;

export interface PassLine {
  name: string;
  value: number | null;
  limit: string;
  pass: boolean;
}

export interface FairnessEpoch {
  phases: string;
  fromS: number;
  toS: number;
  sessions: string[];
  meanCurrentA: number[];
  jain: number;
}

export interface ScenarioMetrics {
  scenario: string;
  durationS: number;
  compression: number;
  chargers: number;
  installations: number;
  overshoot: {
    /** Caused by the platform's own commands (an increase over the known limit). */
    platformAs: number;
    platformPeakA: number;
    platformS: number;
    /** Every other overshoot: car lag or misbehaviour, base-load steps, fuse changes. */
    transientAs: number;
    transientPeakA: number;
    transientS: number;
    transientEpisodes: number;
    /** The longest time from crossing the fuse to being back under it (s). */
    longestTransientS: number;
    episodesOver10s: number;
    perPhase: Record<string, { peakA: number; integralAs: number; secondsAbove: number; platformAs: number }>;
  };
  utilisation: number | null;
  jain: { weighted: number | null; min: number | null; epochs: FairnessEpoch[] };
  timeToFirstEnergyS: { max: number | null; mean: number | null; neverCharged: number };
  longestQueueWaitS: number;
  pausesPerChargerHour: number;
  resumesPerChargerHour: number;
  profilesPerChargerHour: { max: number; mean: number };
  reclaim: { maxS: number | null; episodes: number; unreclaimed: number };
  orderingViolations: number;
  offersInGap: number;
  episodes: { site: string; phase: string; startS: number; durationS: number; peakA: number; platformAs: number }[];
  pass: PassLine[];
  passed: boolean;
}

const r3 = (v: number): number => Math.round(v * 1000) / 1000;

/** Integral of a step series over [a, b) (value x ms). */
export function integrateSeries(s: Series, a: number, b: number): number {
  let total = 0;
  for (let i = 0; i < s.t.length; i++) {
    const from = Math.max(a, s.t[i]!);
    const to = Math.min(b, s.t[i + 1] ?? Infinity);
    if (to > from) total += s.v[i]! * (to - from);
  }
  return total;
}

/** Time within [a, b) where the series is 0 (ms). */
function zeroTime(s: Series, a: number, b: number): number {
  let total = 0;
  for (let i = 0; i < s.t.length; i++) {
    const from = Math.max(a, s.t[i]!);
    const to = Math.min(b, s.t[i + 1] ?? Infinity);
    if (to > from && s.v[i] === 0) total += to - from;
  }
  return total;
}

export function jainIndex(x: readonly number[]): number {
  const sum = x.reduce((a, b) => a + b, 0);
  const sq = x.reduce((a, b) => a + b * b, 0);
  return sq === 0 ? 1 : (sum * sum) / (x.length * sq);
}

/** A car's own demand moving by this much at once (waking, a cap lifted) starts a new fairness epoch. */
const DEMAND_STEP_A = 3;

/**
 * Jain's index over delivered current where sessions overlap: sessions of one installation that
 * load the same grid phases are compared in the epochs between their arrivals, departures and steps
 * of their own demand (at least 10 minutes), among those that wanted more than they got (not asleep,
 * not full, not satisfied). Weighted by epoch length x sessions. Without the demand steps, a car that
 * drew its own 10 A cap for half an hour and competed for the other half was judged over the hour.
 */
export function fairness(rec: Recorder, endMs: number): ScenarioMetrics['jain'] {
  const epochs: FairnessEpoch[] = [];
  const bySiteMask = new Map<string, SessionTrack[]>();
  for (const c of rec.chargers.values()) {
    for (const s of c.sessions) {
      // Only sessions with the same constraints compete on equal terms: same phases, same priority.
      const key = `${c.site}|${s.mask}|${c.priority}`;
      bySiteMask.set(key, [...(bySiteMask.get(key) ?? []), s]);
    }
  }
  for (const [key, sessions] of bySiteMask) {
    if (sessions.length < 2) continue;
    const steps = sessions.flatMap((s) => demandSteps(rec.chargers.get(s.charger)!.demand, s.arriveT, s.departT ?? endMs));
    const bounds = [...new Set([...sessions.flatMap((s) => [s.arriveT, s.departT ?? endMs]), ...steps])].sort((a, b) => a - b);
    for (let i = 0; i + 1 < bounds.length; i++) {
      const a = bounds[i]!;
      const b = bounds[i + 1]!;
      if (b - a < FAIRNESS_EPOCH_MIN_S * 1000) continue;
      const present = sessions.filter((s) => s.arriveT <= a && (s.departT ?? endMs) >= b);
      const competing: { id: string; mean: number }[] = [];
      for (const s of present) {
        const track = rec.chargers.get(s.charger)!;
        const mean = integrateSeries(track.draw, a, b) / (b - a);
        const demand = integrateSeries(track.demand, a, b) / (b - a);
        const asleep = zeroTime(track.demand, a, b) / (b - a);
        if (asleep < 0.1 && mean < 0.95 * demand) competing.push({ id: s.charger, mean });
      }
      if (competing.length < 2) continue;
      epochs.push({
        phases: PHASES.filter((_p, i2) => (Number(key.split('|')[1]) & (1 << i2)) !== 0).join('+'),
        fromS: r3(a / 1000),
        toS: r3(b / 1000),
        sessions: competing.map((c) => c.id),
        meanCurrentA: competing.map((c) => r3(c.mean)),
        jain: r3(jainIndex(competing.map((c) => c.mean))),
      });
    }
  }
  if (epochs.length === 0) return { weighted: null, min: null, epochs };
  let w = 0;
  let sum = 0;
  for (const e of epochs) {
    const weight = (e.toS - e.fromS) * e.sessions.length;
    w += weight;
    sum += weight * e.jain;
  }
  return { weighted: r3(sum / w), min: Math.min(...epochs.map((e) => e.jain)), epochs };
}

function demandSteps(demand: Series, from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < demand.t.length; i++) {
    const t = demand.t[i]!;
    if (t > from && t < to && Math.abs(demand.v[i]! - demand.v[i - 1]!) >= DEMAND_STEP_A) out.push(t);
  }
  return out;
}

const HOUR_MS = 3_600_000;

/**
 * One charger's SetChargingProfile rate per hour. The platform's change budget allows a burst
 * (`changeBurst`) on top of its hourly rate, so a run shorter than an hour is not judged by scaling its
 * count up: the load run's 10 minutes read a charger that spent its burst of 10 plus its hourly share
 * (17 profiles) as 102 per hour, though that charger stays within 50 in any hour. A run of an hour or
 * more: the most profiles in any one-hour window. A shorter run: its count, with what is above the
 * burst projected to the hour.
 */
export function profilesPerHour(times: readonly number[], durationMs: number, burst: number): number {
  if (durationMs >= HOUR_MS) {
    let most = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= HOUR_MS) j++;
      most = Math.max(most, i - j + 1);
    }
    return most;
  }
  const n = times.length;
  return n <= burst ? n : burst + ((n - burst) * HOUR_MS) / Math.max(1, durationMs);
}

export function computeMetrics(rec: Recorder, info: { scenario: string; durationS: number; compression: number; changeBurst?: number }): ScenarioMetrics {
  const endMs = info.durationS * 1000;
  const hours = info.durationS / 3600;
  const perPhase: ScenarioMetrics['overshoot']['perPhase'] = {};
  let overAs = 0;
  let overS = 0;
  let platformAs = 0;
  let platformS = 0;
  let platformPeak = 0;
  let delivered = 0;
  let achievable = 0;
  for (const site of rec.sites.values()) {
    delivered += site.deliveredAs;
    achievable += site.achievableAs;
    for (const p of PHASES) {
      const ph = site.phases[p]!;
      overAs += ph.overAs;
      overS += ph.overS;
      platformAs += ph.platformAs;
      platformS += ph.platformS;
      platformPeak = Math.max(platformPeak, ph.platformPeakA);
      const key = rec.sites.size === 1 ? p : `${site.id}.${p}`;
      if (rec.sites.size === 1 || ph.overAs > 0) perPhase[key] = { peakA: r3(ph.overPeakA), integralAs: r3(ph.overAs), secondsAbove: r3(ph.overS), platformAs: r3(ph.platformAs) };
    }
  }
  const episodes = rec.episodes.map((e) => ({ site: e.site, phase: e.phase, startS: r3(e.startS), durationS: r3(e.endS - e.startS), peakA: e.peakA, platformAs: e.platformAs }));
  const transients = episodes.filter((e) => e.platformAs === 0);
  const chargers = [...rec.chargers.values()];
  const sessions = chargers.flatMap((c) => c.sessions);
  const firsts = sessions.filter((s) => s.firstEnergyT !== undefined).map((s) => (s.firstEnergyT! - s.arriveT) / 1000);
  const reclaimed = rec.reclaims.filter((r) => r.reclaimS !== undefined).map((r) => r.reclaimS!);
  const unreclaimed = rec.reclaims.filter((r) => r.reclaimS === undefined && r.durationS > PASS_LINES.reclaimMaxS);
  const reclaimMax = Math.max(-Infinity, ...reclaimed, ...unreclaimed.map((r) => r.durationS));
  const burst = info.changeBurst ?? DEFAULT_CHANGE_BURST;
  const profileRates = chargers.map((c) => profilesPerHour(c.profileLog.map((p) => p.t), endMs, burst));
  const jain = fairness(rec, endMs);
  const m: Omit<ScenarioMetrics, 'pass' | 'passed'> = {
    scenario: info.scenario,
    durationS: info.durationS,
    compression: info.compression,
    chargers: chargers.length,
    installations: rec.sites.size,
    overshoot: {
      platformAs: r3(platformAs),
      platformPeakA: r3(platformPeak),
      platformS: r3(platformS),
      transientAs: r3(overAs - platformAs),
      transientPeakA: r3(Math.max(0, ...transients.map((e) => e.peakA))),
      transientS: r3(overS - platformS),
      transientEpisodes: transients.length,
      longestTransientS: r3(Math.max(0, ...transients.map((e) => e.durationS))),
      episodesOver10s: episodes.filter((e) => e.durationS > PASS_LINES.transientMaxS).length,
      perPhase,
    },
    utilisation: achievable > 0 ? r3(delivered / achievable) : null,
    jain,
    timeToFirstEnergyS: {
      max: firsts.length ? r3(Math.max(...firsts)) : null,
      mean: firsts.length ? r3(firsts.reduce((a, b) => a + b, 0) / firsts.length) : null,
      neverCharged: sessions.length - firsts.length,
    },
    longestQueueWaitS: r3(Math.max(0, ...sessions.map((s) => s.longestWaitMs / 1000))),
    pausesPerChargerHour: r3(Math.max(0, ...chargers.map((c) => c.pauses / hours))),
    resumesPerChargerHour: r3(Math.max(0, ...chargers.map((c) => c.resumes / hours))),
    profilesPerChargerHour: { max: r3(Math.max(0, ...profileRates)), mean: r3(profileRates.reduce((a, b) => a + b, 0) / Math.max(1, profileRates.length)) },
    reclaim: { maxS: Number.isFinite(reclaimMax) ? r3(reclaimMax) : null, episodes: rec.reclaims.length, unreclaimed: unreclaimed.length },
    orderingViolations: rec.orderingViolations.length,
    offersInGap: chargers.reduce((a, c) => a + c.offersInGap, 0),
    episodes,
  };
  const pass = passLines(m);
  return { ...m, pass, passed: pass.every((p) => p.pass) };
}

export function passLines(m: Omit<ScenarioMetrics, 'pass' | 'passed'>): PassLine[] {
  const L = PASS_LINES;
  const line = (name: string, value: number | null, limit: string, pass: boolean): PassLine => ({ name, value, limit, pass });
  return [
    line('overshoot caused by the platform (A*s)', m.overshoot.platformAs, `= ${L.platformOvershootAs}`, m.overshoot.platformAs <= L.platformOvershootAs),
    line('longest transient above the fuse (s)', m.overshoot.longestTransientS, `<= ${L.transientMaxS}`, m.overshoot.longestTransientS <= L.transientMaxS),
    line('utilisation', m.utilisation, `>= ${L.utilisationMin}`, m.utilisation === null || m.utilisation >= L.utilisationMin),
    line("Jain's fairness where sessions overlap", m.jain.weighted, `>= ${L.jainMin}`, m.jain.weighted === null || m.jain.weighted >= L.jainMin),
    line('offers in (0, min)', m.offersInGap, `= ${L.offersInGap}`, m.offersInGap === L.offersInGap),
    line('time to reclaim unused current (s)', m.reclaim.maxS, `<= ${L.reclaimMaxS}`, m.reclaim.maxS === null || m.reclaim.maxS <= L.reclaimMaxS),
    line('SetChargingProfile per charger per hour', m.profilesPerChargerHour.max, `<= ${L.profilesPerChargerHourMax}`, m.profilesPerChargerHour.max <= L.profilesPerChargerHourMax),
    line('pauses per charger per hour', m.pausesPerChargerHour, `<= ${L.pausesPerChargerHourMax}`, m.pausesPerChargerHour <= L.pausesPerChargerHourMax),
    line('ordering violations', m.orderingViolations, `= ${L.orderingViolations}`, m.orderingViolations === L.orderingViolations),
  ];
}
