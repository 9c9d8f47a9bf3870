import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import type { OcppAction, RequestOf, ResponseOf } from './actions.js';
import { OcppCallError, OcppClosedError, OcppRemoteError } from './errors.js';
import { canWriteDirect, writeText } from './frame-writer.js';
import { InboundCalls, type AnswerTransport } from './inbound-calls.js';
import { InboundRate } from './inbound-rate.js';
import { silentLogger, type OcppLogger } from './logger.js';
import { OutboundCalls, type CallTransport, type OutgoingCall } from './outbound-calls.js';
import { Pinger, type PingOwner } from './ping.js';
import { CALL, isObject, readFrame, type FrameSink } from './rpc-framing.js';
import { DEFAULT_RPC_LIMITS, type CallHandler, type CallOptions, type RpcConnectionOptions, type RpcLimits, type RpcLogEntry } from './rpc-types.js';
import { validateRequest, validateResponse } from './validator.js';

export { DEFAULT_RPC_LIMITS, MAX_ACTION_LENGTH, MAX_MESSAGE_ID_LENGTH } from './rpc-types.js';
export type { CallContext, CallHandler, CallOptions, RpcConnectionOptions, RpcLimits, RpcLogEntry } from './rpc-types.js';

/**
 * OCPP-J RPC over one `ws` WebSocket: CALL / CALLRESULT / CALLERROR framing (rpc-framing.ts), schema
 * validation in both directions, one outstanding outgoing CALL at a time (outbound-calls.ts),
 * incoming CALLs handled one at a time in arrival order (inbound-calls.ts), a rate limit on them
 * (inbound-rate.ts) and WebSocket pings (ping.ts). Nothing here knows whether it is the Central
 * System or the charge point side.
 */

const WS_OPEN = 1;
const WS_CONNECTING = 0;

export interface RpcConnectionEvents {
  close: [code: number, reason: string];
}

/** Called with the connection as `this` (as EventEmitter does), so one function can serve every connection. */
export type CloseListener = (this: RpcConnection, code: number, reason: string) => void;

type State = 'connecting' | 'open' | 'closed';

/** The connection a socket belongs to, for the socket listeners every connection shares. */
const OWNER = Symbol('rpcConnection');
type OwnedWs = WebSocket & { [OWNER]?: RpcConnection };

// The server hands every connection the same limits object: they are merged with the defaults once.
const mergedLimits = new WeakMap<Partial<RpcLimits>, RpcLimits>();
function limitsOf(limits: Partial<RpcLimits> | undefined): RpcLimits {
  if (limits === undefined) return DEFAULT_RPC_LIMITS;
  let merged = mergedLimits.get(limits);
  if (!merged) mergedLimits.set(limits, (merged = Object.freeze({ ...DEFAULT_RPC_LIMITS, ...limits })));
  return merged;
}

/**
 * Its one event, `close`, is kept in a plain array rather than an EventEmitter: a connection has one
 * or two listeners (its server's, its session's), and an EventEmitter's table of events cost about
 * 200 bytes per connected charger.
 */
export class RpcConnection implements FrameSink, CallTransport, AnswerTransport, PingOwner {
  readonly identity: string;
  readonly strict: boolean;
  readonly logger: OcppLogger;
  private readonly ws: WebSocket;
  private readonly callTimeoutMs: number;
  private readonly onLog: RpcConnectionOptions['onLog'];
  private readonly logWanted: RpcConnectionOptions['logWanted'];
  private readonly limits: RpcLimits;
  private readonly rate: InboundRate | undefined;
  /** Whether frames skip `ws.send` (see frame-writer.ts); known once open. */
  private direct = false;

  private state: State;
  /** Made on the first outgoing call: most chargers are never called. */
  private idPrefix = '';
  private idCounter = 0;

  private readonly outbound: OutboundCalls;
  private readonly inbound: InboundCalls;
  private readonly pinger: Pinger;
  /** Why the socket is going down when the close frame will not say (e.g. ws closing with 1009). */
  private errorReason = '';
  private errorCloseCode = 0;
  private closeListeners: CloseListener[] | undefined;

  constructor(ws: WebSocket, opts: RpcConnectionOptions) {
    this.ws = ws;
    this.identity = opts.identity;
    this.strict = opts.strict ?? true;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.onLog = opts.onLog;
    this.logWanted = opts.logWanted;
    this.logger = opts.logger ?? silentLogger;
    this.limits = limitsOf(opts.limits);
    this.rate = this.limits.callsPerSecond > 0 ? new InboundRate(this.limits.callsPerSecond, this.limits.callBurst, opts.now ?? Date.now) : undefined;
    this.outbound = new OutboundCalls(this, this.limits.maxQueuedCalls);
    this.inbound = new InboundCalls(this, this.limits.maxQueuedIncoming);
    this.pinger = new Pinger(opts.pingIntervalMs ?? 0, this);

    // Listeners shared by every connection (ws calls them with the socket as `this`): five closures
    // per connection were held for its life.
    (ws as OwnedWs)[OWNER] = this;
    ws.on('message', RpcConnection.wsMessage);
    ws.on('close', RpcConnection.wsClose);
    ws.on('error', RpcConnection.wsError);
    ws.on('pong', RpcConnection.wsPong);

    if (ws.readyState === WS_OPEN) {
      this.state = 'open';
      this.direct = canWriteDirect(ws);
      this.pinger.start();
    } else if (ws.readyState === WS_CONNECTING) {
      this.state = 'connecting';
      ws.once('open', RpcConnection.wsOpen);
    } else {
      this.state = 'closed';
    }
  }

  /** Listens for the close of the connection (code and reason as reported; see onWsClose). */
  on(event: keyof RpcConnectionEvents, listener: CloseListener): this {
    if (event === 'close') (this.closeListeners ??= []).push(listener);
    return this;
  }

  /** The same as `on`: a connection closes once, so `close` is emitted once. */
  once(event: keyof RpcConnectionEvents, listener: CloseListener): this {
    return this.on(event, listener);
  }

  off(event: keyof RpcConnectionEvents, listener: CloseListener): this {
    const listeners = this.closeListeners;
    const at = event === 'close' && listeners !== undefined ? listeners.lastIndexOf(listener) : -1;
    if (at >= 0) listeners!.splice(at, 1);
    return this;
  }

  /** Calls the close listeners in the order they were added; they are dropped first, so each runs once. */
  private emitClose(code: number, reason: string): void {
    const listeners = this.closeListeners;
    this.closeListeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener.call(this, code, reason);
  }

  get isOpen(): boolean {
    return this.state === 'open' && this.ws.readyState === WS_OPEN;
  }

  /** Sends a CALL and resolves with the peer's CALLRESULT payload. */
  call<A extends OcppAction>(action: A, payload: RequestOf<A>, opts?: CallOptions): Promise<ResponseOf<A>> {
    return this.callUntyped(action, payload, opts) as Promise<ResponseOf<A>>;
  }

  /** `call` for an action name known only at run time (e.g. from the API); validated the same way. */
  callUntyped(action: string, payload: unknown, opts?: CallOptions): Promise<unknown> {
    if (this.state === 'closed') return Promise.reject(new OcppClosedError(action));
    if (!isObject(payload)) {
      return Promise.reject(new OcppCallError('TypeConstraintViolation', `${action} request: payload must be an object`));
    }
    const invalid = validateRequest(action, payload);
    if (invalid) {
      if (this.strict) return Promise.reject(invalid);
      this.logger.warn({ identity: this.identity, action, code: invalid.code, reason: invalid.message }, 'sending an invalid OCPP request (lenient mode)');
    }
    return new Promise<unknown>((resolve, reject) => {
      const timeoutMs = opts?.timeoutMs ?? this.callTimeoutMs;
      const entry: OutgoingCall = { id: '', action, payload, timeoutMs, deadline: Date.now() + timeoutMs, priority: opts?.priority === true, timer: undefined, resolve, reject };
      this.outbound.add(entry);
    });
  }

  /** Registers the one handler for incoming CALLs. Calls that arrived before are processed now. */
  handle(handler: CallHandler): void {
    this.inbound.handle(handler);
  }

  close(code = 1000, reason = ''): void {
    if (this.state === 'closed') return;
    this.shutDown();
    this.ws.close(code, reason);
  }

  /** Drops the socket without a closing handshake. */
  terminate(): void {
    this.shutDown();
    this.ws.terminate();
  }

  // ---------------------------------------------------------------- outgoing (CallTransport)

  canSendCalls(): boolean {
    return this.state === 'open';
  }

  frameCall(entry: OutgoingCall): string {
    // Short per-connection prefix plus a counter: unique per connection, well under 36 chars.
    if (this.idPrefix === '') this.idPrefix = `${randomBytes(4).toString('hex')}-`;
    const id = this.idPrefix + (++this.idCounter).toString(36);
    entry.id = id;
    return JSON.stringify([CALL, id, entry.action, entry.payload]);
  }

  writeCall(frame: string, entry: OutgoingCall): void {
    if (!this.checkBuffered()) return;
    this.write(frame);
    if (this.onLog) this.log('out', 'CALL', entry.id, entry.action, entry.payload);
  }

  // ---------------------------------------------------------------- incoming (FrameSink)

  private static wsMessage(this: OwnedWs, data: WebSocket.RawData): void {
    const conn = this[OWNER];
    if (conn !== undefined && conn.state !== 'closed') readFrame(data, conn);
  }

  private static wsClose(this: OwnedWs, code: number, reason: Buffer): void {
    this[OWNER]?.onWsClose(code, reason);
  }

  private static wsError(this: OwnedWs, err: Error & { code?: string }): void {
    this[OWNER]?.onWsError(err);
  }

  private static wsPong(this: OwnedWs): void {
    this[OWNER]?.pinger.onPong();
  }

  private static wsOpen(this: OwnedWs): void {
    this[OWNER]?.onWsOpen();
  }

  onCall(id: string, action: string, payload: Record<string, unknown>): void {
    this.inbound.receive(id, action, payload);
  }

  onCallResult(id: string, payload: Record<string, unknown>): void {
    const entry = this.outbound.take(id);
    if (this.onLog) this.log('in', 'CALLRESULT', id, entry?.action, payload);
    if (!entry) {
      this.logger.warn({ identity: this.identity, id }, 'CALLRESULT for an unknown message id ignored');
      return;
    }
    const invalid = validateResponse(entry.action, payload);
    if (invalid === undefined) {
      entry.resolve(payload);
    } else if (this.strict) {
      this.logger.warn({ identity: this.identity, action: entry.action, id, code: invalid.code, reason: invalid.message }, 'invalid OCPP response rejected');
      entry.reject(invalid);
    } else {
      this.logger.warn({ identity: this.identity, action: entry.action, id, code: invalid.code, reason: invalid.message }, 'invalid OCPP response accepted (lenient mode)');
      entry.resolve(payload);
    }
    this.outbound.sendNext();
  }

  onCallError(id: string, code: string, description: string, details: Record<string, unknown>): void {
    const entry = this.outbound.take(id);
    if (this.onLog) this.log('in', 'CALLERROR', id, entry?.action, { code, description, details });
    if (!entry) {
      this.logger.warn({ identity: this.identity, id, code, description }, 'CALLERROR for an unknown message id ignored');
      return;
    }
    entry.reject(new OcppRemoteError(entry.action, code, description, details));
    this.outbound.sendNext();
  }

  formationViolation(id: string, description: string, action?: string): void {
    this.logger.warn({ identity: this.identity, id, reason: description }, 'malformed OCPP message: FormationViolation');
    this.inbound.answerError(id, action, 'FormationViolation', description, {});
  }

  /**
   * A malformed CALLRESULT/CALLERROR is not answered (a CALLERROR answers CALLs only); if it was
   * meant for our outstanding call, that call fails with FormationViolation instead of timing out.
   */
  malformedReply(id: string, description: string): void {
    this.logger.warn({ identity: this.identity, id, reason: description }, 'malformed OCPP reply ignored');
    const entry = this.outbound.take(id);
    if (entry) {
      entry.reject(new OcppCallError('FormationViolation', `${entry.action} reply: ${description}`));
      this.outbound.sendNext();
    }
  }

  /** Without a token the call is answered GenericError, and not written to the message log. */
  takeRateToken(id: string): boolean {
    if (!this.rate || this.rate.take(this.identity, this.logger)) return true;
    this.sendFrame(this.rate.refusalFrame(id));
    return false;
  }

  // ---------------------------------------------------------------- writing (AnswerTransport)

  sendFrame(frame: string): void {
    if (this.isOpen && this.checkBuffered()) this.write(frame);
  }

  private write(frame: string): void {
    if (this.direct) writeText(this.ws, frame);
    else this.ws.send(frame);
  }

  get logging(): boolean {
    return this.onLog !== undefined;
  }

  log(direction: RpcLogEntry['direction'], type: RpcLogEntry['type'], id: string, action: string | undefined, payload: unknown): void {
    try {
      if (this.logWanted !== undefined && !this.logWanted(direction, type, action, this.identity)) return;
      this.onLog?.({ direction, type, id, action, payload, at: Date.now() }, this.identity);
    } catch (err) {
      this.logger.error({ identity: this.identity, err }, 'OCPP onLog callback failed');
    }
  }

  /**
   * False (and the socket dropped) when the peer leaves more than maxBufferedBytes unread: a peer that
   * does not read would otherwise grow our send buffer without bound.
   */
  private checkBuffered(): boolean {
    if (this.ws.bufferedAmount <= this.limits.maxBufferedBytes) return true;
    this.logger.warn({ identity: this.identity, bufferedAmount: this.ws.bufferedAmount, max: this.limits.maxBufferedBytes }, 'peer does not read what we send: dropping the connection');
    this.errorReason = 'peer does not read (send buffer full)';
    this.terminate();
    return false;
  }

  // ---------------------------------------------------------------- lifecycle

  private onWsOpen(): void {
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.direct = canWriteDirect(this.ws);
    this.pinger.start();
    this.outbound.sendNext();
  }

  get pingIntervalMs(): number {
    return this.pinger.interval;
  }

  /**
   * Changes the WebSocket ping interval while connected (OCPP's WebSocketPingInterval); 0 = off. A
   * ping without a pong by the next one counts the peer dead. Takes effect on open when still connecting.
   */
  setPingInterval(ms: number): void {
    if (ms === this.pinger.interval && (ms <= 0 || this.pinger.running || this.state !== 'open')) return;
    this.pinger.set(ms, this.state === 'open');
  }

  sendPing(): void {
    if (this.ws.readyState === WS_OPEN) this.ws.ping();
  }

  onNoPong(): void {
    this.errorReason = 'no pong received';
    this.terminate();
  }

  private onWsError(err: Error & { code?: string }): void {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.errorReason = 'frame too large (Max payload size exceeded)';
      this.errorCloseCode = 1009;
      this.logger.warn({ identity: this.identity, closeCode: 1009, reason: err.message }, 'OCPP frame exceeds the maximum size: closing with 1009');
    } else {
      this.errorReason = err.message;
      this.logger.warn({ identity: this.identity, err: err.message, code: err.code }, 'WebSocket error');
    }
  }

  private onWsClose(code: number, reason: Buffer): void {
    this.shutDown();
    this.ws.off('message', RpcConnection.wsMessage);
    this.ws.off('pong', RpcConnection.wsPong);
    // After a protocol error ws sends its close frame but stops reading, so it reports 1006;
    // report the code it sent instead.
    const reported = code === 1006 && this.errorCloseCode !== 0 ? this.errorCloseCode : code;
    this.emitClose(reported, reason.length > 0 ? reason.toString('utf8') : this.errorReason);
  }

  /** Stops timers and fails every call not yet answered. Idempotent. */
  private shutDown(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.pinger.stop();
    this.outbound.failAll((action) => new OcppClosedError(action));
    this.inbound.clear();
  }
}
