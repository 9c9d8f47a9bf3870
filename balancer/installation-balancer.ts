import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { AvailableCurrent } from '../core/available-current-store.js';
import { effectiveCap, type ChargerCaps } from '../core/cap-store.js';
import { refusalOf, sendChargerCommand, STATUS_ACTION } from '../core/commands.js';
import type { NodeConfig } from '../core/config.js';
import type { ChargerEvent } from '../core/events.js';
import { getJson, putJson } from '../core/kv-json.js';
import type { Metrics } from '../core/metrics.js';
import type { Charger, ChargerLiveStatus, Installation } from '../core/model.js';
import { decodeJson, encodeJson } from '../core/nats.js';
import { subjects } from '../core/subjects.js';
import { allocate } from './allocate.js';
import type { AllocationResult } from './allocation-types.js';
import {
  allocationInput,
  committedLoad,
  countedAs,
  countedPhases,
  countedValue,
  markSent,
  newChargerModel,
  nextWakeAt,
  onConnection,
  onConnector,
  onMeter,
  onProfileResult,
  planDispatch,
  settleDue,
  trackUnderDraw,
  type BalancerModel,
  type ChargerModel,
  type ChargerWiring,
  type ProfileOutcome,
  withPhaseLimits,
} from './balancer-model.js';
import { limitProfile } from './charging-profile.js';
import { fenced } from './fencing.js';
import { phaseLimitsAt, type Failsafe } from './phase-limits.js';
import { PHASES } from './phases.js';

/** The node's balancer settings (core/config.ts, documented there); the lease belongs to the manager. */
export type BalancerTuning = Omit<NodeConfig['balancer'], 'leaseTtlMs'>;

export interface BalancerDeps {
  nc: NatsConnection;
  allocations: KV;
  metrics: Metrics;
  logger: Logger;
  tuning: BalancerTuning;
  now(): number;
}

/** What the balancer persists per charger: the worst-case limit it counts the charger at. */
interface StoredAllocation {
  limit: number;
  at: string;
}

function wiringOf(c: Charger): ChargerWiring {
  return { id: c.id, phases: c.phases, phaseRotation: c.phaseRotation, gridPhase: c.gridPhase, minCurrent: c.minCurrent, maxCurrent: c.maxCurrent, priority: c.priority, offlineCurrent: c.offlineCurrent ?? 'lastLimit' };
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
  private readonly persisted = new Map<string, number>();
  /** Set while the installation runs on its failsafe current (counted once in the node's gauge). */
  private failsafe: Failsafe | undefined;
  /** Leadership epoch (lease revision) sent with every command, so a deposed leader's limits are refused. */
  epoch: number | undefined;

  constructor(
    installation: Installation,
    chargers: readonly Charger[],
    private readonly deps: BalancerDeps,
  ) {
    this.installation = installation;
    this.model = {
      installationId: installation.id,
      phaseLimits: { L1: 0, L2: 0, L3: 0 },
      settings: this.settingsOf(installation),
      chargers: {},
    };
    for (const c of chargers) this.chargers.set(c.id, c);
  }

  get id(): string {
    return this.installation.id;
  }

  /** Starts from the persisted limits, subscribes, asks every charger for fresh data, then balances. */
  async start(): Promise<void> {
    for (const c of this.chargers.values()) {
      const stored = await getJson<StoredAllocation>(this.deps.allocations, c.id);
      this.model.chargers[c.id] = newChargerModel(wiringOf(c), stored?.value.limit);
      if (stored) this.persisted.set(c.id, stored.value.limit);
    }
    const nc = this.deps.nc;
    this.subs.push(
      nc.subscribe(subjects.installationEvents(this.id), {
        callback: (err, msg) => {
          if (!err) this.onEvent(decodeJson<ChargerEvent>(msg.data));
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

  updateInstallation(installation: Installation): void {
    this.installation = installation;
    this.model = { ...this.model, settings: this.settingsOf(installation) };
    this.schedule();
  }

  updateCharger(id: string, charger: Charger | undefined): void {
    if (!charger) {
      this.chargers.delete(id);
      delete this.model.chargers[id];
    } else {
      this.chargers.set(id, charger);
      const existing = this.model.chargers[id];
      this.setCharger(id, existing ? { ...existing, wiring: wiringOf(charger) } : newChargerModel(wiringOf(charger), undefined));
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

  /** The live view the API's status route asks for: also what it assumes (counted values, failsafe) and why. */
  status() {
    const now = this.deps.now();
    const chargers: Record<string, { limit: number; target?: number; reason?: string; phases: readonly string[]; online: boolean; counted: number; countedBecause: string }> = {};
    for (const [id, c] of Object.entries(this.model.chargers)) {
      const allocation = this.lastResult?.allocations.find((a) => a.id === id);
      const counted = countedAs(c);
      chargers[id] = {
        limit: countedValue(c),
        ...(allocation ? { target: allocation.limit, reason: allocation.reason } : {}),
        phases: countedPhases(c, now),
        online: c.online,
        counted: counted.value,
        countedBecause: counted.basis,
      };
    }
    const f = this.failsafe;
    const failsafe = f ? { inForce: true, since: new Date(f.since).toISOString(), source: f.source, current: f.current } : { inForce: false };
    return { allocated: committedLoad(this.model, now), limits: this.model.phaseLimits, chargers, failsafe, ...(this.computedAt !== undefined ? { computedAt: this.computedAt } : {}) };
  }

  private setFailsafe(next: Failsafe | undefined): void {
    if (!!next !== !!this.failsafe) {
      this.deps.metrics.failsafeInstallations.inc(next ? 1 : -1);
      if (next) this.deps.logger.warn({ installationId: this.id, since: new Date(next.since).toISOString(), source: next.source, current: next.current }, 'dynamic limit expired: installation on its failsafe current');
      else this.deps.logger.info({ installationId: this.id }, 'installation off its failsafe current');
    }
    this.failsafe = next;
  }

  private settingsOf(i: Installation): BalancerModel['settings'] {
    const t = this.deps.tuning;
    const { safetyMarginA: _margin, ...b } = i.balancer;
    return {
      ...b,
      // A probe longer than the interval would never let the car sleep.
      wakeProbeMs: Math.min(b.wakeProbeMs, b.wakeProbeIntervalMs),
      reclaimAfterMs: t.reclaimAfterMs,
      reclaimHeadroomA: t.reclaimHeadroomA,
      reclaimThresholdA: t.reclaimThresholdA,
      retryMs: t.retryMs,
      lateAfterMs: t.lateAfterMs,
    };
  }

  /** In place: the shell owns its model, and a copy per event cost ~10% CPU in connection storms. */
  private setCharger(id: string, c: ChargerModel): void {
    this.model.chargers[id] = c;
  }

  /** Fresh data after (re)start: the charger's live status from the node that holds it. */
  private async sync(chargerId: string): Promise<void> {
    const reply = await sendChargerCommand(this.deps.nc, chargerId, { action: STATUS_ACTION, payload: {}, timeoutMs: 2_000, ...fenced(this.epoch) }).catch(() => undefined);
    const current = this.model.chargers[chargerId];
    if (!current || !reply?.ok) return;
    const live = reply.response as ChargerLiveStatus;
    const now = this.deps.now();
    let c = onConnection(current, true);
    for (const k of live.connectors) c = onConnector(c, k.connectorId, k.status, now);
    const tx = live.activeTransactions[0];
    // Only a reading of the current session (both times are the charger's clock). The node keeps the
    // last reading after a car leaves: a new leader took the previous car's 6.6 A for a charger told
    // 0 A as over its limit, counted it at 7 A and re-sent it 7 A, unchecked, over a full fuse.
    if (live.measured.at && tx && Date.parse(live.measured.at) >= Date.parse(tx.startedAt)) {
      c = onMeter(c, live.measured, Date.parse(live.measured.at), this.model.settings.reclaimThresholdA, 1, this.deps.tuning.meterSlackA);
    }
    c = { ...c, fresh: true, ...(tx ? { activeTx: { transactionId: tx.transactionId, connectorId: tx.connectorId } } : {}) };
    this.setCharger(chargerId, c);
    this.schedule();
  }

  private onEvent(e: ChargerEvent): void {
    const c = this.model.chargers[e.chargerId];
    if (!c) return;
    const now = this.deps.now();
    switch (e.kind) {
      case 'status':
        this.setCharger(e.chargerId, onConnector(c, e.connectorId, e.status, now));
        break;
      case 'meter':
        this.setCharger(e.chargerId, onMeter(c, e.currents, now, this.model.settings.reclaimThresholdA, 1, this.deps.tuning.meterSlackA));
        break;
      case 'connection':
        this.setCharger(e.chargerId, onConnection(c, e.connected));
        if (e.connected) void this.sync(e.chargerId);
        break;
      case 'transaction': {
        // A new transaction gets its limit again: some chargers start at full current until told.
        if (e.event === 'started') this.setCharger(e.chargerId, { ...c, fresh: true, needsProfile: true, activeTx: { transactionId: e.transactionId, connectorId: e.connectorId } });
        else if (c.activeTx?.transactionId === e.transactionId) {
          const { activeTx: _t, ...rest } = c;
          this.setCharger(e.chargerId, rest);
        }
        break;
      }
      case 'boot':
        // A charger that (re)booted may have lost its profiles: it gets its limit again.
        this.setCharger(e.chargerId, { ...c, fresh: true, needsProfile: true });
        break;
    }
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
    model = withPhaseLimits({ ...model, chargers }, inForce.limits, now);
    const result = allocate(allocationInput(model, now));
    this.lastResult = result;
    this.computedAt = now;
    const targets = new Map(result.allocations.map((a) => [a.id, { limit: a.limit, phases: a.phases }]));
    const commands = planDispatch(model, targets, now);
    for (const cmd of commands) model.chargers[cmd.chargerId] = markSent(model.chargers[cmd.chargerId]!, cmd.limit, now, model.settings);
    this.model = model;
    this.deps.metrics.balancerRecomputes.inc({ installation: this.id });
    const load = committedLoad(model, now);
    for (const p of PHASES) this.deps.metrics.phaseAllocation.set({ installation: this.id, phase: p }, load[p]);
    // The worst case is durable before any charger may act on a raise.
    try {
      await this.persist();
    } catch (err) {
      // Nothing was sent: the planned changes count as unanswered (at their worst) and are retried.
      for (const cmd of commands) this.setCharger(cmd.chargerId, onProfileResult(this.model.chargers[cmd.chargerId]!, cmd.limit, 'timeout', now, this.model.settings.retryMs));
      throw err;
    }
    // Stopped meanwhile (lease handed off or lost): the successor may already have read the limits.
    if (this.stopped) return;
    for (const cmd of commands) void this.send(cmd.chargerId, cmd.limit);
    this.armWake(now);
  }

  private async persist(): Promise<void> {
    const writes: Promise<unknown>[] = [];
    for (const [id, c] of Object.entries(this.model.chargers)) {
      const v = countedValue(c);
      if (this.persisted.get(id) === v) continue;
      this.persisted.set(id, v);
      writes.push(
        putJson(this.deps.allocations, id, { limit: v, at: new Date(this.deps.now()).toISOString() } satisfies StoredAllocation).catch((err: unknown) => {
          // Not written: written again by the next persist.
          if (this.persisted.get(id) === v) this.persisted.delete(id);
          throw err;
        }),
      );
    }
    await Promise.all(writes);
  }

  private async send(chargerId: string, limit: number): Promise<void> {
    const charger = this.chargers.get(chargerId);
    const c = this.model.chargers[chargerId];
    if (!charger || !c) return;
    const payload = limitProfile(charger.profilePurpose, limit, this.deps.now(), c.activeTx);
    let outcome: ProfileOutcome;
    try {
      const reply = await sendChargerCommand(this.deps.nc, chargerId, { action: 'SetChargingProfile', payload: payload as never, timeoutMs: this.deps.tuning.profileTimeoutMs, priority: true, ...fenced(this.epoch) });
      outcome = reply.ok ? ((reply.response as { status?: string }).status === 'Accepted' ? 'accepted' : 'rejected') : refusalOf(reply.error) || reply.error.code === 'FENCED' ? 'rejected' : 'timeout';
    } catch {
      outcome = 'timeout';
    }
    this.deps.metrics.profilesSent.inc({ result: outcome });
    if (outcome !== 'accepted') this.deps.logger.warn({ chargerId, limit, outcome }, 'SetChargingProfile not accepted');
    const current = this.model.chargers[chargerId];
    if (!current || this.stopped) return;
    const now = this.deps.now();
    const answered = onProfileResult(current, limit, outcome, now, this.model.settings.retryMs);
    // A raised offer the car does not follow is under-draw from now, not from its next reading.
    this.setCharger(chargerId, outcome === 'accepted' && limit > (current.granted ?? 0) ? trackUnderDraw(answered, now, this.model.settings.reclaimThresholdA, this.deps.tuning.meterSlackA) : answered);
    // A write that fails here is made by the next recompute (scheduled now), before any raise.
    await this.persist().catch((err: unknown) => this.deps.logger.warn({ err, installationId: this.id }, 'allocation not persisted'));
    this.schedule();
  }

  private armWake(now: number): void {
    clearTimeout(this.wakeTimer);
    // The dynamic limit gives way to the failsafe when it expires: wake then too.
    const expiry = this.dynamic ? Date.parse(this.dynamic.expiresAt) : Infinity;
    const at = Math.min(nextWakeAt(this.model, now) ?? Infinity, expiry > now ? expiry : Infinity);
    if (at === Infinity || this.stopped) return;
    this.wakeTimer = setTimeout(() => this.schedule(), Math.max(0, at - now) + 1);
  }
}
