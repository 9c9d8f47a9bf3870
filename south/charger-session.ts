import { randomUUID } from 'node:crypto';
import type { Subscription } from '@nats-io/transport-node';
import { createActor, type Actor } from 'xstate';
import type { ChargerCommand, CommandReply } from '../core/commands.js';
import { STATUS_ACTION } from '../core/commands.js';
import type { LocalCommandTarget } from '../core/charger-commands.js';
import type { ChargerEvent as BusEvent } from '../core/events.js';
import type { Charger } from '../core/model.js';
import { countOcpp } from '../core/metrics.js';
import { decodeJson, encodeJson } from '../core/nats.js';
import { generatePassword, toHex } from '../core/passwords.js';
import { subjects } from '../core/subjects.js';
import type { OcppAction, RequestOf } from '../ocpp/actions.js';
import { CENTRAL_SYSTEM_ACTIONS } from '../ocpp/actions.js';
import { OcppCallError, OcppClosedError, OcppRemoteError, OcppTimeoutError } from '../ocpp/errors.js';
import type { RpcConnection } from '../ocpp/rpc-connection.js';
import { validateRequest } from '../ocpp/validator.js';
import { callAllowedIn, livenessPeriodMs, liveStatus, registrationOf, registrationStateOf, type ChargerEmitted, type ChargerMachine } from './charger-machine.js';
import { handleChargerCall, type HandlerEnv } from './charger-handlers.js';
import type { AcceptedLimit, PublishedMeter } from './meter-values.js';
import type { ChargerObserver, ChargerRef, SessionDeps } from './node-deps.js';
import { fenceCommand } from './limit-fence.js';
import { profileLimitA } from './meter-values.js';

const CS_ACTIONS: ReadonlySet<string> = new Set(CENTRAL_SYSTEM_ACTIONS);
const NO_TRANSACTION_IDS: readonly number[] = Object.freeze([]);

/**
 * The imperative shell around one connected charger: its XState actor, its OCPP connection, its
 * command subscription on NATS and the events it publishes. Created on connect, stopped on close.
 */
export class ChargerSession implements LocalCommandTarget {
  readonly connectionId = randomUUID();
  readonly connectedAt = Date.now();
  /** Read by SessionEnv (the handlers' view of this session). */
  readonly actor: Actor<ChargerMachine>;
  private readonly sub: Subscription;
  private readonly env: SessionEnv;
  /** The last call that only proved the charger alive (touch), and what of it the actor has (SEEN). */
  private lastSeenAt = 0;
  private lastSeenSent = 0;
  /** The actor announced the charger silent and has heard nothing from it since. */
  private silent = false;
  private stopped = false;
  /** When the node's liveness sweep next sends LIVENESS_CHECK (checkLiveness). */
  private nextLivenessCheck: number;

  readonly chargerId: string;
  readonly installationId: string;
  /** What observers are told about (one object for the session's life). */
  readonly ref: ChargerRef;

  constructor(
    charger: Charger,
    readonly rpc: RpcConnection,
    needsPasswordRotation: boolean,
    private readonly deps: SessionDeps,
  ) {
    const chargerId = charger.id;
    const installationId = charger.installationId;
    this.chargerId = chargerId;
    this.installationId = installationId;
    this.ref = { chargerId, installationId };
    this.nextLivenessCheck = this.connectedAt + livenessPeriodMs(deps.settings);
    this.actor = createActor(deps.machine, {
      // One actor system per node (actor-root.ts); the id names the charger in a failure report.
      parent: deps.actorRoot,
      id: chargerId,
      input: {
        chargerId,
        installationId,
        nodeId: deps.nodeId,
        now: this.connectedAt,
        heartbeatIntervalS: deps.settings.heartbeatIntervalS,
        livenessGraceS: deps.settings.livenessGraceS,
        needsPasswordRotation,
      },
    });
    this.env = new SessionEnv(this, charger, deps);
    this.sub = deps.bus.nc.subscribe(subjects.chargerCommand(chargerId), {
      callback: (err, msg) => {
        if (err) return;
        void this.onCommandData(msg.data).then((reply) => msg.respond(encodeJson(reply)));
      },
    });
    deps.commands.serveLocally(chargerId, this);
  }

  /** What the machine announced (the registry's actions hand it here, one handler per node). */
  onAnnounced(emitted: ChargerEmitted): void {
    const { chargerId, deps } = this;
    if (emitted.type === 'passwordRotated') {
      deps.logger.info({ chargerId }, 'charger password rotated');
      // A charger told Pending waits for its interval; ask it to boot again now that it is provisioned.
      if (registrationOf(this.actor.getSnapshot()) === 'Pending') void this.rpc.call('TriggerMessage', { requestedMessage: 'BootNotification' }).catch(() => undefined);
    } else if (emitted.type === 'passwordRotationFailed') deps.logger.warn({ chargerId, err: String(emitted.error) }, 'charger password rotation failed');
    else if (emitted.type === 'silent') {
      deps.logger.warn({ chargerId, lastSeen: new Date(emitted.lastSeen).toISOString() }, 'charger silent');
      this.silent = true;
      this.forwardSeen();
    }
  }

  start(): void {
    this.actor.start();
    // Most calls (Heartbeat, unchanged MeterValues) are answered at once: no promise is made for them.
    this.rpc.handle((action: OcppAction, payload) => {
      const result = handleChargerCall(action, payload, this.env);
      if (result instanceof Promise) return result.then((value: unknown) => this.answered(action, value));
      return this.answered(action, result);
    });
    this.rpc.on('close', this.deps.onConnectionClosed);
    this.publishConnection(true);
    this.deps.metrics.connectedChargers.inc();
    for (const o of this.deps.observers) o.onSessionStarted?.(this.chargerId, this.installationId);
  }

  private answered(action: OcppAction, value: unknown): unknown {
    this.deps.answeredCalls.add(action);
    return value;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.sub.unsubscribe();
    this.deps.commands.stopServingLocally(this.chargerId, this);
    // A child actor is stopped by its parent.
    this.deps.actorRoot.send({ type: 'stopChild', child: this.actor });
    if (this.rpc.isOpen) this.rpc.close(1000, 'session stopped');
    this.publishConnection(false);
    this.deps.metrics.connectedChargers.dec();
    for (const o of this.deps.observers) o.onSessionStopped?.(this.chargerId, this.installationId);
    this.deps.onSessionStopped(this);
  }

  /**
   * Heartbeats and unchanged meter samples are noted here; the actor hears of them (SEEN) just
   * before its liveness check, which is all its `lastSeen` feeds, or at once when it holds the
   * charger silent. Forwarded every few seconds instead, most real periodic calls (one every 10 s
   * or more per charger) each cost an actor step, and a check period shorter than the forwarding
   * interval saw a talking charger as silent. `status()` reports the latest of both.
   */
  touch(at: number): void {
    if (at > this.lastSeenAt) this.lastSeenAt = at;
    if (this.silent) this.forwardSeen();
  }

  private forwardSeen(): void {
    if (this.lastSeenAt <= this.lastSeenSent) return;
    this.lastSeenSent = this.lastSeenAt;
    this.silent = false;
    this.actor.send({ type: 'SEEN', at: this.lastSeenAt });
  }

  /** The charger's configuration changed (undefined: deleted); the registry follows the cache for its sessions. */
  chargerChanged(charger: Charger | undefined): void {
    this.env.current = charger;
  }

  /** Called by the node's one liveness timer: a check once per heartbeat interval + grace. */
  checkLiveness(now: number): void {
    if (now < this.nextLivenessCheck || this.stopped) return;
    this.nextLivenessCheck = now + livenessPeriodMs(this.deps.settings);
    this.forwardSeen();
    this.actor.send({ type: 'LIVENESS_CHECK', at: now });
  }

  status() {
    return liveStatus(this.actor.getSnapshot(), this.lastSeenAt);
  }

  private publishConnection(connected: boolean): void {
    if (this.deps.bus.nc.isClosed()) return;
    this.deps.events.publish({
      kind: 'connection',
      chargerId: this.chargerId,
      installationId: this.installationId,
      nodeId: this.deps.nodeId,
      connected,
      connectionId: this.connectionId,
      at: new Date(connected ? this.connectedAt : Date.now()).toISOString(),
    });
  }

  private onCommandData(data: Uint8Array): Promise<CommandReply> {
    let cmd: ChargerCommand;
    try {
      cmd = decodeJson<ChargerCommand>(data);
    } catch {
      return Promise.resolve({ ok: false, error: { code: 'INVALID', message: 'command is not JSON', ocppCode: 'FormationViolation' } });
    }
    return this.command(cmd);
  }

  /** Answers `cmd.charger.<id>` (over NATS, or from this process): the live status, or any Central-System-initiated OCPP call. */
  async command(cmd: ChargerCommand): Promise<CommandReply> {
    const fenced = fenceCommand(this.deps.fence, this.installationId, cmd);
    if (fenced) return fenced;
    if (cmd.action === STATUS_ACTION) return { ok: true, response: this.status() };
    if (!CS_ACTIONS.has(cmd.action)) {
      return { ok: false, error: { code: 'INVALID', message: `${cmd.action} is not a Central-System-initiated OCPP 1.6 action`, ocppCode: 'NotImplemented' } };
    }
    const invalid = validateRequest(cmd.action, cmd.payload);
    if (invalid) return { ok: false, error: { code: 'INVALID', message: invalid.message, ocppCode: invalid.code } };
    try {
      const response = await this.rpc.callUntyped(cmd.action, cmd.payload, { ...(cmd.timeoutMs ? { timeoutMs: cmd.timeoutMs } : {}), priority: cmd.priority === true });
      countOcpp(this.deps.metrics, 'out', cmd.action, 'ok');
      // The limit the charger holds, for meterEventDue (the payload was validated against 1.6 above).
      const accepted = (response as { status?: string }).status === 'Accepted';
      if (accepted && cmd.action === 'SetChargingProfile') {
        const a = profileLimitA(cmd.payload as unknown as RequestOf<'SetChargingProfile'>);
        this.env.limit = a === undefined ? undefined : { a, at: Date.now() };
      }
      if (accepted && cmd.action === 'ClearChargingProfile') this.env.limit = undefined;
      return { ok: true, response };
    } catch (err) {
      return this.failure(cmd.action, err);
    }
  }

  private failure(action: string, err: unknown): CommandReply {
    const code = err instanceof OcppRemoteError || err instanceof OcppCallError ? err.code : err instanceof OcppTimeoutError ? 'timeout' : 'error';
    countOcpp(this.deps.metrics, 'out', action, code);
    if (err instanceof OcppTimeoutError) return { ok: false, error: { code: 'TIMEOUT', message: err.message } };
    if (err instanceof OcppClosedError) return { ok: false, error: { code: 'NOT_CONNECTED', message: err.message } };
    if (err instanceof OcppRemoteError) return { ok: false, error: { code: 'CALL_ERROR', message: err.message, ocppCode: err.code, details: err.details } };
    if (err instanceof OcppCallError) return { ok: false, error: { code: 'CALL_ERROR', message: err.message, ocppCode: err.code } };
    return { ok: false, error: { code: 'CALL_ERROR', message: String((err as Error)?.message ?? err), ocppCode: 'InternalError' } };
  }

  /**
   * Gives the charger its own random password (1.6 security whitepaper, profile 1). The hash is
   * stored as pending before the key is sent, and confirmed once the charger accepts it.
   */
  async rotatePassword(): Promise<void> {
    const password = generatePassword();
    await this.deps.credentials.beginSouthRotation(this.chargerId, password);
    // No answer is not a refusal: the charger may hold the key already (a lost .conf), so on an
    // error the pending hash stays valid until a newer rotation is confirmed.
    const { status } = await this.rpc.call('ChangeConfiguration', { key: 'AuthorizationKey', value: toHex(password) });
    if (status === 'Accepted') return this.deps.credentials.confirmSouthRotation(this.chargerId);
    // RebootRequired: the charger will use the key after its reboot; presenting it then confirms it.
    if (status === 'RebootRequired') return;
    await this.deps.credentials.abortSouthRotation(this.chargerId);
    throw new Error(`AuthorizationKey change answered ${status}`);
  }
}

/**
 * Tells every observer, one after the other, awaiting those that return a promise. Undefined when
 * none did: then the handler goes on in the same turn.
 */
function observeAll(
  observers: readonly ChargerObserver[],
  notify: (observer: ChargerObserver, charger: ChargerRef) => Promise<void> | void,
  ref: ChargerRef,
): Promise<void> | undefined {
  for (let i = 0; i < observers.length; i++) {
    const pending = notify(observers[i]!, ref);
    if (pending instanceof Promise) {
      if (i === observers.length - 1) return pending;
      return pending.then(async () => {
        for (let j = i + 1; j < observers.length; j++) await notify(observers[j]!, ref);
      });
    }
  }
  return undefined;
}

/**
 * What the handlers of one session use (HandlerEnv). A class rather than an object of closures: a
 * node holds one per connected charger, and methods on a prototype cost nothing per instance.
 */
class SessionEnv implements HandlerEnv {
  readonly chargerId: string;
  readonly nodeId: string;
  lastMeterEvent: PublishedMeter | undefined = undefined;
  limit: AcceptedLimit | undefined = undefined;
  /**
   * The cache's entry for the charger, kept by the registry (chargerChanged): looked up in the
   * cache's map of every charger of the cluster on each call, it was 2-3 % of a node's CPU
   * answering MeterValues.
   */
  current: Charger | undefined;
  /**
   * What every call reads of the actor, copied after each event sent to it (mirror): reading it
   * through the actor's snapshot (five objects per charger, scattered over the heap) was 4-5 % of a
   * node's CPU answering MeterValues. Undefined until first needed.
   */
  private registrationState: string | undefined = undefined;
  private transactionIds: readonly number[] = NO_TRANSACTION_IDS;

  constructor(
    private readonly session: ChargerSession,
    /** The configuration at connect: used when it is deleted while connected (the session closes then, but in-flight calls finish). */
    private readonly connectedCharger: Charger,
    private readonly deps: SessionDeps,
  ) {
    this.chargerId = session.chargerId;
    this.nodeId = deps.nodeId;
    this.current = connectedCharger;
  }

  get meterEvents(): HandlerEnv['meterEvents'] {
    return this.deps.meterEvents;
  }
  get transactions(): HandlerEnv['transactions'] {
    return this.deps.transactions;
  }
  get chargerState(): HandlerEnv['chargerState'] {
    return this.deps.chargerState;
  }
  get authorize(): HandlerEnv['authorize'] {
    return this.deps.authorizer;
  }
  get heartbeatIntervalS(): number {
    return this.deps.settings.heartbeatIntervalS;
  }
  get pendingIntervalS(): number {
    return this.deps.settings.pendingIntervalS;
  }
  get logger(): HandlerEnv['logger'] {
    return this.deps.logger;
  }

  charger(): Charger {
    return this.current ?? this.connectedCharger;
  }
  installation(): ReturnType<HandlerEnv['installation']> {
    return this.deps.cache.installations.get(this.session.installationId);
  }
  now(): number {
    return Date.now();
  }
  context(): ReturnType<HandlerEnv['context']> {
    return this.session.actor.getSnapshot().context;
  }
  hasTransaction(transactionId: number): boolean {
    this.registrationState ??= this.mirror();
    // A loop, not `includes`: the builtin's call cost more than scanning the one or two ids there are.
    const ids = this.transactionIds;
    for (let i = 0; i < ids.length; i++) if (ids[i] === transactionId) return true;
    return false;
  }
  registration(): ReturnType<HandlerEnv['registration']> {
    return registrationOf(this.session.actor.getSnapshot());
  }
  callAllowed(action: string): boolean {
    const state = (this.registrationState ??= this.mirror());
    return callAllowedIn(state, action, this.session.actor);
  }
  send(event: Parameters<HandlerEnv['send']>[0]): void {
    this.session.actor.send(event);
    // Registration and transactions change only on the events sent here (the session's own SEEN and
    // LIVENESS_CHECK touch neither): read again after each.
    this.registrationState = this.mirror();
  }

  /** Copies the registration state and the active transaction ids from the actor; returns the state. */
  private mirror(): string {
    const snapshot = this.session.actor.getSnapshot();
    const active = snapshot.context.transactions;
    this.transactionIds = active.length === 0 ? NO_TRANSACTION_IDS : active.map((t) => t.transactionId);
    return registrationStateOf(snapshot);
  }
  observe(notify: Parameters<HandlerEnv['observe']>[0]): Promise<void> | undefined {
    return observeAll(this.deps.observers, notify, this.session.ref);
  }
  touch(at: number): void {
    this.session.touch(at);
  }
  publish(event: BusEvent): void {
    this.deps.events.publish(event);
  }
}
