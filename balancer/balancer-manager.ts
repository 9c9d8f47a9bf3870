import type { KV } from '@nats-io/kv';
import type { AvailableCurrent } from '../core/available-current-store.js';
import type { ChargerCaps } from '../core/cap-store.js';
import type { ConfigCache } from '../core/config-cache.js';
import { watchBucket } from '../core/kv-watch.js';
import { InstallationBalancer, type BalancerDeps } from './installation-balancer.js';
import { putJson } from '../core/kv-json.js';
import { classifyNatsError } from '../core/nats-errors.js';
import { placementGroup } from '../core/placement-groups.js';
import { leaseKeys } from '../core/subjects.js';
import { Lease, preferredNode, renewalIntervalMs, renewalSlice, type LeaseValue, type PresenceValue } from './leadership.js';

/** Balancers starting at once on a node (each reads its chargers' limits and asks each for its status). */
const CONCURRENT_STARTS = 16;
/** How soon a failed lease renewal is tried again. */
const RENEWAL_RETRY_MS = 200;
/**
 * The renewal period is cut into this many slices, and each placement group's lease is renewed in
 * its own slice (renewalSlice): a node renewing all its leases at once stalled its event loop and its
 * NATS server for tens of milliseconds every period, the tail of every event timed meanwhile.
 */
const RENEWAL_SLICES = 20;

export interface ManagerDeps extends BalancerDeps {
  nodeId: string;
  cache: ConfigCache;
  /** The leases bucket: watched for presence and handed-back leases. */
  leases: KV;
  /** The same bucket for lease and presence writes, whose requests give up after half a renewal period (leaseRequestTimeoutMs). */
  leaseWrites: KV;
  caps: KV;
  availableCurrent: KV;
  /** How long a lease lives without renewal; a crashed leader's installations move after this. */
  leaseTtlMs: number;
}

/**
 * Runs the balancers this node leads: one per installation cluster-wide. Installations are led by
 * placement group (`core/placement-groups.ts`): one KV lease per group that has installations, which
 * another node takes over when it expires, and whose holder runs the balancers of every installation
 * in it. Groups spread over the live nodes by rendezvous hashing over their presence entries: the
 * preferred node takes a free lease at once, the others only once it has stayed free for a lease
 * period (so someone leads even if the views differ). Feeds config, caps and dynamic limits to the
 * balancers.
 */
export class BalancerManager {
  /** Per placement group. */
  private readonly leases = new Map<number, Lease>();
  private readonly running = new Map<string, InstallationBalancer>();
  private readonly starting = new Set<string>();
  private readonly startups = new Set<Promise<void>>();
  private freeStartSlots = CONCURRENT_STARTS;
  private readonly waitingStarts: (() => void)[] = [];
  private readonly caps = new Map<string, ChargerCaps>();
  private readonly dynamic = new Map<string, AvailableCurrent>();
  private readonly stops: (() => void)[] = [];
  private readonly presence = new Map<string, PresenceValue>();
  /** Every group's lease as the bucket's watch last delivered it (see Lease.acquireOrRenew). */
  private readonly seenLeases = new Map<number, LeaseValue>();
  /** Per held group: pauses its balancers when the lease runs out unrenewed (a tick stuck on NATS cannot). */
  private readonly expiryGuards = new Map<number, NodeJS.Timeout>();
  private readonly since = Date.now();
  private loop: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private ticking: Promise<void> | undefined;
  /** What the next tick covers: every installation, or the renewal slices that came due meanwhile. */
  private pending: 'all' | Set<number> | undefined;
  /** The last renewal slice ticked, counted from the epoch (slice `n % RENEWAL_SLICES` of period `n / RENEWAL_SLICES`). */
  private lastSlice: number | undefined;

  constructor(private readonly deps: ManagerDeps) {}

  async start(): Promise<void> {
    const { cache } = this.deps;
    await Promise.all([
      this.watch(this.deps.caps, (key, v) => {
        const caps = (v as ChargerCaps | undefined) ?? {};
        this.caps.set(key, caps);
        const inst = cache.chargers.get(key)?.installationId;
        if (inst) this.running.get(inst)?.updateCaps(key, caps);
      }),
      this.watch(this.deps.availableCurrent, (key, v) => {
        const value = v as AvailableCurrent | undefined;
        if (value) this.dynamic.set(key, value);
        else this.dynamic.delete(key);
        this.running.get(key)?.updateDynamic(value);
      }),
      // Presence of the nodes, and leases handed back (a node stopping or handing off): act at once.
      this.watch(this.deps.leases, (key, v) => {
        if (key.startsWith(leaseKeys.presencePrefix)) {
          const node = key.slice(leaseKeys.presencePrefix.length);
          const value = v as PresenceValue | undefined;
          const known = this.presence.has(node);
          if (value) this.presence.set(node, value);
          else this.presence.delete(node);
          // Renewals change nothing; a node joining or leaving changes who is preferred.
          if (known !== !!value && node !== this.deps.nodeId) void this.tick();
        } else if (key.startsWith(leaseKeys.groupPrefix)) {
          const lease = v as LeaseValue | undefined;
          const group = Number(key.slice(leaseKeys.groupPrefix.length));
          if (lease) this.seenLeases.set(group, lease);
          else this.seenLeases.delete(group);
          if (lease?.nodeId === '') void this.tick();
        }
      }),
    ]);
    await this.announce();
    const onInstallation = (id: string, value: unknown): void => {
      const b = this.running.get(id);
      if (!b) return void this.tick();
      if (value) b.updateInstallation(value as never);
      // Deleted: its balancer stops; its group's lease stays while other installations are in it.
      else void this.stopBalancer(id, 'installation deleted: balancer stopped');
    };
    const onCharger = (id: string, value: unknown, previous: unknown): void => {
      const inst = (value as { installationId?: string } | undefined)?.installationId ?? (previous as { installationId?: string } | undefined)?.installationId;
      if (inst) this.running.get(inst)?.updateCharger(id, value as never);
    };
    cache.on('installation', onInstallation);
    cache.on('charger', onCharger);
    this.stops.push(() => cache.off('installation', onInstallation), () => cache.off('charger', onCharger));
    await this.tick();
    // Set after the first tick: a tick asked for while one runs extends it, so a timer firing during
    // a slow first tick kept it going and the node never listened. Renewals then run while the
    // first balancers start (a thousand of them take longer than a lease); the node listens once
    // they run (or could not start, and wait for a later tick).
    const sliceMs = Math.max(1, Math.floor(renewalIntervalMs(this.deps.leaseTtlMs) / RENEWAL_SLICES));
    // Slices by the clock, not by timer firings: on a busy event loop the timer fires late, and
    // counting firings stretched the renewal period until leases ran out (every slice that came due
    // since the last firing is ticked, at most a whole period's).
    this.loop = setInterval(() => {
      const current = Math.floor(this.deps.now() / sliceMs);
      const from = this.lastSlice === undefined ? current : Math.max(this.lastSlice + 1, current - RENEWAL_SLICES + 1);
      this.lastSlice = current;
      for (let n = from; n <= current; n++) void this.tick(n % RENEWAL_SLICES);
    }, sliceMs);
    await Promise.all(this.startups);
  }

  /** Leaves the cluster at once: presence removed first, so the others do not hand leases back to us. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.loop);
    clearTimeout(this.retry);
    for (const t of this.expiryGuards.values()) clearTimeout(t);
    for (const s of this.stops) s();
    await this.deps.leases.delete(leaseKeys.presence(this.deps.nodeId)).catch(() => undefined);
    await Promise.all([...this.leases.keys()].map((group) => this.releaseGroup(group)));
  }

  /** This node's leadership epoch for an installation (its group lease's), while it leads it. */
  epoch(installationId: string): number | undefined {
    return this.running.has(installationId) ? this.leases.get(placementGroup(installationId))?.epoch : undefined;
  }

  /**
   * The nodes this node sees alive (presence not expired), itself included while running. In its
   * first lease period a node also counts those whose presence lapsed: after the whole cluster
   * restarts, the others are starting too, and a node that saw only itself would take everything.
   */
  liveNodes(now = this.deps.now()): string[] {
    const starting = now - this.since < this.deps.leaseTtlMs;
    const live = [...this.presence].filter(([, p]) => starting || p.expiresAt > now).map(([id]) => id);
    if (!this.stopped && !live.includes(this.deps.nodeId)) live.push(this.deps.nodeId);
    return live.sort();
  }

  private async announce(): Promise<void> {
    const value: PresenceValue = { nodeId: this.deps.nodeId, since: this.since, expiresAt: this.deps.now() + this.deps.leaseTtlMs };
    this.presence.set(this.deps.nodeId, value);
    await putJson(this.deps.leaseWrites, leaseKeys.presence(this.deps.nodeId), value).catch(() => undefined);
  }

  balancer(installationId: string): InstallationBalancer | undefined {
    return this.running.get(installationId);
  }

  /**
   * One tick at a time; what is asked for while one runs (every installation, or one renewal slice)
   * runs after it, merged. Without `slice`, every installation: a node joining or leaving, a lease
   * handed back, a new installation, a retry are acted on at once.
   */
  private tick(slice?: number): Promise<void> {
    if (slice === undefined) this.pending = 'all';
    else if (this.pending === undefined) this.pending = new Set([slice]);
    else if (this.pending !== 'all') this.pending.add(slice);
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      try {
        while (this.pending !== undefined && !this.stopped) {
          const due = this.pending;
          this.pending = undefined;
          await this.tickOnce(due);
        }
      } catch (err) {
        // Ticks are fired and forgotten (timer, watches): one that fails is logged, the next one retries.
        this.deps.logger.error({ err }, 'balancer placement tick failed');
      } finally {
        this.ticking = undefined;
      }
    })();
    return this.ticking;
  }

  /**
   * Renews presence and held leases, takes free ones it is preferred for, hands off the others: of
   * every placement group, or of those in the `due` renewal slices (presence with slice 0). Each
   * lease is still renewed once a renewal period, and none waits longer for a take than before.
   */
  private async tickOnce(due: 'all' | ReadonlySet<number>): Promise<void> {
    if (this.stopped) return;
    const now = this.deps.now();
    const all = due === 'all';
    const live = this.liveNodes(now);
    const results = await Promise.all([
      // Presence beside the renewals, not before them: a write waiting out a stream election held every renewal up.
      all || due.has(0) ? this.announce().then(() => false) : false,
      ...[...this.groupsDue(due)].map(([group, ids]) => this.tickGroup(group, ids, now, live)),
    ]);
    if (all || due.has(0)) for (const id of [...this.running.keys()]) if (!this.deps.cache.installations.has(id)) await this.stopBalancer(id, 'installation deleted: balancer stopped');
    // A renewal that failed is tried again soon, not a renewal period later: once the bucket's stream
    // has a leader again, the holder must renew before a waiting node takes the lease.
    if (results.some(Boolean) && !this.stopped) {
      clearTimeout(this.retry);
      this.retry = setTimeout(() => void this.tick(), RENEWAL_RETRY_MS);
    }
  }

  /** The installations of each placement group due (every group when 'all'); a held group left empty with none. */
  private groupsDue(due: 'all' | ReadonlySet<number>): Map<number, string[]> {
    const isDue = (group: number): boolean => due === 'all' || due.has(renewalSlice(group, RENEWAL_SLICES));
    const groups = new Map<number, string[]>();
    for (const id of this.deps.cache.installations.keys()) {
      const group = placementGroup(id);
      if (isDue(group)) (groups.get(group) ?? groups.set(group, []).get(group)!).push(id);
    }
    for (const group of this.leases.keys()) if (isDue(group) && !groups.has(group)) groups.set(group, []);
    return groups;
  }

  /** Renews, takes, hands off or gives up one group's lease, and starts or stops its balancers. Returns whether a renewal failed. */
  private async tickGroup(group: number, ids: readonly string[], now: number, live: readonly string[]): Promise<boolean> {
    const { nodeId, leaseTtlMs } = this.deps;
    // No installation left in it: an empty group holds no lease (a small site writes few).
    if (ids.length === 0) {
      await this.releaseGroup(group);
      return false;
    }
    let lease = this.leases.get(group);
    if (!lease) {
      lease = new Lease(this.deps.leaseWrites, leaseKeys.group(group), nodeId, leaseTtlMs, this.deps.now);
      this.leases.set(group, lease);
    }
    const preferred = preferredNode(live, lease.key);
    if (lease.held && preferred !== nodeId && ids.some((id) => this.running.has(id)) && now - (this.presence.get(preferred ?? '')?.since ?? now) >= leaseTtlMs) {
      // A node that joined (or came back) wins this group: hand it over once it has been up a lease period.
      this.deps.logger.info({ group, installations: ids.length, to: preferred }, 'handing a placement group’s balancers to its preferred node');
      await this.releaseGroup(group);
      return false;
    }
    const held = await lease.acquireOrRenew(now, preferred === nodeId ? 0 : leaseTtlMs, this.seenLeases.get(group));
    if (held) {
      this.guardExpiry(group, lease);
      for (const id of ids) {
        const running = this.running.get(id);
        if (running?.isPaused) {
          this.deps.logger.info({ installationId: id, epoch: lease.epoch }, 'balancer lease renewed on the same revision: balancer resumes');
          running.resume();
        }
        // Not awaited: a start waiting seconds on an unreadable stream must not hold up the renewal of every other lease.
        if (!running && !this.starting.has(id)) {
          const started = this.startBalancer(id, group, lease.epoch).finally(() => this.startups.delete(started));
          this.startups.add(started);
        }
      }
    }
    // Not held but its revision kept (NATS or the stream unavailable): the expiry guard has paused them; a renewal resumes them.
    else if (!lease.held) await Promise.all(ids.filter((id) => this.running.has(id)).map((id) => this.stopBalancer(id, 'balancer lease lost')));
    return lease.held && lease.lastError !== undefined;
  }

  private async startBalancer(id: string, group: number, epoch: number | undefined): Promise<void> {
    const installation = this.deps.cache.installations.get(id);
    if (!installation || this.stopped) return;
    this.starting.add(id);
    const balancer = new InstallationBalancer(installation, this.deps.cache.chargersOf(id), this.deps);
    // Few at a time: a node taking a thousand installations at once starved its own event loop
    // (leases unrenewed, the API's start timing out).
    await this.startSlot();
    try {
      if (this.stopped || this.leases.get(group)?.epoch !== epoch) return;
      balancer.epoch = epoch;
      for (const c of this.deps.cache.chargersOf(id)) {
        const caps = this.caps.get(c.id);
        if (caps) balancer.updateCaps(c.id, caps);
      }
      balancer.updateDynamic(this.dynamic.get(id));
      await balancer.start();
      // The lease may have run out, or changed hands and back, while the balancer read its limits (the guard saw nothing running).
      const lease = this.leases.get(group);
      if (this.stopped || !lease || lease.epoch !== epoch || this.deps.now() >= lease.validUntil) return void (await balancer.stop());
      this.running.set(id, balancer);
      this.deps.logger.info({ installationId: id, epoch }, 'balancer started on this node');
    } catch (err) {
      // E.g. its limits unreadable during a JetStream election: the lease stays, the next tick tries again.
      // (Thrown on, this rejected a tick nobody awaits, and the node died of the unhandled rejection.)
      this.deps.logger.warn({ err, installationId: id }, 'balancer could not start');
      await balancer.stop();
    } finally {
      this.starting.delete(id);
      this.releaseStartSlot();
    }
  }

  private startSlot(): Promise<void> {
    if (this.freeStartSlots > 0) {
      this.freeStartSlots--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waitingStarts.push(resolve));
  }

  private releaseStartSlot(): void {
    const next = this.waitingStarts.shift();
    if (next) next();
    else this.freeStartSlots++;
  }

  /**
   * Armed at every renewal: if the next one has not come by the lease's own expiry (less the skew
   * margin), the balancer pauses at once (sends nothing). A tick waiting seconds on a JetStream
   * request timeout would otherwise let it go on raising after a successor took the lease, before
   * the charger nodes heard the successor's epoch. The balancer is paused, not stopped: only a write
   * on the lease's revision can take it, and while the bucket's stream elects a leader nobody can
   * write. A renewal that then succeeds on that revision proves nobody took it, and the balancer
   * resumes with its state and epoch (no restart, no re-read of the limits); a renewal that finds
   * the revision changed stops it.
   */
  private guardExpiry(group: number, lease: Lease): void {
    clearTimeout(this.expiryGuards.get(group));
    const check = (): void => {
      if (this.deps.now() < lease.validUntil) return void this.expiryGuards.set(group, setTimeout(check, lease.validUntil - this.deps.now()));
      this.expiryGuards.delete(group);
      const err = lease.lastError;
      const why = err === undefined ? 'renewal not answered yet' : `${classifyNatsError(err)}: ${String((err as Error)?.message ?? err)}`;
      for (const [id, balancer] of this.balancersOf(group)) {
        if (balancer.isPaused) continue;
        this.deps.logger.warn({ installationId: id, group, why }, 'balancer lease ran out unrenewed: balancer paused (sends nothing) until renewed');
        balancer.pause();
      }
    };
    this.expiryGuards.set(group, setTimeout(check, Math.max(0, lease.validUntil - this.deps.now())));
  }

  /** The running balancers of a placement group's installations. */
  private balancersOf(group: number): [string, InstallationBalancer][] {
    return [...this.running].filter(([id]) => placementGroup(id) === group);
  }

  private async stopBalancer(id: string, why: string): Promise<void> {
    const balancer = this.running.get(id);
    if (!balancer) return;
    this.deps.logger.warn({ installationId: id }, why);
    this.running.delete(id);
    await balancer.stop();
  }

  /** Stops the group's balancers, then hands its lease back at once (graceful stop, hand-off, or no installation left in it). */
  private async releaseGroup(group: number): Promise<void> {
    clearTimeout(this.expiryGuards.get(group));
    this.expiryGuards.delete(group);
    const balancers = this.balancersOf(group);
    for (const [id] of balancers) this.running.delete(id);
    await Promise.all(balancers.map(([, b]) => b.stop()));
    await this.leases.get(group)?.release(this.deps.now());
    this.leases.delete(group);
  }

  private async watch(kv: KV, apply: (key: string, value: unknown) => void): Promise<void> {
    this.stops.push(await watchBucket(kv, apply));
  }
}
