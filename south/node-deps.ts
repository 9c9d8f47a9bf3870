import type { Logger } from 'pino';
import type { ChargerStateStore } from '../core/charger-state-store.js';
import type { ConfigCache } from '../core/config-cache.js';
import type { CredentialStore } from '../core/credential-store.js';
import type { Metrics } from '../core/metrics.js';
import type { Bus } from '../core/nats.js';
import type { TransactionStore } from '../core/transaction-store.js';
import type { Authorizer } from './charger-handlers.js';
import type { ChargerMachine } from './charger-machine.js';
import type { LimitFence } from './limit-fence.js';

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
}

/** A charger call the platform answered, as observers see it. */
export interface HandledCall {
  chargerId: string;
  installationId: string;
  action: string;
  request: Record<string, unknown>;
  response: unknown;
}

/**
 * Sees every call a charger makes, after the platform decided the answer and before the charger
 * hears it. An observer that must not lose a message (the partner bridge's durable queue) awaits its
 * write here; if it throws, the charger gets InternalError and retries.
 */
export interface ChargerObserver {
  onCall(call: HandledCall): Promise<void> | void;
  onSessionStarted?(chargerId: string, installationId: string): void;
  onSessionStopped?(chargerId: string, installationId: string): void;
}

/** What the charger sessions of one node share; built once in the composition root. */
export interface NodeDeps {
  nodeId: string;
  bus: Bus;
  cache: ConfigCache;
  credentials: CredentialStore;
  transactions: TransactionStore;
  chargerState: ChargerStateStore;
  authorizer: Authorizer;
  metrics: Metrics;
  logger: Logger;
  settings: SessionSettings;
  observers: ChargerObserver[];
}

export type SessionDeps = NodeDeps & {
  /** The charger machine with the node's implementations, provided once (not per session). */
  machine: ChargerMachine;
  onSessionStopped(session: { chargerId: string; connectionId: string }): void;
  /** The node's fence against limits from a deposed balancer leader. */
  fence?: LimitFence;
};
