/**
 * Grid meter readings: what a meter on a circuit measures (everything on it, chargers included).
 * Readings are live data for the leading balancer, published on `subjects.meterReading`, not stored:
 * a balancer that has no reading younger than the meter's `maxAgeS` runs the circuit on its failsafe.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { ValidationError } from './errors.js';
import type { PhaseCurrents } from './model.js';
import { encodeJson } from './nats.js';
import { phaseCurrentsFromZero } from './schemas.js';
import { subjects } from './subjects.js';
import { validateWith } from './validate.js';

export const meterReadingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['L1', 'L2', 'L3'],
  properties: {
    ...phaseCurrentsFromZero,
    at: { type: 'string', minLength: 1, maxLength: 40, description: 'ISO date-time when the meter measured (default: when received); a reading from the future counts as now' },
  },
} as const;

/** A reading as the balancer gets it; `at` in ms. */
export interface MeterReading extends PhaseCurrents {
  installationId: string;
  circuitId: string;
  at: number;
}

/** What the balancer says of a circuit's meter (the status shows it). */
export interface MeterStatus {
  circuitId: string;
  reading: PhaseCurrents | null;
  readingAt: string | null;
  otherLoad: PhaseCurrents | null;
  /** Present while the meter is silent (or never reported): the circuit runs on its failsafe current. */
  failsafe?: { since: string | null; source: 'configured' | 'lowest meter limit of the last hour' | 'no reading: 0 A'; current: PhaseCurrents };
}

/** Validates a reading (ValidationError naming the field); `received` stands in for a missing or future `at`. */
export function toMeterReading(installationId: string, circuitId: string, input: unknown, received: number): MeterReading {
  const v = validateWith<PhaseCurrents & { at?: string }>(meterReadingSchema, input);
  const at = v.at === undefined ? received : Date.parse(v.at);
  if (!Number.isFinite(at)) throw new ValidationError('at', 'must be a date-time');
  return { installationId, circuitId, L1: v.L1, L2: v.L2, L3: v.L3, at: Math.min(at, received) };
}

/** Validates and publishes a reading as a gateway would (the API's PUT .../meter). */
export function publishMeterReading(nc: NatsConnection, installationId: string, circuitId: string, input: unknown, now: Date): void {
  const r = toMeterReading(installationId, circuitId, input, now.getTime());
  nc.publish(subjects.meterReading(installationId, circuitId), encodeJson({ L1: r.L1, L2: r.L2, L3: r.L3, at: new Date(r.at).toISOString() }));
}
