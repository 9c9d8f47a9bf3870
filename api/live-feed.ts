import { randomBytes } from 'node:crypto';
import type { Subscription } from '@nats-io/transport-node';
import type { Charger, Installation, Phase } from '../core/model.js';
import { PHASES } from '../core/model.js';
import { subjects } from '../core/subjects.js';
import type { ApiDeps } from './deps.js';
import { balancerStatus, liveStatus, partnerConnections, type LiveState } from './live-status.js';
import { buildInstallationStatus, type InstallationStatus } from './status-view.js';

/**
 * One point of an installation's chart: `[time ms, measured L1..L3, allocated L1..L3, limit L1..L3]`,
 * with the limit in force being the fuse or the lower dynamic limit. Arrays keep an hour of history small.
 */
export type Sample = [number, ...(number | null)[]];

/** A charger's wiring and range, so a page draws its phases without another request. */
export type Wiring = Pick<Charger, 'phases' | 'phaseRotation' | 'gridPhase' | 'minCurrent' | 'maxCurrent'>;

export interface FeedMessage {
  /** `<feed epoch>:<seq>`: a client resuming with this id gets only the samples after it. */
  id: string;
  status: InstallationStatus;
  wiring: Record<string, Wiring>;
  /** Each connected charger's energy register now (Wh), for the energy of its running session. */
  energy: Record<string, number>;
  sample: Sample;
}

export interface FeedOptions {
  /** Minimum time between two refreshes; events in between are handled by one refresh. */
  minIntervalMs: number;
  /** Refresh at least this often while a page watches (the balancer publishes no event of its own). */
  refreshMs: number;
  /** ... and this often while nobody watches, to keep the chart's hour going. */
  idleRefreshMs: number;
  /** History kept, and how long a feed outlives its last page. */
  historyMs: number;
  /** The history keeps a sample at most this often (pages get every status live): an hour stays small on a phone. */
  historyStepMs: number;
}

export const DEFAULT_FEED_OPTIONS: FeedOptions = { minIntervalMs: 500, refreshMs: 2_000, idleRefreshMs: 10_000, historyMs: 3_600_000, historyStepMs: 5_000 };

type Listener = (msg: FeedMessage | 'gone') => void;

/** The limit in force on a phase: the fuse, or the dynamic (or failsafe) limit when lower. */
function limitOf(p: InstallationStatus['phases'][Phase] & { failsafe?: unknown }): number {
  const candidates = [p.fuse, p.dynamicLimit, typeof p.failsafe === 'number' ? p.failsafe : null].filter((v): v is number => typeof v === 'number');
  return Math.min(...candidates);
}

export function sampleOf(status: InstallationStatus, t: number): Sample {
  // While the failsafe is in force it is the limit (the expired dynamic limit reads as none).
  const failsafe = status.failsafe?.inForce ? status.failsafe.current : null;
  const phase = (p: Phase) => (failsafe ? { ...status.phases[p], failsafe: failsafe[p] } : status.phases[p]);
  return [t, ...PHASES.map((p) => status.phases[p].measured), ...PHASES.map((p) => status.phases[p].allocated), ...PHASES.map((p) => limitOf(phase(p)))];
}

/**
 * The live status of one installation, computed once for every page watching it: refreshed on the
 * installation's NATS events and config changes (coalesced), and on a timer for what has no event.
 */
class InstallationFeed {
  readonly epoch = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly history: { seq: number; sample: Sample }[] = [];
  private readonly listeners = new Set<Listener>();
  private last: FeedMessage | undefined;
  private sub: Subscription | undefined;
  private partnerSub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private lastRun = 0;
  private idleSince = Date.now();
  private stopped = false;

  constructor(
    readonly id: string,
    private readonly deps: ApiDeps,
    private readonly opts: FeedOptions,
    private readonly onIdle: (feed: InstallationFeed) => void,
  ) {}

  private readonly onInstallation = (id: string): void => {
    if (id === this.id) this.poke();
  };
  private readonly onCharger = (_id: string, value: Charger | undefined, previous: Charger | undefined): void => {
    if (value?.installationId === this.id || previous?.installationId === this.id) this.poke();
  };

  start(): void {
    this.sub = this.deps.bus.nc.subscribe(subjects.installationEvents(this.id), { callback: (err) => (err ? undefined : this.poke()) });
    this.partnerSub = this.deps.bus.nc.subscribe(subjects.partnerConnectionChanges(this.id), { callback: (err) => (err ? undefined : this.poke()) });
    this.deps.cache.on('installation', this.onInstallation);
    this.deps.cache.on('charger', this.onCharger);
    this.poke();
  }

  stop(): void {
    this.stopped = true;
    this.sub?.unsubscribe();
    this.partnerSub?.unsubscribe();
    this.deps.cache.off('installation', this.onInstallation);
    this.deps.cache.off('charger', this.onCharger);
    clearTimeout(this.timer);
  }

  /** Adds a page; returns the history it missed (all of it, or after `lastId` when resuming) and the latest status. */
  join(listener: Listener, lastId: string | undefined): { missed: Sample[]; latest: FeedMessage | undefined } {
    this.listeners.add(listener);
    const [epoch, seqText] = (lastId ?? '').split(':');
    const after = epoch === this.epoch && seqText && /^\d+$/.test(seqText) ? Number(seqText) : -1;
    const missed = this.history.filter((h) => h.seq > after).map((h) => h.sample);
    // The latest status is sent even on a resume: it is the state now, not history.
    if (this.listeners.size === 1) this.poke();
    return { missed, latest: this.last };
  }

  leave(listener: Listener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0) this.idleSince = Date.now();
  }

  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), Math.max(0, this.lastRun + this.opts.minIntervalMs - Date.now()));
  }

  private async refresh(): Promise<void> {
    this.running = true;
    this.lastRun = Date.now();
    try {
      const installation = this.deps.cache.installations.get(this.id);
      if (!installation) {
        for (const l of this.listeners) l('gone');
        this.listeners.clear();
        this.onIdle(this);
        return;
      }
      const chargers = this.deps.cache.chargersOf(installation.id);
      const wiring = Object.fromEntries(chargers.map((c) => [c.id, { phases: c.phases, phaseRotation: c.phaseRotation, gridPhase: c.gridPhase, minCurrent: c.minCurrent, maxCurrent: c.maxCurrent }]));
      const { status, energy } = await this.gather(installation, chargers);
      this.publish(status, wiring, energy);
    } catch (err) {
      this.deps.logger.warn({ err, installationId: this.id }, 'live feed refresh failed');
    } finally {
      this.running = false;
    }
    if (this.stopped) return;
    if (this.listeners.size === 0 && Date.now() - this.idleSince > this.opts.historyMs) {
      this.onIdle(this);
      return;
    }
    if (this.again) {
      this.again = false;
      this.poke();
    } else {
      this.timer = setTimeout(() => this.poke(), this.listeners.size > 0 ? this.opts.refreshMs : this.opts.idleRefreshMs);
    }
  }

  /** What GET /installations/:id/status answers, from the config cache instead of KV reads. */
  private async gather(installation: Installation, chargers: readonly Charger[]): Promise<{ status: InstallationStatus; energy: Record<string, number> }> {
    const nc = this.deps.bus.nc;
    const [dynamicLimit, balancer, live, partner] = await Promise.all([
      this.deps.availableCurrent.get(installation.id),
      balancerStatus(nc, installation.id),
      Promise.all(chargers.map(async (c) => [c.id, await liveStatus(this.deps.commands, c.id)] as const)),
      partnerConnections(nc, installation, chargers),
    ]);
    const energy: Record<string, number> = {};
    for (const [id, l] of live) if (l.state === 'connected' && typeof l.status.energyWh === 'number') energy[id] = l.status.energyWh;
    return { status: buildInstallationStatus({ installation, chargers, live: new Map<string, LiveState>(live), dynamicLimit, balancer, partner, now: new Date() }), energy };
  }

  private publish(status: InstallationStatus, wiring: Record<string, Wiring>, energy: Record<string, number>): void {
    const now = Date.now();
    const seq = ++this.seq;
    const sample = sampleOf(status, now);
    const previous = this.history[this.history.length - 1];
    if (!previous || now - previous.sample[0] >= this.opts.historyStepMs) this.history.push({ seq, sample });
    while (this.history.length > 0 && this.history[0]!.sample[0] < now - this.opts.historyMs) this.history.shift();
    this.last = { id: `${this.epoch}:${seq}`, status, wiring, energy, sample };
    for (const l of this.listeners) l(this.last);
  }
}

/** Every installation feed of this API node; a feed starts with its first page and ends an hour after its last. */
export class LiveFeeds {
  private readonly feeds = new Map<string, InstallationFeed>();

  constructor(
    private readonly deps: ApiDeps,
    private readonly opts: FeedOptions = DEFAULT_FEED_OPTIONS,
  ) {}

  join(installationId: string, listener: Listener, lastId: string | undefined): { missed: Sample[]; latest: FeedMessage | undefined; leave: () => void } {
    let feed = this.feeds.get(installationId);
    if (!feed) {
      feed = new InstallationFeed(installationId, this.deps, this.opts, (f) => this.drop(f));
      this.feeds.set(installationId, feed);
      feed.start();
    }
    const joined = feed;
    return { ...joined.join(listener, lastId), leave: () => joined.leave(listener) };
  }

  close(): void {
    for (const f of this.feeds.values()) f.stop();
    this.feeds.clear();
  }

  private drop(feed: InstallationFeed): void {
    feed.stop();
    if (this.feeds.get(feed.id) === feed) this.feeds.delete(feed.id);
  }
}
