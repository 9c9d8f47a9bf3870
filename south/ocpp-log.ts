import type { NatsConnection } from '@nats-io/transport-node';
import type { ConfigCache } from '../core/config-cache.js';
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

/**
 * The chargers whose configuration has a verbose-logging window (set or past), kept from the
 * configuration cache's events. Periodic calls (two log decisions per round trip, thousands a
 * second) of the other chargers are left out without a lookup among every charger of the cluster.
 */
export class VerboseChargers {
  private readonly ids = new Set<string>();
  private readonly onCharger = (id: string, value: Charger | undefined): void => {
    if (value?.ocpp.verboseLoggingUntil) this.ids.add(id);
    else this.ids.delete(id);
  };

  constructor(private readonly cache: ConfigCache) {
    cache.on('charger', this.onCharger);
    for (const [id, charger] of cache.chargers) this.onCharger(id, charger);
  }

  /** Whether a periodic action of this charger is logged now (its window is open). */
  periodicLogged(chargerId: string, action: string | undefined, now?: number): boolean {
    if (this.ids.size === 0 || !this.ids.has(chargerId)) return false;
    return shouldLogAction(action, this.cache.chargers.get(chargerId), now ?? Date.now());
  }

  stop(): void {
    this.cache.off('charger', this.onCharger);
  }
}

/** A password pushed or set with ChangeConfiguration AuthorizationKey, or read back, never reaches the log stream. */
export function redactPayload(entry: RpcLogEntry): unknown {
  return redactOcppPayload(entry.payload);
}

export function publishOcppLog(nc: NatsConnection, subject: string, chargerId: string, entry: RpcLogEntry, extra: Record<string, unknown> = {}): void {
  if (nc.isClosed()) return;
  nc.publish(subject, encodeJson({ chargerId, ...extra, ...entry, payload: redactPayload(entry), at: new Date(entry.at).toISOString() }));
}
