import { ROOT_CIRCUIT_ID } from '../core/circuits.js';
import { toMeterReading, type MeterReading } from '../core/meter-reading.js';
import type { Installation } from '../core/model.js';
import { decodeJson } from '../core/nats.js';
import type { ChargerWiring } from './balancer-model.js';
import { circuitLimitsAt, gridDraw, meterBounds, onMeterReading, withDrawSample, type CircuitLimits, type DrawSample, type MeterState } from './circuit-limits.js';

/**
 * An installation balancer's grid-meter memory: each metered circuit's readings, and each charger's
 * recent draw (taken off a meter's reading to find the other load). The pure rules are in
 * circuit-limits.ts; this keeps their state between events.
 */
export class GridMeters {
  private readonly meters = new Map<string, MeterState>();
  private readonly draws = new Map<string, DrawSample[]>();
  /** What the last `limitsAt` found, for the status and the wake timer. */
  limits: CircuitLimits | undefined;

  /** A charger's measured currents per terminal at `at`, as its draw per grid phase. */
  recordDraw(wiring: ChargerWiring, measured: { t1?: number; t2?: number; t3?: number }, at: number): void {
    this.draws.set(wiring.id, withDrawSample(this.draws.get(wiring.id), { at, grid: gridDraw(wiring, measured) }));
  }

  /** A validated reading of `circuitId`'s meter; `chargers` are all the installation's chargers. */
  onReading(installation: Installation, circuitId: string, reading: MeterReading, chargers: Iterable<ChargerWiring>): void {
    const draws = [...chargers].map((w) => ({ circuitId: w.circuitId, draws: this.draws.get(w.id) }));
    this.meters.set(circuitId, onMeterReading(this.meters.get(circuitId), installation.circuits ?? [], circuitId, reading, draws, meterBounds(installation, circuitId)));
  }

  limitsAt(installation: Installation, now: number): CircuitLimits {
    this.limits = circuitLimitsAt(installation, this.meters, now);
    return this.limits;
  }
}

/** The reading published on `subject` (its last token names the circuit), or why it is not one: bad data or an unknown circuit. */
export function meterReadingOf(installation: Installation, subject: string, data: Uint8Array, now: number): { circuitId: string; reading: MeterReading } | { circuitId: string; err: unknown } {
  const circuitId = subject.slice(subject.lastIndexOf('.') + 1);
  const known = circuitId === ROOT_CIRCUIT_ID || installation.circuits?.some((c) => c.id === circuitId);
  try {
    if (!known) throw new Error(`no circuit ${circuitId}`);
    return { circuitId, reading: toMeterReading(installation.id, circuitId, decodeJson(data), now) };
  } catch (err) {
    return { circuitId, err };
  }
}
