import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CLOSE } from './close-codes.js';
import { AuthThrottle, type AuthThrottleOptions } from './auth-throttle.js';
import { silentLogger, type OcppLogger } from './logger.js';
import { RpcConnection, type RpcConnectionOptions, type RpcLimits } from './rpc-connection.js';

/**
 * The Central System's OCPP-J 1.6 endpoint on an existing HTTP server: `ws://host/ocpp/<chargerId>`,
 * subprotocol `ocpp1.6`, HTTP Basic auth with user = chargerId. Every refusal is a plain HTTP
 * response written before the WebSocket handshake completes.
 */

export const OCPP_SUBPROTOCOL = 'ocpp1.6';
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024;
const PATH_PREFIX = '/ocpp/';
const MAX_CHARGER_ID_LENGTH = 48;
/** Close code and reason an older connection gets when the same charger connects again. */
export const REPLACED_CLOSE_CODE = CLOSE.replaced.code;
export const REPLACED_CLOSE_REASON = CLOSE.replaced.reason;

export interface AuthRequest {
  chargerId: string;
  /** The Basic auth password; undefined when the charger sent no Authorization header. */
  password: string | undefined;
  remoteAddress: string;
}

/** Every refusal answers 401 alike, whether the id is unknown or the password wrong: ids cannot be probed. */
export type AuthResult<C> = { ok: true; context: C } | { ok: false; reason: string };

export interface OcppConnectionInfo<C> {
  chargerId: string;
  rpc: RpcConnection;
  context: C;
  remoteAddress: string;
}

export interface OcppServerOptions<C = unknown> {
  httpServer: Server;
  authenticate: (req: AuthRequest) => Promise<AuthResult<C>>;
  /** Called after any older connection of the same charger was closed. A rejection closes the new one (1011). */
  onConnection: (conn: OcppConnectionInfo<C>) => void | Promise<void>;
  /** Per-charger RPC options (strict/lenient, ping, timeouts, message log). The logger defaults to the server's. */
  connectionOptions?: (chargerId: string, context: C) => Omit<RpcConnectionOptions, 'identity'>;
  /** Largest accepted WebSocket message; bigger ones close the connection with 1009. Default 64 KiB. */
  maxFrameBytes?: number;
  /** Failed authentications per address before it is refused (429) ahead of authentication. Default 30 per 60 s. */
  authThrottle?: Omit<AuthThrottleOptions, 'now'>;
  /** Per-connection queue, rate and buffer bounds (defaults: DEFAULT_RPC_LIMITS). */
  limits?: Partial<RpcLimits>;
  logger?: OcppLogger;
}

export interface OcppServer {
  /** chargerId -> its current connection. */
  readonly connections: ReadonlyMap<string, RpcConnection>;
  /** Stops accepting connections and closes every socket (1001). */
  close(): Promise<void>;
}

/** `/ocpp/<id>` -> the URL-decoded id (1-48 chars, no `/`, no control characters), else undefined. */
export function parseChargerId(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const query = url.indexOf('?');
  const path = query >= 0 ? url.slice(0, query) : url;
  if (!path.startsWith(PATH_PREFIX)) return undefined;
  const raw = path.slice(PATH_PREFIX.length);
  if (raw.length === 0 || raw.includes('/')) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    return undefined;
  }
  // eslint-disable-next-line no-control-regex
  if (id.length < 1 || id.length > MAX_CHARGER_ID_LENGTH || id.includes('/') || /[\x00-\x1f\x7f]/.test(id)) return undefined;
  return id;
}

/** Parses `Authorization: Basic base64(user:pass)`; undefined when absent, 'malformed' when unreadable. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | 'malformed' | undefined {
  if (header === undefined) return undefined;
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match?.[1]) return 'malformed';
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return 'malformed';
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function offeredProtocols(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const joined = Array.isArray(header) ? header.join(',') : header;
  return joined.split(',').map((p) => p.trim());
}

function refuse(socket: Duplex, status: number, body: string, headers: Record<string, string> = {}): void {
  const text = `${body}\n`;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  if (socket.destroyed) return;
  socket.once('finish', () => socket.destroy());
  socket.end(`${head}\r\n${text}`);
}

export function createOcppServer<C = unknown>(opts: OcppServerOptions<C>): OcppServer {
  const logger = opts.logger ?? silentLogger;
  const connections = new Map<string, RpcConnection>();
  const throttle = new AuthThrottle(opts.authThrottle ?? { maxFailures: 30, windowMs: 60_000 });
  let closed = false;

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    handleProtocols: (protocols) => (protocols.has(OCPP_SUBPROTOCOL) ? OCPP_SUBPROTOCOL : false),
  });

  const onHandshakeSocketError = (err: Error): void => {
    logger.debug({ err: err.message }, 'socket error during the OCPP handshake');
  };

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', onHandshakeSocketError);
    const remoteAddress = req.socket.remoteAddress ?? 'unknown';
    if (closed) return refuse(socket, 503, 'The OCPP server is shutting down');

    const chargerId = parseChargerId(req.url);
    if (chargerId === undefined) {
      logger.debug({ url: req.url, remoteAddress }, 'OCPP upgrade refused: unknown path');
      return refuse(socket, 404, 'Not found: the OCPP endpoint is /ocpp/<chargerId>');
    }
    if (!offeredProtocols(req.headers['sec-websocket-protocol']).includes(OCPP_SUBPROTOCOL)) {
      logger.warn({ chargerId, remoteAddress, offered: req.headers['sec-websocket-protocol'] ?? null }, 'OCPP upgrade refused: subprotocol ocpp1.6 not offered');
      return refuse(socket, 400, 'The WebSocket subprotocol ocpp1.6 is required (Sec-WebSocket-Protocol: ocpp1.6)');
    }

    // Before any password check: a guessing address costs no scrypt once it is over its budget.
    const retryAfterMs = throttle.retryAfterMs(remoteAddress);
    if (retryAfterMs > 0) {
      logger.debug({ chargerId, remoteAddress }, 'OCPP upgrade refused: too many failed authentications from this address');
      return refuse(socket, 429, 'Too many failed authentications', { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) });
    }
    const unauthorized = (reason: string): void => {
      throttle.fail(remoteAddress);
      logger.warn({ chargerId, remoteAddress, reason }, 'OCPP connection refused');
      refuse(socket, 401, 'Unauthorized', { 'WWW-Authenticate': 'Basic realm="ocpp"' });
    };
    const credentials = parseBasicAuth(req.headers.authorization);
    if (credentials === 'malformed') return unauthorized('malformed Authorization header');
    if (credentials !== undefined && credentials.user !== chargerId) return unauthorized('Basic auth user is not the charger id');

    let result: AuthResult<C>;
    try {
      result = await opts.authenticate({ chargerId, password: credentials?.password, remoteAddress });
    } catch (err) {
      logger.error({ chargerId, remoteAddress, err }, 'OCPP authentication failed with an error');
      return refuse(socket, 500, 'Internal error');
    }
    if (!result.ok) return unauthorized(result.reason);
    if (socket.destroyed) return;
    if (closed) return refuse(socket, 503, 'The OCPP server is shutting down');

    socket.off('error', onHandshakeSocketError);
    const context = result.context;
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, chargerId, context, remoteAddress));
  }

  /**
   * One close listener for every connection of this server (EventEmitter calls it with the connection
   * as `this`, and a connection closes once): a closure and a `once` wrapper per connection were held
   * for the connection's life.
   */
  function onRpcClose(this: RpcConnection, code: number, reason: string): void {
    const chargerId = this.identity;
    if (connections.get(chargerId) === this) connections.delete(chargerId);
    logger.info({ chargerId, code, reason }, 'OCPP charger disconnected');
  }

  function accept(ws: WebSocket, chargerId: string, context: C, remoteAddress: string): void {
    let rpc: RpcConnection;
    try {
      const connOpts = opts.connectionOptions?.(chargerId, context) ?? {};
      rpc = new RpcConnection(ws, { logger, ...(opts.limits ? { limits: opts.limits } : {}), ...connOpts, identity: chargerId });
    } catch (err) {
      logger.error({ chargerId, err }, 'could not set up the OCPP connection');
      ws.close(1011, 'internal error');
      return;
    }
    const previous = connections.get(chargerId);
    connections.set(chargerId, rpc);
    rpc.on('close', onRpcClose);
    if (previous) {
      logger.info({ chargerId, remoteAddress }, 'OCPP charger reconnected: closing its previous connection');
      previous.close(REPLACED_CLOSE_CODE, REPLACED_CLOSE_REASON);
    }
    logger.info({ chargerId, remoteAddress }, 'OCPP charger connected');

    const fail = (err: unknown): void => {
      logger.error({ chargerId, err }, 'OCPP onConnection failed: closing the connection');
      rpc.close(1011, 'internal error');
    };
    try {
      const done = opts.onConnection({ chargerId, rpc, context, remoteAddress });
      if (done instanceof Promise) done.catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  const upgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    onUpgrade(req, socket, head).catch((err: unknown) => {
      logger.error({ err }, 'OCPP upgrade handling failed');
      refuse(socket, 500, 'Internal error');
    });
  };
  opts.httpServer.on('upgrade', upgradeListener);

  return {
    connections,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      opts.httpServer.off('upgrade', upgradeListener);
      const all = [...connections.values()];
      await Promise.all(
        all.map(
          (rpc) =>
            new Promise<void>((done) => {
              const force = setTimeout(() => rpc.terminate(), 2_000);
              rpc.once('close', () => {
                clearTimeout(force);
                done();
              });
              rpc.close(1001, 'server shutting down');
            }),
        ),
      );
      wss.close();
    },
  };
}
