import type { Subscription } from '@nats-io/transport-node';
import { fromPromise, type AnyActorRef } from 'xstate';
import type { ConnectionEvent } from '../core/events.js';
import type { Charger } from '../core/model.js';
import { countOcpp } from '../core/metrics.js';
import { decodeJson } from '../core/nats.js';
import { subjects } from '../core/subjects.js';
import { CLOSE } from '../ocpp/close-codes.js';
import { isKnownAction } from '../ocpp/actions.js';
import type { RpcConnection, RpcConnectionOptions } from '../ocpp/rpc-connection.js';
import { chargerMachine, type ChargerEmitted } from './charger-machine.js';
import { ChargerSession } from './charger-session.js';
import type { NodeDeps, SessionDeps } from './node-deps.js';
import { LimitFence } from './limit-fence.js';
import { AnsweredCalls } from './answered-calls.js';
import { EventBatch } from './event-batch.js';
import { LazyChildLogger } from './lazy-logger.js';
import { createActorRoot } from './actor-root.js';
import { isPeriodic, publishOcppLog, VerboseChargers } from './ocpp-log.js';

/** How often the node looks for sessions due a liveness check (the check itself is per heartbeat interval). */
const LIVENESS_SWEEP_MS = 1_000;

export type AuthOutcome = { ok: true; context: AuthContext } | { ok: false; reason: string };
export interface AuthContext {
  needsPasswordRotation: boolean;
}

/**
 * The node's charger sessions: authenticates handshakes, spawns a session (and its actor) per
 * connection, stops it on close, and closes a local socket when the same charger connects to
 * another node (the newer connection wins, cluster-wide).
 */
export class ChargerRegistry {
  readonly sessions = new Map<string, ChargerSession>();
  private readonly subs: Subscription[] = [];
  private readonly stops: (() => void)[] = [];
  /** The node's one liveness timer (each session is checked once per heartbeat interval + grace). */
  private livenessTimer: NodeJS.Timeout | undefined;
  private readonly fence = new LimitFence();
  private readonly machine = chargerMachine.provide({
    actors: {
      rotatePassword: fromPromise<void, { chargerId: string }>(async ({ input }) => {
        const session = this.sessions.get(input.chargerId);
        if (!session) throw new Error(`no session for ${input.chargerId}`);
        await session.rotatePassword();
      }),
    },
    // What the machine announces is handled once per node: a listener per actor (actor.on) cost a
    // Map, a Set and closures per connected charger. Deferred as XState defers emitted events, so the
    // session reads the snapshot after the step.
    actions: {
      announceRotated: ({ self }) => this.announce(self, { type: 'passwordRotated' }),
      announceRotationFailed: ({ self }, params: { error: unknown }) => this.announce(self, { type: 'passwordRotationFailed', error: params.error }),
      announceSilent: ({ self, context }) => this.announce(self, { type: 'silent', lastSeen: context.lastSeen }),
    },
  });

  private announce(actor: AnyActorRef, emitted: ChargerEmitted): void {
    queueMicrotask(() => {
      const session = this.sessions.get(actor.id);
      if (session?.actor === actor) session.onAnnounced(emitted);
    });
  }

  /** A charger actor that fails is logged and its socket closed (the charger reconnects to a fresh session). */
  private readonly actorRoot = createActorRoot((chargerId, error) => {
    this.deps.logger.error({ chargerId, err: error }, 'charger session actor failed; closing its connection');
    this.sessions.get(chargerId)?.rpc.close(1011, 'internal error');
  });

  /** What every session of this node shares: built once, not per connection. */
  private readonly sessionDeps: SessionDeps;
  private readonly verbose: VerboseChargers;

  constructor(private readonly deps: NodeDeps) {
    this.verbose = new VerboseChargers(deps.cache);
    // Each session holds its charger's configuration (ChargerSession.chargerChanged).
    const onChargerChanged = (id: string, value: Charger | undefined): void => this.sessions.get(id)?.chargerChanged(value);
    deps.cache.on('charger', onChargerChanged);
    this.stops.push(
      () => this.verbose.stop(),
      () => deps.cache.off('charger', onChargerChanged),
    );
    this.sessionDeps = {
      ...deps,
      machine: this.machine,
      actorRoot: this.actorRoot,
      fence: this.fence,
      answeredCalls: new AnsweredCalls(deps.metrics),
      events: new EventBatch(deps.bus.nc, (err, count) => deps.logger.warn({ err: String(err), count }, 'charger events not published')),
      meterEvents: { deltaA: deps.settings.meterEventDeltaA, maxAgeMs: deps.settings.meterEventMaxAgeMs, overLimitRepeatMs: deps.settings.meterEventOverLimitRepeatMs },
      onSessionStopped: (s) => {
        if (this.sessions.get(s.chargerId)?.connectionId === s.connectionId) this.sessions.delete(s.chargerId);
      },
      onConnectionClosed: sessionStopper(this.sessions),
    };
  }

  /** Follows configuration (a removed charger or installation is disconnected) and other nodes' connections. */
  start(): void {
    const { bus, cache } = this.deps;
    this.subs.push(
      bus.nc.subscribe(subjects.chargerEvent('*', '*', 'connection'), {
        callback: (err, msg) => {
          if (!err) this.onRemoteConnection(decodeJson<ConnectionEvent>(msg.data));
        },
      }),
    );
    const onCharger = (id: string, value: unknown): void => {
      if (!value) this.sessions.get(id)?.rpc.close(CLOSE.chargerRemoved.code, CLOSE.chargerRemoved.reason);
    };
    const onInstallation = (id: string, value: unknown): void => {
      if (value) return;
      for (const s of this.sessions.values()) if (s.installationId === id) s.rpc.close(CLOSE.installationRemoved.code, CLOSE.installationRemoved.reason);
    };
    this.livenessTimer = setInterval(() => {
      const now = Date.now();
      for (const s of this.sessions.values()) s.checkLiveness(now);
    }, LIVENESS_SWEEP_MS);
    this.livenessTimer.unref();
    cache.on('charger', onCharger);
    cache.on('installation', onInstallation);
    this.stops.push(() => cache.off('charger', onCharger), () => cache.off('installation', onInstallation));
  }

  /** Basic auth (security profile 1): user = charger id; unknown chargers are refused at the handshake. */
  readonly authenticate = async ({ chargerId, password }: { chargerId: string; password: string | undefined }): Promise<AuthOutcome> => {
    const charger = this.deps.cache.chargers.get(chargerId);
    if (!charger) return { ok: false, reason: 'unknown charger' };
    if (password === undefined) return { ok: false, reason: 'missing Basic auth' };
    const result = await this.deps.credentials.verifySouth(chargerId, charger.installationId, password);
    if (result === 'denied') return { ok: false, reason: 'wrong password' };
    return { ok: true, context: { needsPasswordRotation: result === 'initial' } };
  };

  readonly connectionOptions = (chargerId: string): Omit<RpcConnectionOptions, 'identity'> => {
    const charger = this.deps.cache.chargers.get(chargerId);
    const { settings, logger } = this.deps;
    return {
      strict: charger?.ocppValidation !== 'lenient',
      callTimeoutMs: settings.callTimeoutMs,
      pingIntervalMs: settings.pingIntervalMs,
      logger: new LazyChildLogger(logger, chargerId),
      // One pair of functions for every connection (they get the charger id): closures per
      // connection cost about 300 bytes per connected charger.
      logWanted: this.logWanted,
      onLog: this.onLog,
    };
  };

  /**
   * Whether the message log takes an entry (most periodic calls it does not); the charger is looked
   * up only for a periodic call, whose verbose-logging window decides.
   */
  private logged(chargerId: string, action: string | undefined, at?: number): boolean {
    const { settings } = this.deps;
    return settings.ocppLog && (settings.ocppLogAll || !isPeriodic(action) || this.verbose.periodicLogged(chargerId, action, at));
  }

  /** Refusals are counted; the rest only when the message log takes them (most periodic calls are not). */
  private readonly logWanted: NonNullable<RpcConnectionOptions['logWanted']> = (direction, type, action, chargerId) =>
    (direction === 'out' && type === 'CALLERROR') || this.logged(chargerId, action);

  private readonly onLog: NonNullable<RpcConnectionOptions['onLog']> = (entry, chargerId) => {
    // Calls the charger made that we refused (schema, unknown action, handler error) count by code.
    if (entry.direction === 'out' && entry.type === 'CALLERROR') {
      countOcpp(this.deps.metrics, 'in', isKnownAction(entry.action) ? entry.action : 'unknown', (entry.payload as { code?: string }).code ?? 'unknown');
    }
    if (this.logged(chargerId, entry.action, entry.at)) {
      publishOcppLog(this.deps.bus.nc, subjects.ocppLog(chargerId), chargerId, entry);
    }
  };

  readonly onConnection = ({ chargerId, rpc, context }: { chargerId: string; rpc: RpcConnection; context: unknown }): void => {
    const charger = this.deps.cache.chargers.get(chargerId);
    if (!charger) {
      rpc.close(CLOSE.chargerRemoved.code, CLOSE.chargerRemoved.reason);
      return;
    }
    this.sessions.get(chargerId)?.stop();
    const session = new ChargerSession(charger, rpc, (context as AuthContext).needsPasswordRotation, this.sessionDeps);
    this.sessions.set(chargerId, session);
    session.start();
  };

  private onRemoteConnection(evt: ConnectionEvent): void {
    if (!evt.connected || evt.nodeId === this.deps.nodeId) return;
    const local = this.sessions.get(evt.chargerId);
    if (local && new Date(evt.at).getTime() >= local.connectedAt) {
      this.deps.logger.info({ chargerId: evt.chargerId, node: evt.nodeId }, 'charger reconnected on another node; closing the old socket');
      local.rpc.close(CLOSE.replaced.code, CLOSE.replaced.reason);
    }
  }

  stop(): void {
    for (const s of this.subs.splice(0)) s.unsubscribe();
    clearInterval(this.livenessTimer);
    for (const stop of this.stops.splice(0)) stop();
    for (const s of [...this.sessions.values()]) s.stop();
    // The sessions' last events (connection closed) go out before the node closes its NATS connection.
    this.sessionDeps.events.flush();
    this.actorRoot.stop();
  }
}

/**
 * The close listener of every session's connection: a session not yet stopped is the map's entry for
 * its charger (the connection's identity), so the connection finds it there. One function per node,
 * not a closure per connected charger.
 */
function sessionStopper(sessions: ReadonlyMap<string, ChargerSession>): (this: RpcConnection) => void {
  return function onConnectionClosed(this: RpcConnection): void {
    const session = sessions.get(this.identity);
    if (session?.rpc === this) session.stop();
  };
}
