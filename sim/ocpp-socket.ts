import WebSocket from 'ws';
import type { OcppAction, RequestOf, ResponseOf } from '../ocpp/actions.js';

/**
 * A lean OCPP-J 1.6 client socket for simulated chargers: raw `ws` and JSON, Basic auth, one CALL
 * outstanding at a time (1.6 §4.1.1, later calls queue), and a handler for the Central System's
 * CALLs. Thousands of these share one process, so it keeps no per-message objects beyond a queue.
 */

/** A CALLERROR the handler wants to answer with (1.6 §4.2.3 codes). */
export class OcppCallError extends Error {
  constructor(
    readonly code: 'NotImplemented' | 'NotSupported' | 'InternalError' | 'ProtocolError' | 'SecurityError' | 'FormationViolation' | 'PropertyConstraintViolation' | 'OccurenceConstraintViolation' | 'TypeConstraintViolation' | 'GenericError',
    message: string,
  ) {
    super(message);
  }
}

export type IncomingCallHandler = (action: string, payload: Record<string, unknown>) => Promise<object> | object;

export interface OcppSocketOptions {
  /** ws://host:port/ocpp (the charger id is appended). */
  baseUrl: string;
  id: string;
  password: string;
  onCall: IncomingCallHandler;
  onClose: (code: number, reason: string) => void;
  /** Real ms before an unanswered CALL fails. */
  callTimeoutMs: number;
}

interface Pending {
  id: string;
  action: string;
  payload: unknown;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

export class OcppSocket {
  private ws: WebSocket | undefined;
  private seq = 0;
  private inFlight: Pending | undefined;
  private readonly queue: Pending[] = [];
  private closed = false;

  constructor(private readonly opts: OcppSocketOptions) {}

  get isOpen(): boolean {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Opens the socket; rejects with the HTTP status when the handshake is refused. */
  connect(): Promise<void> {
    const { baseUrl, id, password } = this.opts;
    const auth = `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${baseUrl}/${encodeURIComponent(id)}`, ['ocpp1.6'], {
        perMessageDeflate: false,
        handshakeTimeout: 30_000,
        headers: { authorization: auth },
      });
      this.ws = ws;
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(new Error(`handshake refused: HTTP ${res.statusCode}`));
      });
      ws.once('error', (err) => reject(err));
      ws.once('open', () => {
        ws.removeAllListeners('error');
        ws.on('error', () => undefined);
        ws.on('message', (data) => this.onMessage(String(data)));
        ws.once('close', (code, reason) => {
          this.failAll('socket closed');
          if (!this.closed) this.opts.onClose(code, String(reason));
        });
        resolve();
      });
    });
  }

  call<A extends OcppAction>(action: A, payload: RequestOf<A>): Promise<ResponseOf<A>> {
    return new Promise((resolve, reject) => {
      if (!this.isOpen) return reject(new Error('not connected'));
      this.queue.push({ id: '', action, payload, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  /** Drops the connection without a close handshake (a cable pulled, a reboot). */
  terminate(): void {
    this.closed = true;
    this.failAll('terminated');
    this.ws?.terminate();
  }

  private pump(): void {
    if (this.inFlight || !this.isOpen) return;
    const next = this.queue.shift();
    if (!next) return;
    next.id = (++this.seq).toString(36);
    this.inFlight = next;
    next.timer = setTimeout(() => this.settle(next.id, undefined, new Error(`${next.action} timed out`)), this.opts.callTimeoutMs);
    this.ws!.send(`[2,"${next.id}","${next.action}",${JSON.stringify(next.payload)}]`);
  }

  private settle(id: string, value: unknown, error?: Error): void {
    const p = this.inFlight;
    if (!p || p.id !== id) return;
    this.inFlight = undefined;
    clearTimeout(p.timer);
    if (error) p.reject(error);
    else p.resolve(value);
    this.pump();
  }

  private failAll(reason: string): void {
    const all = [...(this.inFlight ? [this.inFlight] : []), ...this.queue.splice(0)];
    this.inFlight = undefined;
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(new Error(`${p.action}: ${reason}`));
    }
  }

  private onMessage(text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!Array.isArray(msg) || typeof msg[1] !== 'string') return;
    const [type, id] = msg as [number, string];
    if (type === 3) this.settle(id, msg[2]);
    else if (type === 4) this.settle(id, undefined, new Error(`CALLERROR ${String(msg[2])}: ${String(msg[3])}`));
    else if (type === 2) void this.answer(id, String(msg[2]), (msg[3] ?? {}) as Record<string, unknown>);
  }

  private async answer(id: string, action: string, payload: Record<string, unknown>): Promise<void> {
    let frame: string;
    try {
      const result = await this.opts.onCall(action, payload);
      frame = `[3,"${id}",${JSON.stringify(result)}]`;
    } catch (err) {
      const code = err instanceof OcppCallError ? err.code : 'InternalError';
      frame = JSON.stringify([4, id, code, String((err as Error).message ?? err).slice(0, 200), {}]);
    }
    if (this.isOpen) this.ws!.send(frame);
  }
}
