import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import type { OcppLogger } from '../../ocpp/logger.js';
import type { CallHandler, RpcConnectionOptions, RpcLimits } from '../../ocpp/rpc-connection.js';
import { createOcppServer, type OcppConnectionInfo, type OcppServer } from '../../ocpp/server.js';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A pino-shaped logger that keeps every line for assertions. */
export function recordingLogger(): OcppLogger & { lines: LogLine[]; find(level: LogLine['level'], text: string): LogLine | undefined } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    find: (level, text) => lines.find((l) => l.level === level && (l.msg ?? '').includes(text)),
  };
}

export const PASSWORD = 'correct horse';

/** A Central System handler that answers the charger-initiated calls validly. */
export const csHandler: CallHandler = (action, payload) => {
  const now = new Date().toISOString();
  switch (action) {
    case 'BootNotification':
      return { status: 'Accepted', currentTime: now, interval: 300 };
    case 'Heartbeat':
      return { currentTime: now };
    case 'Authorize':
      return { idTagInfo: { status: 'Accepted' } };
    case 'StatusNotification':
    case 'MeterValues':
      return {};
    case 'StartTransaction':
      return { transactionId: 1, idTagInfo: { status: 'Accepted' } };
    case 'DataTransfer':
      return { status: 'Accepted', data: JSON.stringify(payload) };
    default:
      return {};
  }
};

export interface TestServer {
  http: Server;
  ocpp: OcppServer;
  port: number;
  url: string;
  logger: ReturnType<typeof recordingLogger>;
  connected: OcppConnectionInfo<{ chargerId: string }>[];
  /** Resolves with the next connection the server accepts. */
  nextConnection(): Promise<OcppConnectionInfo<{ chargerId: string }>>;
  stop(): Promise<void>;
}

/**
 * Starts an http server on a free port with the OCPP endpoint. Chargers authenticate with
 * PASSWORD; ids starting with `lenient-` get lenient connections; `handler` answers every call.
 */
export async function startTestServer(
  opts: {
    handler?: CallHandler;
    maxFrameBytes?: number;
    pingIntervalMs?: number;
    onLog?: RpcConnectionOptions['onLog'];
    limits?: Partial<RpcLimits>;
  } = {},
): Promise<TestServer> {
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  const logger = recordingLogger();
  const connected: OcppConnectionInfo<{ chargerId: string }>[] = [];
  const waiters: ((c: OcppConnectionInfo<{ chargerId: string }>) => void)[] = [];
  const ocpp = createOcppServer<{ chargerId: string }>({
    httpServer: http,
    logger,
    maxFrameBytes: opts.maxFrameBytes,
    authenticate: async ({ chargerId, password }) => {
      if (chargerId.startsWith('unknown-')) return { ok: false, reason: 'unknown charger' };
      if (password === undefined) return { ok: false, reason: 'no password' };
      if (password !== PASSWORD) return { ok: false, reason: 'wrong password' };
      return { ok: true, context: { chargerId } };
    },
    connectionOptions: (chargerId) => ({
      strict: !chargerId.startsWith('lenient-'),
      pingIntervalMs: opts.pingIntervalMs ?? 0,
      callTimeoutMs: 5_000,
      onLog: opts.onLog,
      ...(opts.limits ? { limits: opts.limits } : {}),
    }),
    onConnection: (conn) => {
      conn.rpc.handle(opts.handler ?? csHandler);
      connected.push(conn);
      waiters.shift()?.(conn);
    },
  });
  return {
    http,
    ocpp,
    port,
    url: `ws://127.0.0.1:${port}/ocpp`,
    logger,
    connected,
    nextConnection: () => new Promise((resolve) => waiters.push(resolve)),
    stop: async () => {
      await ocpp.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** A hand-driven OCPP peer on a plain `ws` client: send frames, await the frames that come back. */
export class RawPeer {
  readonly ws: WebSocket;
  private readonly inbox: unknown[] = [];
  private readonly waiting: ((msg: unknown) => void)[] = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const msg: unknown = JSON.parse(String(data));
      const waiter = this.waiting.shift();
      if (waiter) waiter(msg);
      else this.inbox.push(msg);
    });
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(url: string, chargerId: string, wsOpts: WebSocket.ClientOptions = {}): Promise<RawPeer> {
    const ws = new WebSocket(`${url}/${encodeURIComponent(chargerId)}`, ['ocpp1.6'], {
      headers: { authorization: basicAuth(chargerId, PASSWORD) },
      perMessageDeflate: false,
      ...wsOpts,
    });
    const peer = new RawPeer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return peer;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next frame from the other side (rejects after `timeoutMs`). */
  next(timeoutMs = 2_000): Promise<unknown> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (msg: unknown): void => {
        clearTimeout(timer);
        resolve(msg);
      };
      this.waiting.push(waiter);
    });
  }

  /** Resolves true when nothing arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    if (this.inbox.length > 0) return false;
    await new Promise((r) => setTimeout(r, ms));
    return this.inbox.length === 0;
  }

  /** Sends a CALL and returns the answer frame. */
  async request(id: string, action: string, payload: unknown): Promise<unknown[]> {
    this.send([2, id, action, payload]);
    return (await this.next()) as unknown[];
  }

  close(): void {
    this.ws.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `check` holds, polling every 10 ms (fails after `timeoutMs`). */
export async function waitFor(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
