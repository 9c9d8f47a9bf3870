import type { RequestOf } from '../ocpp/actions.js';
import type { TerminalCurrents } from '../core/events.js';

type MeterValue = RequestOf<'MeterValues'>['meterValue'][number];
type SampledValue = MeterValue['sampledValue'][number];

export interface MeterReading {
  currents: TerminalCurrents;
  offered?: number;
  powerW?: number;
  energyWh?: number;
  timestamp: string;
}

/**
 * Sets the current of the terminal a 1.6 phase names (L1 or L1-N is terminal 1...); any other phase
 * (N, L1-L2...) is no terminal. Named stores, not `currents[TERMINAL[phase]]`: a store under a
 * computed key is a megamorphic lookup on every sample.
 */
function setTerminal(currents: TerminalCurrents, phase: string, a: number): void {
  switch (phase) {
    case 'L1':
    case 'L1-N':
      currents.t1 = a;
      return;
    case 'L2':
    case 'L2-N':
      currents.t2 = a;
      return;
    case 'L3':
    case 'L3-N':
      currents.t3 = a;
      return;
  }
}

function scale(unit: string | undefined, base: string): number {
  if (!unit || unit === base) return 1;
  if (unit === `k${base}`) return 1000;
  return Number.NaN;
}

/**
 * Folds the sampled values of a MeterValues request into one reading: current per charger terminal,
 * offered current, active power (W) and the energy register (Wh; kWh normalised). Values from the EV
 * side (location EV) and signed data are ignored; unknown units make a value unusable, not zero.
 */
export function readMeterValues(meterValues: readonly MeterValue[], phases: 1 | 3): MeterReading | undefined {
  let reading: MeterReading | undefined;
  for (const mv of meterValues) {
    const r: MeterReading = { currents: {}, timestamp: mv.timestamp };
    for (const sv of mv.sampledValue) applySample(r, sv, phases);
    // Later meter values in one request are newer samples.
    if (!reading || r.timestamp >= reading.timestamp) reading = mergeReading(reading, r);
  }
  return reading;
}

function mergeReading(prev: MeterReading | undefined, next: MeterReading): MeterReading {
  if (!prev) return next;
  return {
    currents: { ...prev.currents, ...next.currents },
    offered: next.offered ?? prev.offered,
    powerW: next.powerW ?? prev.powerW,
    energyWh: next.energyWh ?? prev.energyWh,
    timestamp: next.timestamp,
  } as MeterReading;
}

function applySample(r: MeterReading, sv: SampledValue, phases: 1 | 3): void {
  if (sv.format === 'SignedData' || sv.location === 'EV') return;
  const value = Number(sv.value);
  if (!Number.isFinite(value)) return;
  const measurand = sv.measurand ?? 'Energy.Active.Import.Register';
  switch (measurand) {
    case 'Current.Import': {
      const k = scale(sv.unit, 'A') * value;
      if (!Number.isFinite(k)) return;
      if (sv.phase) setTerminal(r.currents, sv.phase, k);
      else {
        // A total without phase: on a 1-phase charger it is terminal 1; on a 3-phase one we cannot
        // tell, so every terminal is assumed to draw it (the balancer then counts all phases).
        if (phases === 1) r.currents.t1 = k;
        else r.currents = { t1: k, t2: k, t3: k, ...r.currents };
      }
      return;
    }
    case 'Current.Offered': {
      const k = scale(sv.unit, 'A') * value;
      if (Number.isFinite(k) && (!sv.phase || sv.phase === 'L1')) r.offered = k;
      return;
    }
    case 'Power.Active.Import': {
      const w = scale(sv.unit, 'W') * value;
      if (Number.isFinite(w) && !sv.phase) r.powerW = w;
      return;
    }
    case 'Energy.Active.Import.Register': {
      const wh = scale(sv.unit, 'Wh') * value;
      if (Number.isFinite(wh) && !sv.phase) r.energyWh = wh;
      return;
    }
    default:
      return;
  }
}

export interface PublishedMeter {
  currents: TerminalCurrents;
  transactionId: number | undefined;
  at: number;
}

/** The per-phase limit (A) a charger last accepted, and when it accepted it (ms). */
export interface AcceptedLimit {
  a: number;
  at: number;
}

/**
 * When a reading is news (node settings METER_EVENT_*). `overLimitRepeatMs`: how often an unchanged
 * reading above the accepted limit goes again. The first reading after each accepted limit goes at
 * once; repeats tell the balancer nothing new, and a charger that sends MeterValues back to back
 * (several a second) made one balancer event each. The default (2.5 s, half the default settle
 * time) is below real sample intervals and the balancer's settle time: a reading that reaches the
 * balancer before it counts the accept is followed by another within the settle window, so a
 * charger that ignores its limit is still seen before the decrease would count as settled.
 */
export interface MeterEventRules {
  deltaA: number;
  maxAgeMs: number;
  overLimitRepeatMs: number;
}

/**
 * Whether a reading is news for the balancer: a terminal current moved by `deltaA`, the transaction
 * changed, the last event is `maxAgeMs` old (so the balancer's view never goes stale), or a terminal
 * draws more than the limit the charger last accepted by `deltaA` (first after that accept, then at
 * most every `overLimitRepeatMs`). Unchanged periodic samples are not republished on NATS: at
 * thousands of chargers they were most of the MeterValues cost, and the balancer learns nothing from
 * them. A charger over its limit is the exception: it accepted a decrease and kept drawing what it
 * drew (so its reading did not move), and the balancer, which counts the decrease once its settle
 * time passed, learns that only from a reading; skipped, it came at `maxAgeMs` (S8: 30-40 s over the
 * fuse while the others used the room).
 */
export function meterEventDue(prev: PublishedMeter | undefined, next: PublishedMeter, opts: MeterEventRules, limit?: AcceptedLimit): boolean {
  if (!prev || prev.transactionId !== next.transactionId || next.at - prev.at >= opts.maxAgeMs) return true;
  // The level above which a current is news, or Infinity (runs on every MeterValues: no array of terminals per call).
  const overA = limit !== undefined && (prev.at < limit.at || next.at - prev.at >= opts.overLimitRepeatMs) ? limit.a + opts.deltaA : Infinity;
  const p = prev.currents;
  const n = next.currents;
  return terminalNews(p.t1, n.t1, opts.deltaA, overA) || terminalNews(p.t2, n.t2, opts.deltaA, overA) || terminalNews(p.t3, n.t3, opts.deltaA, overA);
}

/** One terminal of meterEventDue: it appeared or went, moved by `deltaA`, or is at or above `overA`. */
function terminalNews(a: number | undefined, b: number | undefined, deltaA: number, overA: number): boolean {
  if (a === undefined || b === undefined) return a !== b;
  return Math.abs(a - b) >= deltaA || b >= overA;
}

/**
 * The per-phase limit (A) a SetChargingProfile sets at most: its highest period. Undefined for a
 * profile in W, whose current depends on the voltage and phases.
 */
export function profileLimitA(req: RequestOf<'SetChargingProfile'>): number | undefined {
  const schedule = req.csChargingProfiles.chargingSchedule;
  if (schedule.chargingRateUnit !== 'A' || schedule.chargingSchedulePeriod.length === 0) return undefined;
  return Math.max(...schedule.chargingSchedulePeriod.map((p) => p.limit));
}
