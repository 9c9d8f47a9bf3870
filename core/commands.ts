import { PlatformError } from './errors.js';

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
