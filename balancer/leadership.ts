import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { createJson, getJson, isWrongLastSequence } from '../core/kv-json.js';
import { encodeJson } from '../core/nats.js';

/** A holder that cannot renew stops leading this fraction of the lease before its expiry (clock skew). */
const EXPIRY_MARGIN = 0.1;

/** Leases (and presence) are renewed three times a lease period. */
export function renewalIntervalMs(leaseTtlMs: number): number {
  return Math.max(100, Math.floor(leaseTtlMs / 3));
}

/**
 * Which of `slices` parts of the renewal period renews a placement group's lease: fixed per group,
 * so each lease is renewed once a period, and consecutive groups in consecutive slices (as even as
 * the counts allow: a hash of 64 keys left some slices empty and others with twice the average).
 */
export function renewalSlice(group: number, slices: number): number {
  return group % slices;
}

/**
 * A lease or presence write gives up after half a renewal period and is tried again soon (a failed
 * renewal brings the next tick forward): a holder renews within well under a renewal period of its
 * stream getting a leader again, well before a waiting node may take its lease (see `acquireOrRenew`).
 */
export function leaseRequestTimeoutMs(leaseTtlMs: number): number {
  return Math.max(100, Math.floor(renewalIntervalMs(leaseTtlMs) / 2));
}

export interface LeaseValue {
  /** Empty when released. */
  nodeId: string;
  expiresAt: number;
}

/** A node's presence in the leases bucket, renewed with its leases; gone when it expires or the node leaves. */
export interface PresenceValue {
  nodeId: string;
  /** When the node started: a balancer is handed to a node only once it has been up a lease period. */
  since: number;
  expiresAt: number;
}


/**
 * Rendezvous (highest random weight) hashing: every node computes the same preferred node for a
 * key (a placement group's lease key) from the same set of live nodes, keys spread evenly, and a
 * node leaving or joining moves only the keys it wins or loses.
 */
export function preferredNode(liveNodes: Iterable<string>, key: string): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const node of liveNodes) {
    const score = createHash('sha1').update(node).update('\0').update(key).digest().readBigUInt64BE(0);
    if (score > bestScore || (score === bestScore && best !== undefined && node < best)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}

/**
 * A lease in KV with its own expiry (nats-server 2.9 ignores per-key TTL), taken and renewed with
 * compare-and-set by revision, so at most one node holds it at a time. The revision at which it was
 * taken is the holder's epoch: a later holder always has a higher one (KV revisions only grow), so a
 * charger's node can refuse a limit from an earlier holder.
 */
export class Lease {
  private revision: number | undefined;
  private expiresAt = 0;
  /**
   * When this node first found the lease free (absent, handed back or expired). A node that is not
   * preferred waits a while from here: an absent lease has no expiry to wait from, and without this
   * the first node to hear of a new installation took its lease, preferred or not.
   */
  private freeSince: number | undefined;
  /** The leadership epoch while held: the KV revision of the write that took the lease. */
  epoch: number | undefined;
  /** Why the last renewal or take failed to reach KV (for the log). */
  lastError: unknown;
  /** When a request on this lease last failed to reach KV. */
  private failedAt: number | undefined;

  constructor(
    private readonly kv: KV,
    readonly key: string,
    private readonly nodeId: string,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  get held(): boolean {
    return this.revision !== undefined;
  }

  /** Until when this node may act as the holder without a renewal (0 when not held): its expiry, less the skew margin. */
  get validUntil(): number {
    return this.revision === undefined ? 0 : this.expiresAt - this.ttlMs * EXPIRY_MARGIN;
  }

  /**
   * Renews the lease if ours; otherwise takes it when free or expired for at least `takeAfterMs`
   * (0 for the group's preferred node; the others wait, so the preferred one wins unless it
   * is gone). Returns whether we hold it.
   *
   * While NATS or the bucket's stream leader is unavailable (a JetStream election after a server
   * died takes seconds) the lease stays ours until its own expiry, and its revision is kept: once
   * writes work again, a compare-and-set on that revision proves nobody took it meanwhile, so the
   * same epoch goes on instead of a needless change of leader.
   *
   * `seen`: the lease as the bucket's watch last delivered it. Held by another node and unexpired
   * there, it is not read: a read of every lease held elsewhere, every renewal period, on every node,
   * was two thirds of a cluster's JetStream requests, in one burst per tick. Taking nothing is always
   * safe; a watch that lags only delays a take until the seen expiry passes (or the handback arrives).
   */
  async acquireOrRenew(now: number, takeAfterMs = 0, seen?: LeaseValue): Promise<boolean> {
    const value: LeaseValue = { nodeId: this.nodeId, expiresAt: now + this.ttlMs };
    if (this.revision === undefined && seen && seen.nodeId !== '' && seen.nodeId !== this.nodeId && seen.expiresAt > now) {
      this.freeSince = undefined;
      return this.lost();
    }
    try {
      if (this.revision !== undefined) {
        try {
          this.revision = await this.kv.update(this.key, encodeJson(value), this.revision);
          this.expiresAt = value.expiresAt;
          this.lastError = undefined;
          return true;
        } catch (err) {
          if (isWrongLastSequence(err)) return this.lost();
          throw err;
        }
      }
      const current = await getJson<LeaseValue>(this.kv, this.key);
      const free = !current || (current.value.nodeId !== this.nodeId && current.value.expiresAt <= now);
      if (!free && current.value.nodeId !== this.nodeId) {
        this.freeSince = undefined;
        return this.lost();
      }
      if (free) {
        this.freeSince ??= now;
        // A holder's lease that ran out while this node could not reach the bucket either (its stream
        // electing a leader): the holder could not renew it, and may only now be able to. Even the
        // preferred node (whose view of who is alive is as stale: presences lapsed meanwhile too)
        // gives it two renewal periods. A node that crashed is taken over without them.
        const unrenewable = current?.value.nodeId && this.failedAt !== undefined && now - this.failedAt < this.ttlMs;
        if (now - this.freeSince < (unrenewable ? Math.max(takeAfterMs, 2 * renewalIntervalMs(this.ttlMs)) : takeAfterMs)) return this.lost();
      }
      if (!current) {
        if (!(await createJson(this.kv, this.key, value))) return this.lost();
        const revision = (await this.kv.get(this.key))?.revision;
        return revision === undefined ? this.lost() : this.taken(revision, value.expiresAt);
      }
      // Free, or ours from before a restart: a new epoch either way.
      return this.taken(await this.kv.update(this.key, encodeJson(value), current.revision), value.expiresAt);
    } catch (err) {
      this.lastError = err;
      this.failedAt = this.clock();
      // Unread, the lease may be free no longer: a wait counts from the next read that finds it free.
      // While its stream elects a leader the holder cannot renew it either, and a node still counting
      // from a free lease it saw before (a handback) took it the moment the stream came back.
      this.freeSince = undefined;
      // Unreachable: held while surely unexpired (a margin for clock skew), revision kept either way.
      // The clock is read again: a request that timed out took seconds, and `now` is from before it.
      return this.clock() < this.validUntil;
    }
  }

  /** Hands the lease back at once (graceful stop, or a handoff to the preferred node). */
  async release(now: number): Promise<void> {
    if (this.revision === undefined) return;
    const revision = this.revision;
    this.lost();
    try {
      await this.kv.update(this.key, encodeJson({ nodeId: '', expiresAt: now } satisfies LeaseValue), revision);
    } catch {
      // Someone else holds it already.
    }
  }

  private taken(revision: number, expiresAt: number): boolean {
    this.freeSince = undefined;
    this.lastError = undefined;
    this.revision = revision;
    this.epoch = revision;
    this.expiresAt = expiresAt;
    return true;
  }

  private lost(): false {
    this.revision = undefined;
    this.epoch = undefined;
    return false;
  }
}
