import type { NatsConnection } from '@nats-io/transport-node';
import { PlatformError } from './errors.js';
import { decodeJson, encodeJson } from './nats.js';
import { classifyNatsError } from './nats-errors.js';
import { subjects } from './subjects.js';

/**
 * The request/reply contract of `cmd.charger.<id>`, answered by the node that holds the charger's
 * socket. Besides every Central-System-initiated OCPP action, the node answers `$status` with the
 * charger actor's live snapshot.
 */
export const STATUS_ACTION = '$status';

export interface ChargerCommand {
  action: string;
  payload: Record<string, unknown>;
  timeoutMs?: number;
  /** Sent before the charger's other queued calls (the balancer's SetChargingProfile). */
  priority?: boolean;
  /**
   * The sending balancer's leadership epoch for the charger's installation. The charger's node
   * refuses a SetChargingProfile from an epoch older than the newest it has seen (FENCED).
   */
  epoch?: number;
}

export type CommandFailure =
  | { code: 'TIMEOUT'; message: string }
  | { code: 'CALL_ERROR'; message: string; ocppCode: string; details?: unknown }
  | { code: 'INVALID'; message: string; ocppCode: string }
  | { code: 'NOT_CONNECTED'; message: string }
  | { code: 'FENCED'; message: string };

export type CommandReply = { ok: true; response: unknown } | { ok: false; error: CommandFailure };

/**
 * What each failure means, once for every caller: whether the charger (or the node for it) refused
 * the command with an OCPP CallError code, so sending it again unchanged will not help, and the
 * API error it becomes.
 */
export function refusalOf(failure: CommandFailure): { ocppCode: string; message: string } | undefined {
  return failure.code === 'CALL_ERROR' || failure.code === 'INVALID' ? { ocppCode: failure.ocppCode, message: failure.message } : undefined;
}

export function commandError(failure: CommandFailure): PlatformError {
  switch (failure.code) {
    case 'NOT_CONNECTED':
      return new PlatformError('NOT_CONNECTED', failure.message);
    case 'TIMEOUT':
      return new PlatformError('CHARGER_TIMEOUT', failure.message);
    case 'CALL_ERROR':
      return new PlatformError('CHARGER_ERROR', `Charger answered ${failure.ocppCode}: ${failure.message}`, { details: { ocppCode: failure.ocppCode } });
    case 'INVALID':
      return new PlatformError('VALIDATION', `(body): ${failure.message} (${failure.ocppCode})`, { details: { field: '(body)', ocppCode: failure.ocppCode } });
    case 'FENCED':
      // Only a balancer's SetChargingProfile carries an epoch, and the API refuses those anyway.
      return new PlatformError('CONFLICT', failure.message);
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Answers commands for a charger whose socket this process holds (its session, which also answers `cmd.charger.<id>`). */
export interface LocalCommandTarget {
  command(cmd: ChargerCommand): Promise<CommandReply>;
}

/**
 * The chargers whose sockets this process holds, per NATS connection. A command to one of them is
 * handed to its session directly: the same handler that answers `cmd.charger.<id>`, without the
 * request, the reply and their JSON on the bus (the balancer's SetChargingProfile to a charger on
 * its own node was two NATS messages and an Error object each). Others go over NATS as before.
 */
const localTargets = new WeakMap<NatsConnection, Map<string, LocalCommandTarget>>();

const jsonCopy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** Commands for `chargerId` sent on `nc` go to `target` while it is registered. */
export function serveCommandsLocally(nc: NatsConnection, chargerId: string, target: LocalCommandTarget): void {
  let targets = localTargets.get(nc);
  if (!targets) localTargets.set(nc, (targets = new Map()));
  targets.set(chargerId, target);
}

/** Undoes serveCommandsLocally, unless a newer session of the charger registered since. */
export function stopServingLocally(nc: NatsConnection, chargerId: string, target: LocalCommandTarget): void {
  const targets = localTargets.get(nc);
  if (targets?.get(chargerId) === target) targets.delete(chargerId);
}

/** Sends a command to the charger wherever it is connected. "Not connected" and "timeout" differ. */
export async function sendChargerCommand(nc: NatsConnection, chargerId: string, cmd: ChargerCommand): Promise<CommandReply> {
  const timeoutMs = cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const local = localTargets.get(nc)?.get(chargerId);
  if (local) {
    try {
      // Through JSON both ways, as over the bus: neither side keeps a reference into the other's objects.
      return jsonCopy(await local.command(jsonCopy({ ...cmd, timeoutMs })));
    } catch (err) {
      throw new PlatformError('INTERNAL', `Command to ${chargerId} failed`, { cause: err });
    }
  }
  try {
    // The NATS timeout leaves the node room to report the OCPP timeout itself.
    const msg = await nc.request(subjects.chargerCommand(chargerId), encodeJson({ ...cmd, timeoutMs }), { timeout: timeoutMs + 2_000 });
    return decodeJson<CommandReply>(msg.data);
  } catch (err) {
    const kind = classifyNatsError(err);
    if (kind === 'no-responders') return { ok: false, error: { code: 'NOT_CONNECTED', message: `Charger ${chargerId} is not connected` } };
    if (kind === 'timeout') return { ok: false, error: { code: 'TIMEOUT', message: `Charger ${chargerId} did not answer in time` } };
    throw new PlatformError('INTERNAL', `Command to ${chargerId} failed`, { cause: err });
  }
}
