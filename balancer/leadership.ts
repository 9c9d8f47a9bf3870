import type { KV } from '@nats-io/kv';
import { createJson, getJson } from '../core/kv-json.js';
import { encodeJson } from '../core/nats.js';

interface LeaseValue {
  nodeId: string;
  expiresAt: number;
}

/**
 * A lease in KV with its own expiry (nats-server 2.9 ignores per-key TTL), taken and renewed with
 * compare-and-set by revision, so at most one node holds it at a time.
 */
export class Lease {
  private revision: number | undefined;

  constructor(
    private readonly kv: KV,
    readonly key: string,
    private readonly nodeId: string,
    private readonly ttlMs: number,
  ) {}

  /** Takes the lease if free, expired or already ours; renews it if ours. Returns whether we hold it. */
  async acquireOrRenew(now = Date.now()): Promise<boolean> {
    const value: LeaseValue = { nodeId: this.nodeId, expiresAt: now + this.ttlMs };
    try {
      const current = await getJson<LeaseValue>(this.kv, this.key);
      if (!current) {
        if (!(await createJson(this.kv, this.key, value))) return false;
        this.revision = (await this.kv.get(this.key))?.revision;
        return this.revision !== undefined;
      }
      if (current.value.nodeId !== this.nodeId && current.value.expiresAt > now) return false;
      this.revision = await this.kv.update(this.key, encodeJson(value), current.revision);
      return true;
    } catch {
      this.revision = undefined;
      return false;
    }
  }

  async release(): Promise<void> {
    if (this.revision === undefined) return;
    try {
      await this.kv.update(this.key, encodeJson({ nodeId: '', expiresAt: 0 }), this.revision);
    } catch {
      // Someone else holds it already.
    }
    this.revision = undefined;
  }
}
