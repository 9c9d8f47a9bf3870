import type { NatsConnection } from '@nats-io/transport-node';
import type { Charger } from '../core/model.js';
import { encodeJson } from '../core/nats.js';
import { redactOcppPayload } from '../core/redact.js';
import type { RpcLogEntry } from '../ocpp/rpc-connection.js';

/** Actions that repeat on a timer: left out of the OCPP log unless a charger's verbose logging is on. */
const PERIODIC_ACTIONS: ReadonlySet<string> = new Set(['Heartbeat', 'MeterValues']);

/** Whether an entry goes to the log: periodic traffic only within the charger's verbose window (or with `all`). */
export function shouldLog(entry: RpcLogEntry, charger: Charger | undefined, now: number, all = false): boolean {
  return shouldLogAction(entry.action, charger, now, all);
}

/** Whether an action repeats on a timer (Heartbeat, MeterValues). */
export function isPeriodic(action: string | undefined): boolean {
  return action !== undefined && PERIODIC_ACTIONS.has(action);
}

/** `shouldLog` before the entry exists: it depends on the action alone. */
export function shouldLogAction(action: string | undefined, charger: Charger | undefined, now: number, all = false): boolean {
  if (all || !isPeriodic(action)) return true;
  const until = charger?.ocpp.verboseLoggingUntil;
  // Verbose logging switches itself off: past its end the periodic actions are left out again.
  return !!until && Date.parse(until) > now;
}

/** A password pushed or set with ChangeConfiguration AuthorizationKey, or read back, never reaches the log stream. */
export function redactPayload(entry: RpcLogEntry): unknown {
  return redactOcppPayload(entry.payload);
}

export function publishOcppLog(nc: NatsConnection, subject: string, chargerId: string, entry: RpcLogEntry, extra: Record<string, unknown> = {}): void {
  if (nc.isClosed()) return;
  nc.publish(subject, encodeJson({ chargerId, ...extra, ...entry, payload: redactPayload(entry), at: new Date(entry.at).toISOString() }));
}
