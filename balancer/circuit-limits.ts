/**
 * The current available to the chargers of each circuit, from its fuse and its grid meter. A meter
 * measures everything on its circuit, chargers included: the load that is not the chargers is the
 * reading minus what the chargers below the circuit drew at the time of the reading (their
 * MeterValues), and the chargers get `fuse - margin - that load`. A meter silent longer than its
 * `maxAgeS` puts the circuit on its failsafe current. Pure: the shell passes readings and time.
 */
import { ROOT_CIRCUIT_ID } from '../core/circuits.js';
import type { Circuit, Installation, Phase, PhaseCurrents } from '../core/model.js';
import type { MeterStatus } from '../core/meter-reading.js';
import type { CircuitInput } from './allocation-types.js';
import { circuitChains } from './allocate-circuits.js';
import { PHASES, wiringOf } from './phases.js';
import type { ChargerWiring } from './balancer-model.js';

/** How far back a silent meter's failsafe (the lowest limit it gave) looks. */
export const METER_LOWS_WINDOW_MS = 3_600_000;
/** Draw samples kept per charger to align them with meter readings. */
const DRAW_SAMPLES = 8;

export interface DrawSample {
  at: number;
  grid: PhaseCurrents;
}

/**
 * One metered circuit's memory: the last reading, the other (non-charger) load derived from it
 * (`estimate`) and the one in force (`otherLoad`, see `settledOtherLoad`), and the load in force
 * after each reading of the last hour.
 */
export interface MeterState {
  last: { at: number; reading: PhaseCurrents; estimate: PhaseCurrents; otherLoad: PhaseCurrents };
  history: readonly { at: number; otherLoad: PhaseCurrents }[];
}

export interface CircuitLimits {
  /** Limits in force for the chargers of each sub-circuit (fuse - margin, lowered by its meter). */
  circuits: CircuitInput[];
  /** The root meter's limits for the chargers, when the installation's fuse has a meter. */
  root?: PhaseCurrents;
  meters: MeterStatus[];
  /** When the next meter goes silent (the balancer wakes then). */
  nextSilenceAt?: number;
}

/** A charger's terminal currents on grid phases (0 where its wiring is unknown: its draw is then counted as other load, the safe side). */
export function gridDraw(w: ChargerWiring, m: { t1?: number; t2?: number; t3?: number }): PhaseCurrents {
  const out = { L1: 0, L2: 0, L3: 0 };
  const terminals = wiringOf(w).terminals;
  if (!terminals) return out;
  const values = [m.t1, m.t2, m.t3];
  terminals.forEach((p, t) => {
    const v = values[t];
    const phase = PHASES[p];
    if (phase && typeof v === 'number' && Number.isFinite(v)) out[phase] += Math.max(0, v);
  });
  return out;
}

/** The charger's draw history with `sample` added (the newest few, in time order). */
export function withDrawSample(history: readonly DrawSample[] | undefined, sample: DrawSample): DrawSample[] {
  return [...(history ?? []).filter((s) => s.at <= sample.at), sample].slice(-DRAW_SAMPLES);
}

/** The draw at time `at`: the newest sample not after it; none means 0 (its draw then counts as other load, the safe side). */
function drawAt(history: readonly DrawSample[] | undefined, at: number): PhaseCurrents | undefined {
  let found: DrawSample | undefined;
  for (const s of history ?? []) if (s.at <= at) found = s;
  return found?.grid;
}

/**
 * The other load in force after a reading, per phase. A charger's MeterValues and the meter's
 * readings are sampled apart (every 10 s each, as a rule), so a charger whose draw changed since its
 * last sample shows in one reading's estimate as a false step of the other load: up after a raise
 * (which would lower the chargers back), down after a decrease (which would raise them into room
 * that is not there). A change of the estimate is therefore taken only when two readings in a row
 * show it (the load in force stays when it lies between the last two estimates), except that a
 * reading above the circuit's limit (`fuse - margin`) takes a higher estimate at once: the circuit
 * is over now, whatever the cause. So a real step of the other load that does not put the circuit
 * over its limit is followed one reading later, and one that does, at once.
 */
export function settledOtherLoad(previous: MeterState['last'] | undefined, reading: PhaseCurrents & { at: number }, estimate: PhaseCurrents, bounds: MeterBounds): PhaseCurrents {
  // After a silence the circuit ran on its failsafe: the first reading back starts afresh.
  if (!previous || reading.at - previous.at > bounds.maxAgeMs) return estimate;
  const out = { L1: 0, L2: 0, L3: 0 };
  for (const p of PHASES) {
    const lo = Math.min(estimate[p], previous.estimate[p]);
    const hi = Math.max(estimate[p], previous.estimate[p]);
    out[p] = Math.min(hi, Math.max(lo, previous.otherLoad[p]));
    const l = bounds.limit[p];
    if (l !== undefined && reading[p] > l) out[p] = Math.max(out[p], estimate[p]);
  }
  return out;
}

/**
 * A reading folded into the circuit's meter memory. `chargers`: every charger of the installation
 * with its circuit and its draw history; those below the metered circuit are taken off the reading.
 */
export function onMeterReading(
  previous: MeterState | undefined,
  circuits: readonly Circuit[],
  circuitId: string,
  reading: PhaseCurrents & { at: number },
  chargers: Iterable<{ circuitId: string | undefined; draws: readonly DrawSample[] | undefined }>,
  bounds: MeterBounds,
): MeterState {
  const drawn = { L1: 0, L2: 0, L3: 0 };
  const chainOf = circuitChains(circuits);
  for (const c of chargers) {
    if (circuitId !== ROOT_CIRCUIT_ID && !chainOf(c.circuitId).includes(circuitId)) continue;
    const d = drawAt(c.draws, reading.at);
    if (d) for (const p of PHASES) drawn[p] += d[p];
  }
  const estimate = { L1: 0, L2: 0, L3: 0 };
  for (const p of PHASES) estimate[p] = Math.max(0, reading[p] - drawn[p]);
  const measured = { L1: reading.L1, L2: reading.L2, L3: reading.L3 };
  const otherLoad = settledOtherLoad(previous?.last, reading, estimate, bounds);
  const history = [...(previous?.history ?? []).filter((h) => h.at > reading.at - METER_LOWS_WINDOW_MS), { at: reading.at, otherLoad }];
  return { last: { at: reading.at, reading: measured, estimate, otherLoad }, history };
}

/** `fuse - margin` per wired phase (absent phases stay absent: 0 A for allocate). */
function fuseLimits(fuse: Partial<PhaseCurrents>, marginA: number): Partial<PhaseCurrents> {
  const out: Partial<PhaseCurrents> = {};
  for (const p of PHASES) {
    const f = fuse[p];
    if (f !== undefined) out[p] = Math.max(0, f - marginA);
  }
  return out;
}

/** A metered circuit's limit for everything on it (`fuse - margin`) and how long its meter may be silent. */
export interface MeterBounds {
  limit: Partial<PhaseCurrents>;
  maxAgeMs: number;
}

/** The bounds of `circuitId`'s meter (the installation's fuse for the root). */
export function meterBounds(installation: Installation, circuitId: string): MeterBounds {
  return boundsOf(installation, circuitId === ROOT_CIRCUIT_ID ? undefined : installation.circuits?.find((c) => c.id === circuitId));
}

/** The bounds of a sub-circuit's meter, or of the root's (the installation's fuse) without `circuit`. */
function boundsOf(installation: Installation, circuit: Circuit | undefined): MeterBounds {
  const margin = installation.balancer.safetyMarginA;
  const maxAgeS = (circuit ? circuit.meter?.maxAgeS : installation.meter?.maxAgeS) ?? installation.balancer.meterMaxAgeS ?? 60;
  return { limit: fuseLimits(circuit ? circuit.limits : installation.fuse, margin), maxAgeMs: maxAgeS * 1000 };
}

/**
 * Limits of a metered circuit at `now`: `fuse - margin - other load` while the meter speaks; after
 * `maxAgeS` of silence its failsafe current (configured, else the lowest limit of the last hour, else 0 A), never above the fuse.
 */
function meteredLimits(
  circuitId: string,
  bounds: MeterBounds,
  configured: PhaseCurrents | undefined,
  state: MeterState | undefined,
  now: number,
  admissionWindowMs: number,
): { limits: Partial<PhaseCurrents>; admission?: Partial<PhaseCurrents>; status: MeterStatus; silentAt?: number } {
  const { limit: base, maxAgeMs } = bounds;
  const limits: Partial<PhaseCurrents> = {};
  const status: MeterStatus = {
    circuitId,
    reading: state?.last.reading ?? null,
    readingAt: state ? new Date(state.last.at).toISOString() : null,
    otherLoad: state?.last.otherLoad ?? null,
  };
  const silentAt = state ? state.last.at + maxAgeMs : undefined;
  if (state && silentAt !== undefined && now < silentAt) {
    // Admission looks at the highest other load of the admission window, as for a swinging dynamic limit.
    const window = state.history.filter((h) => h.at > now - admissionWindowMs);
    const admission: Partial<PhaseCurrents> = {};
    for (const p of PHASES) {
      if (base[p] === undefined) continue;
      limits[p] = Math.max(0, (base[p] as number) - state.last.otherLoad[p]);
      admission[p] = Math.min(limits[p] as number, Math.max(0, (base[p] as number) - Math.max(0, ...window.map((h) => h.otherLoad[p]))));
    }
    return { limits, admission, status, silentAt };
  }
  const recent = (state?.history ?? []).filter((h) => h.at > now - METER_LOWS_WINDOW_MS);
  let source: NonNullable<MeterStatus['failsafe']>['source'];
  const current = { L1: 0, L2: 0, L3: 0 };
  if (configured) {
    source = 'configured';
    Object.assign(current, configured);
  } else if (recent.length > 0) {
    source = 'lowest meter limit of the last hour';
    for (const p of PHASES) current[p] = Math.max(0, (base[p] ?? 0) - Math.max(...recent.map((h) => h.otherLoad[p])));
  } else source = 'no reading: 0 A';
  for (const p of PHASES) if (base[p] !== undefined) limits[p] = Math.min(base[p] as number, current[p]);
  status.failsafe = { since: silentAt !== undefined ? new Date(silentAt).toISOString() : null, source, current };
  return { limits, status };
}

/** Every circuit's limits in force for its chargers, and what the meters say. */
export function circuitLimitsAt(installation: Installation, meters: ReadonlyMap<string, MeterState>, now: number): CircuitLimits {
  const out: CircuitLimits = { circuits: [], meters: [] };
  const silences: number[] = [];
  const metered = (id: string, bounds: MeterBounds, failsafeCurrent: PhaseCurrents | undefined) => {
    const r = meteredLimits(id, bounds, failsafeCurrent, meters.get(id), now, installation.balancer.admissionWindowMs);
    out.meters.push(r.status);
    if (r.silentAt !== undefined) silences.push(r.silentAt);
    return r;
  };
  if (installation.meter) {
    // The installation's failsafe current is its root meter's, unless the meter names its own.
    const l = metered(ROOT_CIRCUIT_ID, boundsOf(installation, undefined), installation.meter.failsafeCurrent ?? installation.balancer.failsafeCurrent).limits;
    out.root = { L1: l.L1 ?? 0, L2: l.L2 ?? 0, L3: l.L3 ?? 0 };
  }
  for (const c of installation.circuits ?? []) {
    const bounds = boundsOf(installation, c);
    const r = c.meter ? metered(c.id, bounds, c.meter.failsafeCurrent) : { limits: bounds.limit, admission: undefined };
    out.circuits.push({ id: c.id, ...(c.parentId !== undefined ? { parentId: c.parentId } : {}), limits: r.limits, ...(r.admission ? { admissionLimits: r.admission } : {}) });
  }
  if (silences.length > 0) out.nextSilenceAt = Math.min(...silences);
  return out;
}

/** The lower of two per-phase limits. */
export function lowerOf(a: PhaseCurrents, b: PhaseCurrents | undefined): PhaseCurrents {
  if (!b) return a;
  const out = { ...a };
  for (const p of PHASES as readonly Phase[]) out[p] = Math.min(a[p], b[p]);
  return out;
}
