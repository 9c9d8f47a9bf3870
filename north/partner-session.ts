import type { Logger } from 'pino';
import { createActor, fromCallback, fromPromise, type Actor } from 'xstate';
import { STATUS_ACTION } from '../core/commands.js';
import type { ChargerLiveStatus } from '../core/model.js';
import { streams, subjects } from '../core/subjects.js';
import type { RequestOf, ResponseOf } from '../ocpp/actions.js';
import { OcppClosedError } from '../ocpp/errors.js';
import { openPartnerConnection, partnerUrl, type PartnerConnection } from '../ocpp/partner-client.js';
import type { RpcLogEntry } from '../ocpp/rpc-connection.js';
import { publishOcppLog, shouldLog } from '../south/index.js';
import { PartnerCapKeeper } from './partner-caps.js';
import { partnerHost, partnerUrlAllowed } from './partner-url-policy.js';
import { handlePartnerCall, type PartnerCommandEnv } from './partner-commands.js';
import { effectiveConfig, type EffectiveConfig } from './partner-config.js';
import { partnerMachine, type BootAnswer } from './partner-machine.js';
import { connectionStateOf, partnerPhase, type PartnerPhase } from './partner-state.js';
import type { PartnerConnectionState } from '../core/partner-connection.js';
import type { QueueEntry } from '../core/partner-queue.js';
import { runDelivery, type DeliveryOutcome, type RetryPolicy } from './partner-delivery.js';
import type { PartnerDeps } from './partner-deps.js';
import { InFlightMessage } from './in-flight-message.js';
import { sendTransactionMessage } from './send-transaction-message.js';

/** What every partner session of a node shares: the bridge's deps and two bridge-wide hooks. */
export interface PartnerSessionDeps extends PartnerDeps {
  /** Remote-start id tags and the authorization cache live in the bridge. */
  rememberRemoteStart(chargerId: string, idTag: string): void;
  clearAuthorizationCache(installationId: string): void;
  /** The session's connection state changed (the bridge publishes it). */
  connectionChanged(session: PartnerSession): void;
}

/** Where and as whom the session connects; a change of URL or password means a new connection. */
export interface PartnerTarget {
  url: string;
  identity: string;
  password: string | undefined;
  pingIntervalS: number;
}

/**
 * The imperative shell of one charger's partner session: its XState actor (`partner-machine.ts`), the
 * WebSocket to the partner, the partner's commands, the queue delivery and the partner cap.
 */
export class PartnerSession {
  private readonly actor: Actor<typeof partnerMachine>;
  private conn: PartnerConnection | undefined;
  private lastTarget: PartnerTarget | undefined;
  private readonly cap: PartnerCapKeeper;
  private readonly attempts = new Map<number, number>();
  private stopped = false;
  private readonly inFlight = new InFlightMessage();
  private retryPolicy: RetryPolicy;
  private readonly log: Logger;
  /** The machine's phase as an operator sees it, and since when (ms). */
  private phase: PartnerPhase = 'opening';
  private phaseSince: number;

  constructor(
    readonly chargerId: string,
    readonly installationId: string,
    private readonly deps: PartnerSessionDeps,
  ) {
    this.log = deps.logger.child({ chargerId, partner: true });
    this.cap = new PartnerCapKeeper(chargerId, deps.store, deps.caps, () => deps.cache.chargers.get(chargerId)?.phases ?? 3, this.log, deps.now);
    const machine = partnerMachine.provide({
      actors: {
        connection: fromCallback(({ sendBack }) => this.connection(sendBack)),
        boot: fromPromise(() => this.boot()),
        heartbeat: fromPromise(async () => {
          await this.rpc().call('Heartbeat', {});
        }),
        reportStatus: fromPromise(() => this.reportStatus()),
        deliverQueue: fromCallback(() => this.deliverQueue()),
      },
    });
    const s = deps.settings;
    this.retryPolicy = { attempts: s.transactionMessageAttempts, retryIntervalS: s.transactionMessageRetryIntervalS };
    this.actor = createActor(machine, {
      input: {
        chargerId,
        timing: { reconnectMinMs: s.reconnectMinMs, reconnectMaxMs: s.reconnectMaxMs, defaultHeartbeatS: s.defaultHeartbeatS, bootRetryS: s.bootRetryS },
      },
    });
    this.phaseSince = deps.now();
    this.actor.subscribe((snapshot) => {
      const phase = partnerPhase(snapshot.value);
      if (phase === this.phase || this.stopped) return;
      this.phase = phase;
      this.phaseSince = this.deps.now();
      this.deps.connectionChanged(this);
    });
    this.actor.on('registrationChanged', ({ registration }) => this.log.info({ registration }, 'partner registration'));
    this.actor.on('disconnected', ({ reason, attempt }) => this.log.warn({ reason, attempt }, 'partner connection down; reconnecting'));
  }

  get registration(): string {
    return this.actor.getSnapshot().context.registration;
  }

  /** Where the session is with the partner, for the status (the bridge adds its node). */
  connectionState(): PartnerConnectionState {
    return connectionStateOf(this.phase, this.actor.getSnapshot().context, this.phaseSince);
  }

  get accepted(): boolean {
    return this.registration === 'Accepted' && this.conn?.rpc.isOpen === true;
  }

  start(): void {
    this.phaseSince = this.deps.now();
    this.actor.start();
    this.deps.connectionChanged(this);
    void this.cap.recompute();
  }

  /**
   * Ends the session. Resolves once a queue message in flight was answered and acknowledged (at most
   * a call timeout) and the connection closed; no new message is taken meanwhile.
   */
  stop(): Promise<void> {
    if (this.stopped) return this.inFlight.drained;
    this.stopped = true;
    this.cap.stop();
    this.actor.stop();
    const conn = this.conn;
    this.conn = undefined;
    if (conn) this.inFlight.closeAfter(conn, 'charger session ended');
    return this.inFlight.drained;
  }

  /** The charger booted again: the partner hears a BootNotification with what it reported. */
  chargerBooted(): void {
    this.actor.send({ type: 'CHARGER_BOOTED' });
  }

  /**
   * Config or credentials changed: reconnect when URL or password differ, apply the ping otherwise.
   * Serialised, so two triggers of one change (a watch and the handler) reconnect once.
   */
  refresh(): Promise<void> {
    this.refreshing = this.refreshing.then(() => this.applyTarget()).catch((err: unknown) => this.log.warn({ err: String(err) }, 'partner refresh failed'));
    return this.refreshing;
  }

  private refreshing: Promise<void> = Promise.resolve();

  private async applyTarget(): Promise<void> {
    const target = await this.target();
    if (this.stopped || !target) return;
    const last = this.lastTarget;
    if (!last || last.url !== target.url || last.password !== target.password || last.identity !== target.identity) {
      this.log.info({ url: target.url }, 'partner URL or credentials changed: reconnecting');
      this.lastTarget = target;
      this.actor.send({ type: 'RECONNECT' });
      return;
    }
    this.lastTarget = target;
    this.conn?.setPingInterval(target.pingIntervalS * 1000);
  }

  /** Authorize at the partner; rejects when not connected and Accepted, or on timeout. */
  async authorize(idTag: string): Promise<ResponseOf<'Authorize'>['idTagInfo']> {
    if (!this.accepted) throw new OcppClosedError('Authorize', 'not registered at the partner');
    return (await this.rpc().call('Authorize', { idTag }, { timeoutMs: this.deps.settings.authorizeTimeoutMs })).idTagInfo;
  }

  /** Best effort, live (not queued): connector statuses and meter values outside transactions. */
  forwardLive<A extends 'StatusNotification' | 'MeterValues'>(action: A, payload: RequestOf<A>): void {
    if (!this.accepted) return;
    this.rpc()
      .callUntyped(action, payload as unknown as Record<string, unknown>)
      .catch((err: unknown) => this.log.warn({ action, err: String(err) }, 'partner did not take a live message'));
  }

  // ---------------------------------------------------------------- connection

  private rpc() {
    const rpc = this.conn?.rpc;
    if (!rpc?.isOpen) throw new OcppClosedError(undefined, 'not connected to the partner');
    return rpc;
  }

  async target(): Promise<PartnerTarget | undefined> {
    const { cache, credentials } = this.deps;
    const charger = cache.chargers.get(this.chargerId);
    const installation = cache.installations.get(this.installationId);
    if (!charger || !installation) return undefined;
    const url = partnerUrl(installation.ocpp.url, charger.serial, charger.ocpp.url);
    if (!url) return undefined;
    if (!partnerUrlAllowed(url, this.deps.settings.urlAllow)) {
      this.log.warn({ url }, 'partner URL not allowed (PARTNER_URL_ALLOW, or an internal address): not connecting');
      return undefined;
    }
    const north = await credentials.chargerNorth(this.chargerId);
    // A password the partner set belongs to that partner: another host never receives it.
    const partnerSet = north.partnerSetHost === undefined || north.partnerSetHost === partnerHost(url) ? north.partnerSet : undefined;
    if (north.partnerSet !== undefined && partnerSet === undefined) {
      this.log.warn({ url, was: north.partnerSetHost }, 'partner host changed: the password the previous partner set is dropped');
      await credentials.updateChargerNorth(this.chargerId, { partnerSet: undefined, partnerSetHost: undefined });
    }
    // A charger's own password, else the one the partner set, else the installation's initial one.
    const password = north.configured ?? partnerSet ?? (await credentials.installationNorthPassword(this.installationId));
    const cfg = await this.config();
    return { url, identity: charger.serial, password, pingIntervalS: cfg.webSocketPingIntervalS };
  }

  private connection(sendBack: (e: { type: 'OPENED' } | { type: 'CLOSED'; reason: string }) => void): () => void {
    let stopped = false;
    let conn: PartnerConnection | undefined;
    void (async () => {
      const target = await this.target().catch(() => undefined);
      if (stopped) return;
      if (!target) return sendBack({ type: 'CLOSED', reason: 'no partner URL configured' });
      this.lastTarget = target;
      const settings = this.deps.settings;
      try {
        conn = await openPartnerConnection({
          url: target.url,
          identity: target.identity,
          password: target.password,
          pingIntervalMs: target.pingIntervalS * 1000,
          callTimeoutMs: settings.callTimeoutMs,
          connectTimeoutMs: settings.connectTimeoutMs,
          ...(settings.ocppLog ? { onLog: (e: RpcLogEntry) => this.publishLog(e) } : {}),
          logger: this.log,
        });
      } catch (err) {
        if (!stopped) sendBack({ type: 'CLOSED', reason: (err as Error).message });
        return;
      }
      if (stopped) {
        conn.close(1000, 'reconnecting');
        return;
      }
      this.conn = conn;
      const opened = conn;
      opened.rpc.handle((action, payload) => handlePartnerCall(action, payload, this.commandEnv()));
      opened.rpc.once('close', (code, reason) => {
        if (this.conn === opened) this.conn = undefined;
        if (!stopped) sendBack({ type: 'CLOSED', reason: `closed ${code}${reason ? ` ${reason}` : ''}` });
      });
      this.log.info({ url: target.url }, 'connected to the partner');
      sendBack({ type: 'OPENED' });
    })();
    return () => {
      stopped = true;
      if (conn) {
        if (this.conn === conn) this.conn = undefined;
        this.inFlight.closeAfter(conn, 'reconnecting');
      }
    };
  }

  private publishLog(entry: RpcLogEntry): void {
    const { bus, cache } = this.deps;
    if (!shouldLog(entry, cache.chargers.get(this.chargerId), this.deps.now())) return;
    publishOcppLog(bus.nc, subjects.partnerOcppLog(this.chargerId), this.chargerId, entry, { side: 'partner' });
  }

  // ---------------------------------------------------------------- acting as the charger

  private async boot(): Promise<BootAnswer> {
    const charger = this.deps.cache.chargers.get(this.chargerId);
    const info = await this.deps.chargerState.getBoot(this.chargerId);
    const request: RequestOf<'BootNotification'> = info
      ? (() => {
          const { bootedAt: _at, ...reported } = info;
          return reported;
        })()
      : // The charger has not booted since it was configured: what the platform knows.
        { chargePointVendor: 'Unknown', chargePointModel: 'Unknown', chargePointSerialNumber: (charger?.serial ?? this.chargerId).slice(0, 25) };
    const res = await this.rpc().call('BootNotification', request);
    return { status: res.status, interval: res.interval };
  }

  private async liveStatus(): Promise<ChargerLiveStatus | undefined> {
    const reply = await this.deps.commands.send(this.chargerId, { action: STATUS_ACTION, payload: {}, timeoutMs: 5_000 }).catch(() => undefined);
    return reply?.ok ? (reply.response as ChargerLiveStatus) : undefined;
  }

  private async reportStatus(connectorId?: number): Promise<void> {
    const live = await this.liveStatus();
    for (const c of live?.connectors ?? []) {
      if (connectorId !== undefined && c.connectorId !== connectorId) continue;
      await this.rpc().call('StatusNotification', {
        connectorId: c.connectorId,
        status: c.status as RequestOf<'StatusNotification'>['status'],
        errorCode: c.errorCode as RequestOf<'StatusNotification'>['errorCode'],
        ...(c.info ? { info: c.info } : {}),
        ...(c.vendorErrorCode ? { vendorErrorCode: c.vendorErrorCode } : {}),
        timestamp: c.updatedAt,
      });
    }
  }

  private deliverQueue(): () => void {
    let active = true;
    void runDelivery(this.deps.queue, this.chargerId, {
      active: () => active && !this.stopped && this.conn?.rpc.isOpen === true,
      deliver: (entry) => this.deliver(entry),
      attempts: this.attempts,
      policy: () => this.retryPolicy,
      onGiveUp: (entry, reason, detail, seq) => {
        this.deps.metrics.partnerGivenUp.labels(entry.kind, reason).inc();
        this.log.error({ kind: entry.kind, transactionId: entry.transactionId, reason, detail, stream: streams.northQueue, seq }, 'partner transaction message given up; kept in the queue stream');
      },
      onError: (err) => this.log.warn({ err: String(err) }, 'partner queue delivery problem'),
      inFlight: (done) => this.inFlight.track(done),
    });
    // Refresh the retry policy now and then; the loop reads it synchronously.
    void this.config().then((c) => (this.retryPolicy = { attempts: c.transactionMessageAttempts, retryIntervalS: c.transactionMessageRetryIntervalS }));
    return () => {
      active = false;
    };
  }

  private deliver(entry: QueueEntry): Promise<DeliveryOutcome> {
    const rpc = this.conn?.rpc;
    if (!rpc?.isOpen) return Promise.resolve('offline');
    return sendTransactionMessage(entry, { rpc, store: this.deps.store, chargerId: this.chargerId, log: this.log, updateProfiles: (change) => this.cap.update(change) });
  }

  // ---------------------------------------------------------------- configuration and caps

  async config(): Promise<EffectiveConfig> {
    const charger = this.deps.cache.chargers.get(this.chargerId);
    const set = await this.deps.store.config(this.chargerId);
    const s = this.deps.settings;
    return effectiveConfig(set, {
      heartbeatIntervalS: this.actor.getSnapshot().context.heartbeatIntervalS,
      pingIntervalS: charger?.ocpp.webSocketPing ? s.pingIntervalS : 0,
      attempts: s.transactionMessageAttempts,
      retryIntervalS: s.transactionMessageRetryIntervalS,
    });
  }

  private commandEnv(): PartnerCommandEnv {
    const node = this.deps;
    const { store } = node;
    return {
      chargerId: this.chargerId,
      charger: () => node.cache.chargers.get(this.chargerId),
      now: this.deps.now,
      toCharger: (action, payload) => node.commands.send(this.chargerId, { action, payload, timeoutMs: Math.max(1_000, this.deps.settings.callTimeoutMs - 1_000) }),
      liveStatus: () => this.liveStatus(),
      platformTransaction: (partnerTxId) => store.platformTransaction(this.chargerId, partnerTxId),
      config: () => this.config(),
      setConfig: async (change) => {
        const { HeartbeatInterval, ...persisted } = change;
        if (HeartbeatInterval !== undefined) this.actor.send({ type: 'SET_HEARTBEAT', intervalS: HeartbeatInterval });
        if (Object.keys(persisted).length === 0) return;
        await store.setConfig(this.chargerId, persisted);
        const cfg = await this.config();
        this.retryPolicy = { attempts: cfg.transactionMessageAttempts, retryIntervalS: cfg.transactionMessageRetryIntervalS };
        this.conn?.setPingInterval(cfg.webSocketPingIntervalS * 1000);
        if (this.lastTarget) this.lastTarget = { ...this.lastTarget, pingIntervalS: cfg.webSocketPingIntervalS };
      },
      setAuthorizationKey: async (password) => {
        const host = this.conn ? partnerHost(this.conn.url) : undefined;
        await node.credentials.updateChargerNorth(this.chargerId, { partnerSet: password, ...(host ? { partnerSetHost: host } : {}) });
        this.afterAnswer(() => this.refresh());
      },
      updateProfiles: (change) => this.cap.update(change),
      profiles: () => store.profiles(this.chargerId),
      afterAnswer: (fn) => this.afterAnswer(fn),
      trigger: {
        boot: () => this.actor.send({ type: 'TRIGGER_BOOT' }),
        heartbeat: () => this.actor.send({ type: 'TRIGGER_HEARTBEAT' }),
        status: (connectorId) => this.reportStatus(connectorId),
        diagnosticsStatus: async () => void (await this.rpc().call('DiagnosticsStatusNotification', { status: 'Idle' })),
        firmwareStatus: async () => void (await this.rpc().call('FirmwareStatusNotification', { status: 'Idle' })),
      },
      rememberRemoteStart: (idTag) => this.deps.rememberRemoteStart(this.chargerId, idTag),
      clearAuthorizationCache: () => this.deps.clearAuthorizationCache(this.installationId),
    };
  }

  /** After the CALLRESULT went out: the answer is sent synchronously once the handler resolves. */
  private afterAnswer(fn: () => Promise<void> | void): void {
    setImmediate(() => {
      Promise.resolve()
        .then(fn)
        .catch((err: unknown) => this.log.warn({ err: String(err) }, 'partner follow-up failed'));
    });
  }
}
