import type { OcppAction } from './actions.js';
import type { OcppLogger } from './logger.js';

/** The public shapes of an OCPP-J RPC connection: options, limits, the message log, call options. */

/** OCPP-J 1.6 section 4.1.3: a message id is at most 36 characters. */
export const MAX_MESSAGE_ID_LENGTH = 36;
/** The longest 1.6 action (with the security extension) has 32 characters; longer is not an action name. */
export const MAX_ACTION_LENGTH = 64;

/** Per-connection bounds, so that one peer cannot take a node's memory or CPU. */
export interface RpcLimits {
  /** Outgoing calls waiting behind the outstanding one; more are refused (OcppBusyError). */
  maxQueuedCalls: number;
  /** Incoming calls waiting behind the one in the handler; more are answered GenericError. */
  maxQueuedIncoming: number;
  /** Sustained incoming calls per second (0 = no limit) and the burst above it. */
  callsPerSecond: number;
  callBurst: number;
  /** A peer that does not read: past this many unsent bytes the socket is dropped. */
  maxBufferedBytes: number;
}

export const DEFAULT_RPC_LIMITS: RpcLimits = {
  maxQueuedCalls: 32,
  maxQueuedIncoming: 16,
  callsPerSecond: 50,
  callBurst: 200,
  maxBufferedBytes: 1024 * 1024,
};

export interface RpcLogEntry {
  direction: 'in' | 'out';
  type: 'CALL' | 'CALLRESULT' | 'CALLERROR';
  id: string;
  action?: string;
  /** CALL/CALLRESULT: the payload. CALLERROR: `{ code, description, details }`. */
  payload: unknown;
  at: number;
}

export interface CallOptions {
  /** Counted from the moment the call is queued, not sent: a call that waited too long is dropped unsent. */
  timeoutMs?: number;
  /** Goes before every queued call without priority (the balancer's SetChargingProfile). */
  priority?: boolean;
}

export interface CallContext {
  messageId: string;
}

/**
 * The empty response payload (`{}`), for handlers to return: its CALLRESULT frame is put together
 * without serialising an array (MeterValues and StatusNotification are answered thousands of times a
 * second). Frozen: one object for every answer.
 */
export const EMPTY_RESPONSE: Readonly<Record<string, never>> = Object.freeze({});

/** Answers incoming CALLs. Return (or resolve to) the response payload; throw an OcppCallError to answer with its code. */
export type CallHandler = (action: OcppAction, payload: Record<string, unknown>, ctx: CallContext) => unknown;

export interface RpcConnectionOptions {
  identity: string;
  /** Default true. Lenient (false): schema violations are logged, not rejected. */
  strict?: boolean;
  /** Default 30000. */
  callTimeoutMs?: number;
  /** 0 (default) = off. Otherwise a WS ping every interval; no pong since the previous one terminates. */
  pingIntervalMs?: number;
  /** With the connection's identity, so one function serves every connection of a server. */
  onLog?: (entry: RpcLogEntry, identity: string) => void;
  /**
   * Asked before an entry is built for `onLog`: false skips it. Periodic calls make two entries
   * each, and most are not logged (see south/ocpp-log.ts), so they are not built either.
   */
  logWanted?: (direction: RpcLogEntry['direction'], type: RpcLogEntry['type'], action: string | undefined, identity: string) => boolean;
  logger?: OcppLogger;
  /** Defaults: DEFAULT_RPC_LIMITS. */
  limits?: Partial<RpcLimits>;
  /** Injected for tests of the rate limit; default Date.now. */
  now?: () => number;
}
