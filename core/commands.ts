import type { NatsConnection } from '@nats-io/transport-node';
import { PlatformError } from './errors.js';
import { decodeJson, encodeJson } from './nats.js';
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

const DEFAULT_TIMEOUT_MS = 30_000;

/** Sends a command to the charger wherever it is connected. "Not connected" and "timeout" differ. */
export async function sendChargerCommand(nc: NatsConnection, chargerId: string, cmd: ChargerCommand): Promise<CommandReply> {
  const timeoutMs = cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    // The NATS timeout leaves the node room to report the OCPP timeout itself.
    const msg = await nc.request(subjects.chargerCommand(chargerId), encodeJson({ ...cmd, timeoutMs }), { timeout: timeoutMs + 2_000 });
    return decodeJson<CommandReply>(msg.data);
  } catch (err) {
    const text = String((err as Error).message ?? err).toLowerCase();
    if (text.includes('no responders') || (err as { code?: string }).code === '503') {
      return { ok: false, error: { code: 'NOT_CONNECTED', message: `Charger ${chargerId} is not connected` } };
    }
    if (text.includes('timeout')) return { ok: false, error: { code: 'TIMEOUT', message: `Charger ${chargerId} did not answer in time` } };
    throw new PlatformError('INTERNAL', `Command to ${chargerId} failed`, { cause: err });
  }
}
