import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { AvailableCurrent } from '../core/available-current-store.js';
import { effectiveCap, type ChargerCaps } from '../core/cap-store.js';
import { sendChargerCommand, STATUS_ACTION } from '../core/commands.js';
import type { ChargerEvent } from '../core/events.js';
import { getJson, putJson } from '../core/kv-json.js';
import type { Metrics } from '../core/metrics.js';
import type { Charger, ChargerLiveStatus, Installation, PhaseCurrents } from '../core/model.js';
import { decodeJson, encodeJson } from '../core/nats.js';
import { subjects } from '../core/subjects.js';
import { allocate } from './allocate.js';
import type { AllocationResult } from './allocation-types.js';
import {
  allocationInput,
  committedLoad,
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
  type BalancerModel,
  type ChargerModel,
  type ChargerWiring,
  type ProfileOutcome,
  withPhaseLimits,
} from './balancer-model.js';
import { limitProfile } from './charging-profile.js';
import { fenced } from './fencing.js';
import { PHASE_NAMES } from './phases.js';

export interface BalancerTuning {
  /** Events arriving within this window are handled by one recompute. */
  coalesceMs: number;
  profileTimeoutMs: number;
  lateAfterMs: number;
  retryMs: number;
  reclaimAfterMs: number;
  reclaimHeadroomA: number;
  reclaimThresholdA: number;
}

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

/** Per-phase current available to chargers: fuse minus margin, or the dynamic limit when lower and unexpired. */
export function phaseLimits(installation: Installation, dynamic: AvailableCurrent | undefined, now: number): PhaseCurrents {
  const live = dynamic && Date.parse(dynamic.expiresAt) > now ? dynamic : undefined;
  const out = { L1: 0, L2: 0, L3: 0 };
  for (const p of PHASE_NAMES) {
    const fuse = installation.fuse[p] - installation.balancer.safetyMarginA;
    out[p] = Math.max(0, live ? Math.min(fuse, live[p]) : fuse);
  }
  return out;
}

function wiringOf(c: Charger): ChargerWiring {
  return { id: c.id, phases: c.phases, phaseRotation: c.phaseRotation, gridPhase: c.gridPhase, minCurrent: c.minCurrent, maxCurrent: c.maxCurrent, priority: c.priority };
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
  private readonly persisted = new Map<string, number>();
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
          if (!err && msg.subject.includes('.charger.')) this.onEvent(decodeJson<ChargerEvent>(msg.data));
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

  /** The live view the API's status route asks for. */
  status() {
    const now = this.deps.now();
    const chargers: Record<string, { limit: number; target?: number; phases: readonly string[]; online: boolean }> = {};
    for (const [id, c] of Object.entries(this.model.chargers)) {
      const target = this.lastResult?.allocations.find((a) => a.id === id)?.limit;
      chargers[id] = { limit: countedValue(c), ...(target !== undefined ? { target } : {}), phases: countedPhases(c, now), online: c.online };
    }
    return { allocated: committedLoad(this.model, now), limits: this.model.phaseLimits, chargers };
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
    if (live.measured.at) c = onMeter(c, live.measured, Date.parse(live.measured.at), this.model.settings.reclaimThresholdA);
    const tx = live.activeTransactions[0];
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
        this.setCharger(e.chargerId, onMeter(c, e.currents, now, this.model.settings.reclaimThresholdA));
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
    model = withPhaseLimits({ ...model, chargers }, phaseLimits(this.installation, this.dynamic, now), now);
    const result = allocate(allocationInput(model, now));
    this.lastResult = result;
    const targets = new Map(result.allocations.map((a) => [a.id, { limit: a.limit, phases: a.phases }]));
    const commands = planDispatch(model, targets, now);
    for (const cmd of commands) model.chargers[cmd.chargerId] = markSent(model.chargers[cmd.chargerId]!, cmd.limit, now, model.settings);
    this.model = model;
    this.deps.metrics.balancerRecomputes.inc({ installation: this.id });
    const load = committedLoad(model, now);
    for (const p of PHASE_NAMES) this.deps.metrics.phaseAllocation.set({ installation: this.id, phase: p }, load[p]);
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
      const reply = await sendChargerCommand(this.deps.nc, chargerId, { action: 'SetChargingProfile', payload: payload as never, timeoutMs: this.deps.tuning.profileTimeoutMs, ...fenced(this.epoch) });
      outcome = reply.ok ? ((reply.response as { status?: string }).status === 'Accepted' ? 'accepted' : 'rejected') : reply.error.code === 'CALL_ERROR' || reply.error.code === 'INVALID' || reply.error.code === 'FENCED' ? 'rejected' : 'timeout';
    } catch {
      outcome = 'timeout';
    }
    this.deps.metrics.profilesSent.inc({ result: outcome });
    if (outcome !== 'accepted') this.deps.logger.warn({ chargerId, limit, outcome }, 'SetChargingProfile not accepted');
    const current = this.model.chargers[chargerId];
    if (!current || this.stopped) return;
    this.setCharger(chargerId, onProfileResult(current, limit, outcome, this.deps.now(), this.model.settings.retryMs));
    // A write that fails here is made by the next recompute (scheduled now), before any raise.
    await this.persist().catch((err: unknown) => this.deps.logger.warn({ err, installationId: this.id }, 'allocation not persisted'));
    this.schedule();
  }

  private armWake(now: number): void {
    clearTimeout(this.wakeTimer);
    // The dynamic limit falls back to the fuse when it expires: wake then too.
    const expiry = this.dynamic ? Date.parse(this.dynamic.expiresAt) : Infinity;
    const at = Math.min(nextWakeAt(this.model, now) ?? Infinity, expiry > now ? expiry : Infinity);
    if (at === Infinity || this.stopped) return;
    this.wakeTimer = setTimeout(() => this.schedule(), Math.max(0, at - now) + 1);
  }
}
