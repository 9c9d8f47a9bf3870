import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { MAX_FUSE_A } from './schemas.js';
import { getJson, putJson } from './kv-json.js';
import type { PhaseCurrents } from './model.js';
import { encodeJson } from './nats.js';
import { subjects } from './subjects.js';
import { validateWith } from './validate.js';

export const DEFAULT_AVAILABLE_CURRENT_TTL_S = 60;
export const MAX_AVAILABLE_CURRENT_TTL_S = 86_400;

/** A dynamic per-phase limit from an energy manager; the balancer falls back to the fuse once it expires. */
export interface AvailableCurrent extends PhaseCurrents {
  installationId: string;
  setAt: string;
  expiresAt: string;
}

/** Published on `subjects.availableCurrent(id)`: the new limit, or `cleared` when it was deleted. */
export type AvailableCurrentMessage = AvailableCurrent | { installationId: string; cleared: true; at: string };

const phase = { type: 'number', minimum: 0, maximum: MAX_FUSE_A } as const;

/** What an energy manager writes. 0 A is allowed: "nothing available on this phase right now". */
export const availableCurrentInputSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['L1', 'L2', 'L3'],
  properties: {
    L1: phase,
    L2: phase,
    L3: phase,
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
    const record: AvailableCurrent = {
      installationId,
      L1: valid.L1,
      L2: valid.L2,
      L3: valid.L3,
      setAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + valid.ttlSeconds * 1000).toISOString(),
    };
    await putJson(this.kv, installationId, record);
    this.publish(record);
    return record;
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
