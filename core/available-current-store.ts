import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { phaseCurrentsFromZero } from './schemas.js';
import { getJson, putJson } from './kv-json.js';
import type { PhaseCurrents } from './model.js';
import { encodeJson } from './nats.js';
import { subjects } from './subjects.js';
import { validateWith } from './validate.js';

export const DEFAULT_AVAILABLE_CURRENT_TTL_S = 60;
export const MAX_AVAILABLE_CURRENT_TTL_S = 86_400;

/** Slots of the lowest-value history kept with each record. */
export const LOWS_SLOT_MS = 300_000;
/** How far back the lowest dynamic limit (the default failsafe) looks. */
export const LOWS_WINDOW_MS = 3_600_000;

/**
 * A dynamic per-phase limit from an energy manager. Once it expires the balancer puts the
 * installation on its failsafe current (see `balancer/phase-limits.ts`); the record stays in the
 * bucket for that, until deleted.
 */
export interface AvailableCurrent extends PhaseCurrents {
  installationId: string;
  setAt: string;
  expiresAt: string;
  /**
   * The lowest value per phase in each 5-minute slot of the last hour, oldest first: the default
   * failsafe when the energy manager goes silent. Absent on records written before it existed.
   */
  lows?: ({ from: string } & PhaseCurrents)[];
}

/** The lows of `previous` within the window, with `value` folded into the slot of `now`. */
export function foldLows(previous: AvailableCurrent | undefined, value: PhaseCurrents, now: number): NonNullable<AvailableCurrent['lows']> {
  const kept = (previous?.lows ?? []).filter((l) => Date.parse(l.from) > now - LOWS_WINDOW_MS - LOWS_SLOT_MS);
  const last = kept[kept.length - 1];
  if (last && now - Date.parse(last.from) < LOWS_SLOT_MS) {
    return [...kept.slice(0, -1), { from: last.from, L1: Math.min(last.L1, value.L1), L2: Math.min(last.L2, value.L2), L3: Math.min(last.L3, value.L3) }];
  }
  return [...kept, { from: new Date(now).toISOString(), L1: value.L1, L2: value.L2, L3: value.L3 }];
}

/** The lowest dynamic limit per phase over the kept history (the record's own value without one). */
export function lowestDynamic(record: AvailableCurrent): PhaseCurrents {
  const out = { L1: record.L1, L2: record.L2, L3: record.L3 };
  for (const l of record.lows ?? []) {
    out.L1 = Math.min(out.L1, l.L1);
    out.L2 = Math.min(out.L2, l.L2);
    out.L3 = Math.min(out.L3, l.L3);
  }
  return out;
}

/** Published on `subjects.availableCurrent(id)`: the new limit, or `cleared` when it was deleted. */
export type AvailableCurrentMessage = AvailableCurrent | { installationId: string; cleared: true; at: string };

/** What an energy manager writes. 0 A is allowed: "nothing available on this phase right now". */
export const availableCurrentInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['L1', 'L2', 'L3'],
  properties: {
    ...phaseCurrentsFromZero,
    ttlSeconds: { type: 'integer', minimum: 1, maximum: MAX_AVAILABLE_CURRENT_TTL_S, default: DEFAULT_AVAILABLE_CURRENT_TTL_S },
  },
} as const;

/**
 * The `available-current` bucket, keyed by installation id. Expiry is checked on read (per-key TTL is
 * silently ignored by nats-server 2.9). With a connection, every change is also published.
 */
export class AvailableCurrentStore {
  constructor(
    private readonly kv: KV,
    private readonly nc?: NatsConnection,
  ) {}

  async set(installationId: string, input: unknown, now = new Date()): Promise<AvailableCurrent> {
    const valid = validateWith<PhaseCurrents & { ttlSeconds: number }>(availableCurrentInputSchema, input);
    const previous = (await getJson<AvailableCurrent>(this.kv, installationId))?.value;
    const record: AvailableCurrent = {
      installationId,
      L1: valid.L1,
      L2: valid.L2,
      L3: valid.L3,
      setAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + valid.ttlSeconds * 1000).toISOString(),
      lows: foldLows(previous, valid, now.getTime()),
    };
    await putJson(this.kv, installationId, record);
    // The history is the balancer's business; readers of the record see the limit and its expiry.
    const { lows: _lows, ...published } = record;
    this.publish(published);
    return published;
  }

  /** The limit in force at `now`, or undefined when none was set or it expired. */
  async get(installationId: string, now = new Date()): Promise<AvailableCurrent | undefined> {
    const found = (await getJson<AvailableCurrent>(this.kv, installationId))?.value;
    return found && Date.parse(found.expiresAt) > now.getTime() ? found : undefined;
  }

  async delete(installationId: string, now = new Date()): Promise<boolean> {
    const existed = !!(await getJson<AvailableCurrent>(this.kv, installationId));
    if (existed) {
      await this.kv.delete(installationId);
      this.publish({ installationId, cleared: true, at: now.toISOString() });
    }
    return existed;
  }

  private publish(msg: AvailableCurrentMessage): void {
    this.nc?.publish(subjects.availableCurrent(msg.installationId), encodeJson(msg));
  }
}
