import WebSocket from 'ws';
import { silentLogger, type OcppLogger } from './logger.js';
import { RpcConnection, type RpcLimits, type RpcLogEntry } from './rpc-connection.js';
import { DEFAULT_MAX_FRAME_BYTES, OCPP_SUBPROTOCOL } from './server.js';

/**
 * The charge-point side of OCPP-J 1.6 towards a partner's Central System: the URL a charger gets at
 * the partner, opening the WebSocket (subprotocol `ocpp1.6`, HTTP Basic auth with user = the charge
 * point identity), WebSocket pings whose interval can change while connected, and the reconnect
 * backoff. The OCPP framing is the same `RpcConnection` the Central System side uses.
 */

export const DEVICE_ID_PLACEHOLDER = '{deviceId}';

/**
 * A partner's Central System sends a charge point a few commands a minute; far more is a fault or
 * abuse. Our own calls to the partner follow the charger's pace, so their queue is roomy: a slow
 * partner should delay live messages, not have them refused.
 */
export const PARTNER_RPC_LIMITS: Partial<RpcLimits> = { callsPerSecond: 10, callBurst: 60, maxQueuedIncoming: 8, maxQueuedCalls: 256 };

/**
 * The partner URL of one charger: its own full URL when set, else the installation's template with
 * every `{deviceId}` replaced by the charger's serial. Undefined when neither is usable.
 */
export function partnerUrl(template: string | undefined, serial: string, override?: string): string | undefined {
  const raw = override || template;
  if (!raw) return undefined;
  const url = raw.split(DEVICE_ID_PLACEHOLDER).join(encodeURIComponent(serial));
  return /^wss?:\/\/\S+$/i.test(url) ? url : undefined;
}

/** `Authorization: Basic base64(identity:password)`. */
export function basicAuthHeader(identity: string, password: string): string {
  return `Basic ${Buffer.from(`${identity}:${password}`, 'utf8').toString('base64')}`;
}

/**
 * Exponential backoff with jitter: `min * 2^attempt`, capped at `max`, then scaled into
 * [50 %, 100 %] by `random` so that many chargers of one partner do not reconnect in lockstep.
 */
export function reconnectDelayMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(exp * (0.5 + 0.5 * Math.min(Math.max(random(), 0), 1)));
}

export interface PartnerConnectOptions {
  url: string;
  /** The charge point identity at the partner: Basic-auth user. */
  identity: string;
  /** Undefined: no Authorization header (security profile 0). */
  password: string | undefined;
  /** 0 = no pings from our side. */
  pingIntervalMs: number;
  callTimeoutMs: number;
  connectTimeoutMs: number;
  /** Larger frames from the partner close the connection (1009). Default 64 KiB, as towards chargers. */
  maxFrameBytes?: number;
  onLog?: (entry: RpcLogEntry) => void;
  logger?: OcppLogger;
}

/** Why opening failed: an HTTP status when the partner refused the handshake (401: wrong password). */
export class PartnerConnectError extends Error {
  readonly status: number | undefined;
  constructor(message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'PartnerConnectError';
    this.status = opts.status;
  }
}

/** One open connection to the partner; its ping interval is the RpcConnection's (`WebSocketPingInterval`). */
export class PartnerConnection {
  readonly rpc: RpcConnection;

  constructor(
    ws: WebSocket,
    readonly url: string,
    readonly password: string | undefined,
    opts: Pick<PartnerConnectOptions, 'identity' | 'callTimeoutMs' | 'onLog' | 'logger' | 'pingIntervalMs'>,
    logger: OcppLogger = silentLogger,
  ) {
    this.rpc = new RpcConnection(ws, {
      identity: opts.identity,
      callTimeoutMs: opts.callTimeoutMs,
      pingIntervalMs: opts.pingIntervalMs,
      limits: PARTNER_RPC_LIMITS,
      ...(opts.onLog ? { onLog: opts.onLog } : {}),
      logger,
    });
  }

  get pingIntervalMs(): number {
    return this.rpc.pingIntervalMs;
  }

  /** 0 turns pings off. */
  setPingInterval(ms: number): void {
    this.rpc.setPingInterval(ms);
  }

  close(code = 1000, reason = ''): void {
    this.rpc.close(code, reason);
  }
}

/** Opens the WebSocket and resolves once it is open; rejects on refusal, error or timeout. */
export function openPartnerConnection(opts: PartnerConnectOptions): Promise<PartnerConnection> {
  const logger = opts.logger ?? silentLogger;
  return new Promise<PartnerConnection>((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(opts.url, [OCPP_SUBPROTOCOL], {
        headers: opts.password !== undefined ? { authorization: basicAuthHeader(opts.identity, opts.password) } : {},
        handshakeTimeout: opts.connectTimeoutMs,
        perMessageDeflate: false,
        maxPayload: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      });
    } catch (err) {
      reject(new PartnerConnectError(`cannot open ${opts.url}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    let settled = false;
    const fail = (err: PartnerConnectError): void => {
      if (settled) return;
      settled = true;
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
      reject(err);
    };
    ws.once('unexpected-response', (_req, res) => {
      fail(new PartnerConnectError(`partner refused the connection: HTTP ${res.statusCode ?? 0}`, { status: res.statusCode ?? 0 }));
    });
    ws.once('error', (err) => fail(new PartnerConnectError(`partner connection failed: ${err.message}`, { cause: err })));
    ws.once('close', (code) => fail(new PartnerConnectError(`partner closed during the handshake (${code})`)));
    ws.once('open', () => {
      if (settled) return;
      if (ws.protocol !== OCPP_SUBPROTOCOL) {
        fail(new PartnerConnectError(`partner did not agree to subprotocol ${OCPP_SUBPROTOCOL} (got "${ws.protocol}")`));
        return;
      }
      settled = true;
      ws.removeAllListeners('unexpected-response');
      ws.removeAllListeners('error');
      ws.removeAllListeners('close');
      resolve(new PartnerConnection(ws, opts.url, opts.password, opts, logger));
    });
  });
}
