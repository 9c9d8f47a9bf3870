import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { AvailableCurrent } from '../core/available-current-store.js';
import { effectiveCap, type ChargerCaps } from '../core/cap-store.js';
import type { ChargerCommands } from '../core/charger-commands.js';
import { refusalOf, STATUS_ACTION } from '../core/commands.js';
import type { ChargerEvent } from '../core/events.js';
import { getJson, putJson } from '../core/kv-json.js';
import type { Metrics } from '../core/metrics.js';
import type { Charger, ChargerLiveStatus, Installation } from '../core/model.js';
import { decodeJson, encodeJson } from '../core/nats.js';
import { subjects } from '../core/subjects.js';
import { allocate } from './allocate.js';
import type { AllocationResult } from './allocation-types.js';
import { withPhaseLimits } from './admission-window.js';
import { allocationInput, committedLoad, countedValue, newChargerModel, nextWakeAt, phaseSwitchOf, type BalancerModel, type ChargerModel } from './balancer-model.js';
import { onChargerEvent, onLiveStatus, onProfileResult, onWithdrawn, settleDue, trackUnderDraw } from './charger-events.js';
import type { ProfileOutcome } from './dispatch-lifecycle.js';
import { durableOf, planDispatch, splitBeforePersist, whileWriting, withSent, type DurableWorstCase, type ProfileCommand } from './dispatch-plan.js';
import { limitProfile } from './charging-profile.js';
import { fenced } from './fencing.js';
import { lowerOf } from './circuit-limits.js';
import { GridMeters, meterReadingOf } from './grid-meters.js';
import { balancerStatus } from './balancer-status.js';
import { chargerWiring, modelSettings, type BalancerTuning } from './balancer-inputs.js';
import { phaseLimitsAt, type Failsafe } from './phase-limits.js';
import { PHASES } from './phases.js';
import { storedKey, type StoredAllocation } from './stored-allocation.js';
import { EventOrder } from './event-order.js';

/** A new leader's live-status request per charger, and its next try when unanswered (ms). */
const [SYNC_TIMEOUT_MS, SYNC_RETRY_MS] = [2_000, 1_000];

export interface BalancerDeps {
  nc: NatsConnection;
  /** How the balancer's SetChargingProfile and status requests reach the chargers. */
  commands: ChargerCommands;
  allocations: KV;
  metrics: Metrics;
  logger: Logger;
  tuning: BalancerTuning;
  now(): number;
  /** This node's NODE_ID, named in the status reply (the API answers `balancerNodeId` from it). */
  nodeId?: string;
}

/**
 * The imperative shell of one installation's balancer, run by the node that holds its lease: feeds
 * NATS events into the pure model, runs allocate() and planDispatch() on every relevant change
 * (coalesced), persists worst-case limits before raising anything, and sends SetChargingProfile.
 */
export class InstallationBalancer {
  private model: BalancerModel;
  private installation: Installation;
  private chargers = new Map<string, Charger>();
  private dynamic: AvailableCurrent | undefined;
  private caps = new Map<string, ChargerCaps>();
  private readonly subs: Subscription[] = [];
  private timer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;
  private lastResult: AllocationResult | undefined;
  /** When `lastResult` was computed (the balancer's clock), so a reader knows which events it saw. */
  private computedAt: number | undefined;
  private readonly persisted = new Map<string, string>();
  /** Per charger, what a successor may read from KV now (writes in flight folded in): what may be sent before a write. */
  private readonly durable = new Map<string, DurableWorstCase>();
  /** Per charger, the number of its last KV write: an answer to an older one says nothing of what KV holds. */
  private readonly writeSeq = new Map<string, number>();
  /** Which parts of a live-status reply newer events overtook. */
  private readonly eventOrder = new EventOrder();
  /** Set while the installation runs on its failsafe current (counted once in the node's gauge). */
  private failsafe: Failsafe | undefined;
  private readonly grid = new GridMeters();
  /** Leadership epoch (lease revision) sent with every command, so a deposed leader's limits are refused. */
  epoch: number | undefined;
  /** Set while the lease runs out unrenewed (BalancerManager): nothing is sent or persisted until it is renewed. */
  private paused = false;

  constructor(
    installation: Installation,
    chargers: readonly Charger[],
    private readonly deps: BalancerDeps,
  ) {
    this.installation = installation;
    this.model = { installationId: installation.id, phaseLimits: { L1: 0, L2: 0, L3: 0 }, settings: modelSettings(installation, this.deps.tuning), chargers: {} };
    for (const c of chargers) this.chargers.set(c.id, c);
  }

  get id(): string {
    return this.installation.id;
  }

  /** Starts from the persisted limits, subscribes, asks every charger for fresh data, then balances. */
  async start(): Promise<void> {
    for (const c of this.chargers.values()) {
      const stored = (await getJson<StoredAllocation>(this.deps.allocations, c.id))?.value;
      const fresh = newChargerModel(chargerWiring(c), stored?.limit);
      this.setCharger(c.id, stored?.phaseSwitch ? { ...fresh, phaseSwitch: stored.phaseSwitch } : fresh);
      if (stored) this.persisted.set(c.id, storedKey(stored.limit, stored.phaseSwitch));
      if (stored) this.durable.set(c.id, durableOf(stored.limit, stored.phaseSwitch));
    }
    const nc = this.deps.nc;
    this.subs.push(
      nc.subscribe(subjects.installationEvents(this.id), {
        callback: (err, msg) => {
          if (!err) this.onEvent(decodeJson<ChargerEvent>(msg.data));
        },
      }),
      nc.subscribe(subjects.installationMeterReadings(this.id), {
        callback: (err, msg) => {
          if (!err) this.onMeterReading(msg.subject, msg.data);
        },
      }),
      nc.subscribe(subjects.balancerStatus(this.id), {
        callback: (err, msg) => {
          if (!err) msg.respond(encodeJson(this.status()));
        },
      }),
    );
    await Promise.all([...this.chargers.keys()].map((id) => this.sync(id)));
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.subs) s.unsubscribe();
    clearTimeout(this.timer);
    clearTimeout(this.wakeTimer);
    this.setFailsafe(undefined);
  }

  /**
   * The lease ran out unrenewed (its stream electing a leader, say): another node may take it now, so
   * nothing is sent or persisted (chargers keep their last limits) but state and events are kept. A
   * renewal on the same revision proves nobody took it, and `resume` balances again on current data.
   */
  pause(): void {
    this.paused = true;
    clearTimeout(this.wakeTimer);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.schedule();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  updateInstallation(installation: Installation): void {
    this.installation = installation;
    this.model = { ...this.model, settings: modelSettings(installation, this.deps.tuning) };
    this.schedule();
  }

  updateCharger(id: string, charger: Charger | undefined): void {
    if (!charger) {
      this.chargers.delete(id);
      this.setCharger(id, undefined);
    } else {
      this.chargers.set(id, charger);
      const existing = this.model.chargers[id];
      this.setCharger(id, existing ? { ...existing, wiring: chargerWiring(charger) } : newChargerModel(chargerWiring(charger), undefined));
      if (!existing) void this.sync(id);
    }
    this.schedule();
  }

  updateDynamic(value: AvailableCurrent | undefined): void {
    this.dynamic = value;
    this.schedule();
  }

  updateCaps(chargerId: string, caps: ChargerCaps): void {
    this.caps.set(chargerId, caps);
    this.schedule();
  }

  /** The live view the API's status route asks for (balancer-status.ts). */
  status(): ReturnType<typeof balancerStatus> {
    const { model, lastResult, computedAt, failsafe, paused } = this;
    return balancerStatus({ model, lastResult, computedAt, failsafe, circuitLimits: this.grid.limits, nodeId: this.deps.nodeId, paused }, this.deps.now());
  }

  private setFailsafe(next: Failsafe | undefined): void {
    if (!!next !== !!this.failsafe) {
      this.deps.metrics.failsafeInstallations.inc(next ? 1 : -1);
      if (next) this.deps.logger.warn({ installationId: this.id, since: new Date(next.since).toISOString(), source: next.source, current: next.current }, 'dynamic limit expired: installation on its failsafe current');
      else this.deps.logger.info({ installationId: this.id }, 'installation off its failsafe current');
    }
    this.failsafe = next;
  }

  /**
   * The shell's one write into its model, in place: the shell owns the record, and a copy of it per
   * event cost ~10% CPU in connection storms. Every charger model written is a new value from the
   * pure functions; recompute replaces the whole model.
   */
  private setCharger(id: string, c: ChargerModel | undefined): void {
    if (c) this.model.chargers[id] = c;
    else delete this.model.chargers[id];
  }

  /**
   * Fresh data after (re)start: the charger's live status from the node that holds it. Until then the
   * charger counts as offline (at its worst case) and gets no raise, so an unanswered request is sent
   * again; "not connected" waits for the connection event. Events that overtook the reply win.
   */
  private async sync(chargerId: string): Promise<void> {
    const mark = this.eventOrder.mark();
    const reply = await this.deps.commands.send(chargerId, { action: STATUS_ACTION, payload: {}, timeoutMs: SYNC_TIMEOUT_MS, ...fenced(this.epoch) }).catch(() => undefined);
    const current = this.model.chargers[chargerId];
    if (this.stopped || !current) return;
    if (!reply?.ok) {
      if ((!reply || reply.error.code === 'TIMEOUT') && !current.dispatch.online) setTimeout(() => void (this.stopped || this.sync(chargerId)), SYNC_RETRY_MS);
      return;
    }
    const { model, draw } = onLiveStatus(current, reply.response as ChargerLiveStatus, this.deps.now(), this.meterSettings(), this.eventOrder.overtaken(chargerId, mark));
    if (draw) this.grid.recordDraw(model.wiring, draw.measured, draw.at);
    this.setCharger(chargerId, model);
    this.schedule();
  }

  private onEvent(e: ChargerEvent): void {
    const c = this.model.chargers[e.chargerId];
    if (!c) return;
    const now = this.deps.now();
    this.eventOrder.saw(e);
    if (e.kind === 'meter') this.grid.recordDraw(c.wiring, e.currents, now);
    this.setCharger(e.chargerId, onChargerEvent(c, e, now, this.meterSettings()));
    if (e.kind === 'connection' && e.connected) void this.sync(e.chargerId);
    this.schedule();
  }

  private meterSettings(): { thresholdA: number; slackA: number } {
    return { thresholdA: this.model.settings.reclaimThresholdA, slackA: this.deps.tuning.meterSlackA };
  }

  /** A grid meter reading (a gateway or the API published it); a bad one is logged and dropped. */
  private onMeterReading(subject: string, data: Uint8Array): void {
    const r = meterReadingOf(this.installation, subject, data, this.deps.now());
    if ('err' in r) {
      this.deps.logger.warn({ err: r.err, installationId: this.id, circuitId: r.circuitId }, 'meter reading dropped');
      return;
    }
    this.grid.onReading(this.installation, r.circuitId, r.reading, Object.values(this.model.chargers).map((c) => c.wiring));
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.recompute();
    }, this.deps.tuning.coalesceMs);
  }

  private async recompute(): Promise<void> {
    // Paused: `resume` schedules the recompute.
    if (this.paused) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        await this.recomputeOnce();
      } while (this.again && !this.stopped);
    } catch (err) {
      this.deps.logger.error({ err, installationId: this.id }, 'balancer recompute failed');
      // E.g. KV unavailable during a JetStream election: try again, also without new events.
      clearTimeout(this.wakeTimer);
      if (!this.stopped) this.wakeTimer = setTimeout(() => this.schedule(), this.deps.tuning.retryMs);
    } finally {
      this.running = false;
    }
  }

  private async recomputeOnce(): Promise<void> {
    const now = this.deps.now();
    let model = settleDue(this.model, now);
    const chargers: Record<string, ChargerModel> = {};
    for (const [id, c] of Object.entries(model.chargers)) {
      const cap = effectiveCap(this.caps.get(id) ?? {}, now);
      const { cap: _old, ...rest } = c;
      chargers[id] = cap !== undefined ? { ...rest, cap } : rest;
    }
    const inForce = phaseLimitsAt(this.installation, this.dynamic, now);
    if (!this.stopped) this.setFailsafe(inForce.failsafe);
    const sites = this.grid.limitsAt(this.installation, now);
    const { circuits: _flat, ...rest } = model;
    model = withPhaseLimits({ ...rest, chargers, ...(this.installation.circuits ? { circuits: sites.circuits } : {}) }, lowerOf(inForce.limits, sites.root), now);
    const result = allocate(allocationInput(model, now));
    this.lastResult = result;
    this.computedAt = now;
    const targets = new Map(result.allocations.map((a) => [a.id, { limit: a.limit, phases: a.phases, ...(a.numberPhases !== undefined ? { numberPhases: a.numberPhases } : {}) }]));
    const commands = planDispatch(model, targets, now);
    // Paused (or stopped): nothing goes out early; all wait for the write, and are withdrawn below.
    const { early, late } = this.paused || this.stopped ? { early: [], late: commands } : splitBeforePersist(model, commands, this.durable);
    this.model = withSent(model, commands, now);
    this.deps.metrics.balancerRecomputes.inc({ installation: this.id });
    const load = committedLoad(this.model, now);
    for (const p of PHASES) this.deps.metrics.phaseAllocation.set({ installation: this.id, phase: p }, load[p]);
    // Decreases go at once: what is durable already covers them (a KV write, or KV out, does not hold them up).
    for (const cmd of early) void this.send(cmd.chargerId, cmd.limit, now, cmd.numberPhases);
    // The worst case is durable before any charger may act on a raise.
    try {
      await this.persist();
    } catch (err) {
      // Not sent: the planned raises are withdrawn, and planned again on the retry.
      this.withdraw(late, now);
      throw err;
    }
    // Stopped meanwhile (lease handed off or lost): the successor may already have read the limits.
    if (this.stopped) return;
    // Paused meanwhile (lease ran out unrenewed): nothing more goes out. The raises are withdrawn
    // (a raise's persisted worst case stays above what the charger holds) and planned again on resume.
    if (this.paused) return this.withdraw(late, now);
    for (const cmd of late) void this.send(cmd.chargerId, cmd.limit, now, cmd.numberPhases);
    this.armWake(now);
  }

  private withdraw(commands: readonly ProfileCommand[], sentAt: number): void {
    for (const { chargerId: id, limit } of commands) if (this.model.chargers[id]) this.setCharger(id, onWithdrawn(this.model.chargers[id]!, limit, sentAt, this.model.settings));
  }

  private async persist(): Promise<void> {
    const writes: Promise<unknown>[] = [];
    for (const [id, c] of Object.entries(this.model.chargers)) {
      const v = countedValue(c);
      const ps = phaseSwitchOf(c);
      const key = storedKey(v, ps);
      if (this.persisted.get(id) === key) continue;
      this.persisted.set(id, key);
      const record = durableOf(v, ps);
      this.durable.set(id, whileWriting(this.durable.get(id), record));
      const seq = (this.writeSeq.get(id) ?? 0) + 1;
      this.writeSeq.set(id, seq);
      writes.push(
        putJson(this.deps.allocations, id, { limit: v, at: new Date(this.deps.now()).toISOString(), ...(ps ? { phaseSwitch: ps } : {}) } satisfies StoredAllocation).then(() => {
          // The last write made for it: KV holds exactly this now.
          if (this.writeSeq.get(id) === seq) this.durable.set(id, record);
        }, (err: unknown) => {
          // Not written: written again by the next persist.
          if (this.persisted.get(id) === key) this.persisted.delete(id);
          throw err;
        }),
      );
    }
    await Promise.all(writes);
  }

  private async send(chargerId: string, limit: number, sentAt: number, numberPhases?: 1 | 3): Promise<void> {
    const charger = this.chargers.get(chargerId);
    const c = this.model.chargers[chargerId];
    if (!charger || !c) return;
    const payload = limitProfile(charger.profilePurpose, limit, this.deps.now(), c.activeTx, numberPhases);
    let outcome: ProfileOutcome;
    try {
      const reply = await this.deps.commands.send(chargerId, { action: 'SetChargingProfile', payload: payload as never, timeoutMs: this.deps.tuning.profileTimeoutMs, priority: true, ...fenced(this.epoch) });
      outcome = reply.ok ? ((reply.response as { status?: string }).status === 'Accepted' ? 'accepted' : 'rejected') : refusalOf(reply.error) || reply.error.code === 'FENCED' ? 'rejected' : 'timeout';
    } catch {
      outcome = 'timeout';
    }
    this.deps.metrics.profilesSent.inc({ result: outcome });
    if (outcome !== 'accepted') this.deps.logger.warn({ chargerId, limit, numberPhases, outcome }, 'SetChargingProfile not accepted');
    const current = this.model.chargers[chargerId];
    if (!current || this.stopped) return;
    const now = this.deps.now();
    // An answer is recorded even while paused: it was sent while the lease was valid.
    const answered = onProfileResult(current, limit, outcome, now, this.model.settings.retryMs, sentAt);
    // A raised offer the car does not follow is under-draw from now, not from its next reading.
    const raised = answered !== current && outcome === 'accepted' && limit > (current.dispatch.granted ?? 0);
    this.setCharger(chargerId, raised ? trackUnderDraw(answered, now, this.model.settings.reclaimThresholdA, this.deps.tuning.meterSlackA) : answered);
    // Paused: nothing written (a successor may have read the limits); the worst case persisted before the send covers it.
    if (this.paused) return;
    // A write that fails here is made by the next recompute (scheduled now), before any raise.
    await this.persist().catch((err: unknown) => this.deps.logger.warn({ err, installationId: this.id }, 'allocation not persisted'));
    this.schedule();
  }

  private armWake(now: number): void {
    clearTimeout(this.wakeTimer);
    // The dynamic limit gives way to the failsafe when it expires: wake then too.
    const expiry = this.dynamic ? Date.parse(this.dynamic.expiresAt) : Infinity;
    const silence = this.grid.limits?.nextSilenceAt ?? Infinity;
    const at = Math.min(nextWakeAt(this.model, now) ?? Infinity, expiry > now ? expiry : Infinity, silence > now ? silence : Infinity);
    if (at === Infinity || this.stopped) return;
    this.wakeTimer = setTimeout(() => this.schedule(), Math.max(0, at - now) + 1);
  }
}
