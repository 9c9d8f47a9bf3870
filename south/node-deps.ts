import type { MeterEventRules } from './meter-values.js';
import type { AnyActorRef } from 'xstate';
import type { Logger } from 'pino';
import type { ChargerCommands } from '../core/charger-commands.js';
import type { ChargerStateStore } from '../core/charger-state-store.js';
import type { ConfigCache } from '../core/config-cache.js';
import type { CredentialStore } from '../core/credential-store.js';
import type { Metrics } from '../core/metrics.js';
import type { Bus } from '../core/nats.js';
import type { TransactionStore } from '../core/transaction-store.js';
import type { RequestOf } from '../ocpp/actions.js';
import type { RpcConnection } from '../ocpp/rpc-connection.js';
import type { AnsweredCalls } from './answered-calls.js';
import type { Authorizer } from './charger-handlers.js';
import type { ChargerMachine } from './charger-machine.js';
import type { LimitFence } from './limit-fence.js';
import type { EventBatch } from './event-batch.js';

export interface SessionSettings {
  heartbeatIntervalS: number;
  /** Interval told to a charger answered Pending (it boots again after it). */
  pendingIntervalS: number;
  callTimeoutMs: number;
  /** WebSocket ping towards chargers; 0 = off. */
  pingIntervalMs: number;
  /** Publish OCPP messages to the message-log stream (Heartbeat/MeterValues only in a charger's verbose window)... */
  ocppLog: boolean;
  /** ...or all of them. */
  ocppLogAll: boolean;
  livenessGraceS: number;
  meterEventDeltaA: number;
  meterEventMaxAgeMs: number;
  meterEventOverLimitRepeatMs: number;
}

/** The charger a fact is about. */
export interface ChargerRef {
  chargerId: string;
  installationId: string;
}

/**
 * Hears what the charger side did, as its handler did it: after the platform decided and recorded,
 * before the charger hears the answer. An observer that must not lose a message (the partner
 * bridge's durable queue) awaits its write; if it throws, the charger gets InternalError and retries.
 * Each OCPP action is handled once, in `charger-handlers.ts`; observers only react.
 */
export interface ChargerObserver {
  onSessionStarted?(chargerId: string, installationId: string): void;
  onSessionStopped?(chargerId: string, installationId: string): void;
  booted?(charger: ChargerRef): void;
  statusNotified?(charger: ChargerRef, request: RequestOf<'StatusNotification'>): void;
  transactionStarted?(charger: ChargerRef, transactionId: number, request: RequestOf<'StartTransaction'>): Promise<void>;
  transactionStopped?(charger: ChargerRef, request: RequestOf<'StopTransaction'>): Promise<void>;
  /** May answer synchronously (undefined): MeterValues are the most frequent call. */
  meterValues?(charger: ChargerRef, request: RequestOf<'MeterValues'>): Promise<void> | undefined;
}

/** What the charger sessions of one node share; built once in the composition root, never changed after. */
export interface NodeDeps {
  readonly nodeId: string;
  readonly bus: Bus;
  /** Where each session registers to answer the node's own commands in process. */
  readonly commands: ChargerCommands;
  readonly cache: ConfigCache;
  readonly credentials: CredentialStore;
  readonly transactions: TransactionStore;
  readonly chargerState: ChargerStateStore;
  readonly authorizer: Authorizer;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly settings: SessionSettings;
  readonly observers: readonly ChargerObserver[];
}

export type SessionDeps = NodeDeps & {
  /** The charger machine with the node's implementations, provided once (not per session). */
  machine: ChargerMachine;
  /** The parent of every charger actor of the node (one actor system for all; see actor-root.ts). */
  actorRoot: AnyActorRef;
  onSessionStopped(session: { chargerId: string; connectionId: string }): void;
  /**
   * The close listener of every session's connection, one function per node: EventEmitter calls it
   * with the connection as `this`, and it stops the session that connection drives.
   */
  onConnectionClosed(this: RpcConnection): void;
  /** The node's fence against limits from a deposed balancer leader. */
  fence?: LimitFence;
  /** `ok` answers per action, counted in batches (see answered-calls.ts). */
  answeredCalls: AnsweredCalls;
  /** Where the sessions' charger events go out (once per event-loop turn). */
  events: EventBatch;
  /** When a meter reading is news (from the settings, shared by every session). */
  meterEvents: MeterEventRules;
};
