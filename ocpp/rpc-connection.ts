import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import type { OcppAction, RequestOf, ResponseOf } from './actions.js';
import { isKnownAction } from './actions.js';
import { OcppBusyError, OcppCallError, OcppClosedError, OcppRemoteError, OcppTimeoutError, type CallErrorCode } from './errors.js';
import { TokenBucket } from './token-bucket.js';
import { silentLogger, type OcppLogger } from './logger.js';
import { validateRequest, validateResponse } from './validator.js';

/**
 * OCPP-J RPC over one `ws` WebSocket: CALL / CALLRESULT / CALLERROR framing, schema validation in
 * both directions, one outstanding outgoing CALL at a time, incoming CALLs handled one at a time in
 * arrival order. Nothing here knows whether it is the Central System or the charge point side.
 */

const CALL = 2;
const CALLRESULT = 3;
const CALLERROR = 4;
const WS_OPEN = 1;
const WS_CONNECTING = 0;
/** How many answered incoming call ids (with their response frames) are kept for duplicates. */
const ANSWERED_CACHE_SIZE = 32;
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

export interface RpcConnectionOptions {
  identity: string;
  /** Default true. Lenient (false): schema violations are logged, not rejected. */
  strict?: boolean;
  /** Default 30000. */
  callTimeoutMs?: number;
  /** 0 (default) = off. Otherwise a WS ping every interval; no pong since the previous one terminates. */
  pingIntervalMs?: number;
  onLog?: (entry: RpcLogEntry) => void;
  logger?: OcppLogger;
  /** Defaults: DEFAULT_RPC_LIMITS. */
  limits?: Partial<RpcLimits>;
  /** Injected for tests of the rate limit; default Date.now. */
  now?: () => number;
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

/** Answers incoming CALLs. Return (or resolve to) the response payload; throw an OcppCallError to answer with its code. */
export type CallHandler = (action: OcppAction, payload: Record<string, unknown>, ctx: CallContext) => unknown;

export interface RpcConnectionEvents {
  close: [code: number, reason: string];
}

interface OutgoingCall {
  id: string;
  action: string;
  payload: unknown;
  timeoutMs: number;
  /** Epoch ms: queued at + timeoutMs. */
  deadline: number;
  priority: boolean;
  /** Runs from queueing to the answer. */
  timer: NodeJS.Timeout | undefined;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface IncomingCall {
  id: string;
  action: OcppAction;
  payload: Record<string, unknown>;
}

type State = 'connecting' | 'open' | 'closed';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function rawToString(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export class RpcConnection extends EventEmitter<RpcConnectionEvents> {
  readonly identity: string;
  readonly strict: boolean;
  private readonly ws: WebSocket;
  private readonly callTimeoutMs: number;
  private pingMs: number;
  private readonly onLog: ((entry: RpcLogEntry) => void) | undefined;
  private readonly logger: OcppLogger;
  private readonly limits: RpcLimits;
  private readonly rate: TokenBucket | undefined;
  /** Refusals since the last warning, so a flood makes one log line per second, not one per frame. */
  private rateRefused = 0;
  private rateWarnedAt = 0;
  private readonly now: () => number;

  private state: State;
  private readonly idPrefix: string;
  private idCounter = 0;

  // Outgoing calls: one outstanding, the rest FIFO (priority calls ahead of the others).
  private outstanding: OutgoingCall | undefined;
  private readonly outQueue: OutgoingCall[] = [];

  // Incoming calls: one in the handler, the rest FIFO; ids queued or in progress; recent answers.
  private handler: CallHandler | undefined;
  private current: IncomingCall | undefined;
  private readonly inQueue: IncomingCall[] = [];
  private readonly inflight = new Set<string>();
  private readonly answered = new Map<string, string>();

  private pingTimer: NodeJS.Timeout | undefined;
  private pongSeen = true;
  /** Why the socket is going down when the close frame will not say (e.g. ws closing with 1009). */
  private errorReason = '';
  private errorCloseCode = 0;

  constructor(ws: WebSocket, opts: RpcConnectionOptions) {
    super();
    this.ws = ws;
    this.identity = opts.identity;
    this.strict = opts.strict ?? true;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.pingMs = opts.pingIntervalMs ?? 0;
    this.onLog = opts.onLog;
    this.logger = opts.logger ?? silentLogger;
    this.limits = { ...DEFAULT_RPC_LIMITS, ...opts.limits };
    this.now = opts.now ?? Date.now;
    this.rate = this.limits.callsPerSecond > 0 ? new TokenBucket(this.limits.callsPerSecond, Math.max(1, this.limits.callBurst), this.now()) : undefined;
    // Short per-connection prefix plus a counter: unique per connection, well under 36 chars.
    this.idPrefix = `${randomBytes(4).toString('hex')}-`;

    ws.on('message', this.onMessage);
    ws.on('close', this.onWsClose);
    ws.on('error', this.onWsError);
    ws.on('pong', this.onPong);

    if (ws.readyState === WS_OPEN) {
      this.state = 'open';
      this.startPing();
    } else if (ws.readyState === WS_CONNECTING) {
      this.state = 'connecting';
      ws.once('open', this.onWsOpen);
    } else {
      this.state = 'closed';
    }
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
      if (this.outstanding === undefined && this.state === 'open') {
        entry.timer = setTimeout(() => this.onCallTimeout(entry), timeoutMs);
        this.sendCall(entry);
        return;
      }
      if (!this.enqueueCall(entry)) return;
      // A limit is worth sending late (the balancer counts an unanswered one at its worst), so a
      // priority call is never dropped unsent: its time runs from sending. Dropping a decrease that
      // waited behind a slow charger's answer would leave the fuse over until the balancer's retry.
      if (!entry.priority) entry.timer = setTimeout(() => this.onCallTimeout(entry), timeoutMs);
    });
  }

  /** Queues a call; a full queue refuses it, or for a priority call, the newest call without priority. */
  private enqueueCall(entry: OutgoingCall): boolean {
    if (this.outQueue.length >= this.limits.maxQueuedCalls) {
      let victim = -1;
      if (entry.priority) for (let i = this.outQueue.length - 1; i >= 0 && victim < 0; i--) if (!this.outQueue[i]?.priority) victim = i;
      if (victim < 0) {
        this.logger.warn({ identity: this.identity, action: entry.action, queued: this.outQueue.length }, 'outgoing OCPP call refused: queue full');
        entry.reject(new OcppBusyError(entry.action, this.limits.maxQueuedCalls));
        return false;
      }
      const [dropped] = this.outQueue.splice(victim, 1);
      if (dropped) this.failQueued(dropped, new OcppBusyError(dropped.action, this.limits.maxQueuedCalls));
    }
    if (entry.priority) {
      let at = 0;
      while (at < this.outQueue.length && this.outQueue[at]?.priority) at++;
      this.outQueue.splice(at, 0, entry);
    } else this.outQueue.push(entry);
    return true;
  }

  private failQueued(entry: OutgoingCall, err: Error): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.reject(err);
  }

  /** Registers the one handler for incoming CALLs. Calls that arrived before are processed now. */
  handle(handler: CallHandler): void {
    this.handler = handler;
    this.runIncoming();
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

  // ---------------------------------------------------------------- outgoing

  private sendCall(entry: OutgoingCall): void {
    const id = this.idPrefix + (++this.idCounter).toString(36);
    entry.id = id;
    let frame: string;
    try {
      frame = JSON.stringify([CALL, id, entry.action, entry.payload]);
    } catch (err) {
      this.failQueued(entry, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.outstanding = entry;
    entry.timer ??= setTimeout(() => this.onCallTimeout(entry), entry.timeoutMs);
    if (!this.checkBuffered()) return;
    this.ws.send(frame);
    if (this.onLog) this.log('out', 'CALL', id, entry.action, entry.payload);
  }

  private sendNextCall(): void {
    while (this.outstanding === undefined && this.state === 'open' && this.outQueue.length > 0) {
      const entry = this.outQueue.shift() as OutgoingCall;
      // Its timer may not have run yet in this turn of the event loop.
      if (!entry.priority && entry.deadline <= Date.now()) this.failQueued(entry, new OcppTimeoutError(entry.action, entry.timeoutMs));
      else this.sendCall(entry);
    }
  }

  /** The deadline of a call passed: unanswered, or still queued (then it is never sent). */
  private onCallTimeout(entry: OutgoingCall): void {
    entry.timer = undefined;
    if (this.outstanding === entry) {
      this.outstanding = undefined;
      this.logger.warn({ identity: this.identity, action: entry.action, id: entry.id, timeoutMs: entry.timeoutMs }, 'OCPP call timed out');
      entry.reject(new OcppTimeoutError(entry.action, entry.timeoutMs));
      this.sendNextCall();
      return;
    }
    const at = this.outQueue.indexOf(entry);
    if (at < 0) return;
    this.outQueue.splice(at, 1);
    this.logger.warn({ identity: this.identity, action: entry.action, timeoutMs: entry.timeoutMs }, 'OCPP call dropped unsent: its deadline passed while it waited in the queue');
    entry.reject(new OcppTimeoutError(entry.action, entry.timeoutMs));
  }

  /** Takes the outstanding call if `id` is its id. */
  private takeOutstanding(id: unknown): OutgoingCall | undefined {
    const entry = this.outstanding;
    if (entry === undefined || entry.id !== id) return undefined;
    this.outstanding = undefined;
    if (entry.timer !== undefined) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    return entry;
  }

  private onCallResult(id: string, payload: Record<string, unknown>): void {
    const entry = this.takeOutstanding(id);
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
    this.sendNextCall();
  }

  private onCallError(id: string, code: string, description: string, details: Record<string, unknown>): void {
    const entry = this.takeOutstanding(id);
    if (this.onLog) this.log('in', 'CALLERROR', id, entry?.action, { code, description, details });
    if (!entry) {
      this.logger.warn({ identity: this.identity, id, code, description }, 'CALLERROR for an unknown message id ignored');
      return;
    }
    entry.reject(new OcppRemoteError(entry.action, code, description, details));
    this.sendNextCall();
  }

  // ---------------------------------------------------------------- incoming

  private readonly onMessage = (data: WebSocket.RawData): void => {
    if (this.state === 'closed') return;
    let msg: unknown;
    try {
      msg = JSON.parse(rawToString(data));
    } catch {
      this.formationViolation('-1', 'Message is not valid JSON');
      return;
    }
    if (!Array.isArray(msg)) {
      this.formationViolation('-1', 'Message is not a JSON array');
      return;
    }
    const type: unknown = msg[0];
    const id: unknown = msg[1];
    // Replies answer our own calls (bounded by us); everything else costs an answer and is rate limited.
    const isReply = type === CALLRESULT || type === CALLERROR;
    if (!isReply && !this.takeRateToken(typeof id === 'string' && id.length <= MAX_MESSAGE_ID_LENGTH ? id : '-1')) return;
    if (typeof id !== 'string') {
      this.formationViolation('-1', 'Message id must be a string');
      return;
    }
    if (id.length > MAX_MESSAGE_ID_LENGTH) {
      if (!isReply) this.formationViolation('-1', `Message id longer than ${MAX_MESSAGE_ID_LENGTH} characters`);
      return;
    }
    if (type === CALL) {
      if (msg.length !== 4) return this.formationViolation(id, `A CALL has 4 elements, got ${msg.length}`);
      const action: unknown = msg[2];
      if (typeof action !== 'string') return this.formationViolation(id, 'A CALL action must be a string');
      if (action.length > MAX_ACTION_LENGTH) return this.formationViolation(id, `A CALL action is at most ${MAX_ACTION_LENGTH} characters`);
      const payload: unknown = msg[3];
      if (!isObject(payload)) return this.formationViolation(id, 'A CALL payload must be a JSON object', action);
      this.onCall(id, action, payload);
    } else if (type === CALLRESULT) {
      const payload: unknown = msg[2];
      if (msg.length !== 3 || !isObject(payload)) {
        return this.malformedReply(id, msg.length !== 3 ? `A CALLRESULT has 3 elements, got ${msg.length}` : 'A CALLRESULT payload must be a JSON object');
      }
      this.onCallResult(id, payload);
    } else if (type === CALLERROR) {
      const [, , code, description, details] = msg as unknown[];
      if (msg.length !== 5 || typeof code !== 'string' || typeof description !== 'string' || !isObject(details)) {
        return this.malformedReply(id, 'A CALLERROR is [4, id, code (string), description (string), details (object)]');
      }
      this.onCallError(id, code, description, details);
    } else {
      this.formationViolation(id, `Unknown message type ${JSON.stringify(type) ?? String(type)}`);
    }
  };

  private onCall(id: string, action: string, payload: Record<string, unknown>): void {
    if (this.onLog) this.log('in', 'CALL', id, action, payload);
    if (this.inflight.has(id)) {
      this.logger.warn({ identity: this.identity, id, action }, 'duplicate CALL id while the first is still in progress: dropped');
      return;
    }
    const cached = this.answered.get(id);
    if (cached !== undefined) {
      this.logger.warn({ identity: this.identity, id, action }, 'duplicate CALL id: re-sending the cached answer');
      this.sendFrame(cached);
      return;
    }
    if (!isKnownAction(action)) {
      // The name is not echoed: the answer stays small whatever the peer sends.
      this.answerError(id, action, 'NotImplemented', 'Requested action is not known by receiver', {});
      return;
    }
    const invalid = validateRequest(action, payload);
    if (invalid) {
      if (this.strict) {
        this.logger.warn({ identity: this.identity, action, id, code: invalid.code, reason: invalid.message }, 'invalid OCPP request rejected');
        this.answerError(id, action, invalid.code, invalid.message, invalid.details);
        return;
      }
      this.logger.warn({ identity: this.identity, action, id, code: invalid.code, reason: invalid.message }, 'invalid OCPP request processed (lenient mode)');
    }
    if (this.inQueue.length >= this.limits.maxQueuedIncoming) {
      this.answerError(id, action, 'GenericError', `Too many calls waiting: at most ${this.limits.maxQueuedIncoming} behind the one in progress`, {
        maxQueued: this.limits.maxQueuedIncoming,
      });
      return;
    }
    this.inflight.add(id);
    this.inQueue.push({ id, action, payload });
    if (this.current === undefined) this.runIncoming();
  }

  private runIncoming(): void {
    while (this.current === undefined && this.handler !== undefined && this.inQueue.length > 0) {
      const item = this.inQueue.shift() as IncomingCall;
      this.current = item;
      let result: unknown;
      try {
        result = this.handler(item.action, item.payload, { messageId: item.id });
      } catch (err) {
        this.finishWithError(item, err);
        continue;
      }
      if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
        (result as PromiseLike<unknown>).then(this.onHandlerResolved, this.onHandlerRejected);
        return;
      }
      this.finishWithResult(item, result);
    }
  }

  private readonly onHandlerResolved = (value: unknown): void => {
    const item = this.current;
    if (item === undefined) return;
    this.finishWithResult(item, value);
    this.runIncoming();
  };

  private readonly onHandlerRejected = (err: unknown): void => {
    const item = this.current;
    if (item === undefined) return;
    this.finishWithError(item, err);
    this.runIncoming();
  };

  private finishWithResult(item: IncomingCall, result: unknown): void {
    this.current = undefined;
    this.inflight.delete(item.id);
    const payload = result === undefined ? {} : result;
    const invalid = validateResponse(item.action, payload);
    if (invalid) {
      if (this.strict) {
        this.logger.error(
          { identity: this.identity, action: item.action, id: item.id, code: invalid.code, reason: invalid.message, response: payload },
          'BUG: our OCPP handler returned an invalid response; answering InternalError',
        );
        this.answerError(item.id, item.action, 'InternalError', 'The response could not be produced', {});
        return;
      }
      this.logger.warn(
        { identity: this.identity, action: item.action, id: item.id, code: invalid.code, reason: invalid.message },
        'our OCPP handler returned an invalid response; sent anyway (lenient mode)',
      );
    }
    let frame: string;
    try {
      frame = JSON.stringify([CALLRESULT, item.id, payload]);
    } catch (err) {
      this.logger.error({ identity: this.identity, action: item.action, id: item.id, err }, 'OCPP response is not serialisable');
      this.answerError(item.id, item.action, 'InternalError', 'The response could not be produced', {});
      return;
    }
    this.answer(item.id, frame);
    if (this.onLog) this.log('out', 'CALLRESULT', item.id, item.action, payload);
  }

  private finishWithError(item: IncomingCall, err: unknown): void {
    this.current = undefined;
    this.inflight.delete(item.id);
    if (err instanceof OcppCallError) {
      this.answerError(item.id, item.action, err.code, err.message, err.details);
      return;
    }
    this.logger.error({ identity: this.identity, action: item.action, id: item.id, err }, 'OCPP handler failed; answering InternalError');
    this.answerError(item.id, item.action, 'InternalError', 'An internal error occurred', {});
  }

  /** Sends a CALLERROR in answer to a CALL (cached for duplicates). */
  private answerError(id: string, action: string | undefined, code: CallErrorCode, description: string, details: Record<string, unknown>): void {
    const frame = JSON.stringify([CALLERROR, id, code, description, details]);
    if (id === '-1') this.sendFrame(frame);
    else this.answer(id, frame);
    if (this.onLog) this.log('out', 'CALLERROR', id, action, { code, description, details });
  }

  private formationViolation(id: string, description: string, action?: string): void {
    this.logger.warn({ identity: this.identity, id, reason: description }, 'malformed OCPP message: FormationViolation');
    this.answerError(id, action, 'FormationViolation', description, {});
  }

  /**
   * A malformed CALLRESULT/CALLERROR is not answered (a CALLERROR answers CALLs only); if it was
   * meant for our outstanding call, that call fails with FormationViolation instead of timing out.
   */
  private malformedReply(id: string, description: string): void {
    this.logger.warn({ identity: this.identity, id, reason: description }, 'malformed OCPP reply ignored');
    const entry = this.takeOutstanding(id);
    if (entry) {
      entry.reject(new OcppCallError('FormationViolation', `${entry.action} reply: ${description}`));
      this.sendNextCall();
    }
  }

  private answer(id: string, frame: string): void {
    this.answered.set(id, frame);
    if (this.answered.size > ANSWERED_CACHE_SIZE) {
      const oldest = this.answered.keys().next();
      if (!oldest.done) this.answered.delete(oldest.value);
    }
    this.sendFrame(frame);
  }

  private sendFrame(frame: string): void {
    if (this.isOpen && this.checkBuffered()) this.ws.send(frame);
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

  /**
   * One token per incoming CALL (or malformed frame). Without one the call is answered GenericError,
   * and not written to the message log, so a flood costs little more than the answer.
   */
  private takeRateToken(id: string): boolean {
    if (!this.rate || this.rate.take(this.now())) return true;
    this.rateRefused += 1;
    const now = this.now();
    if (now - this.rateWarnedAt >= 1_000) {
      this.logger.warn({ identity: this.identity, refused: this.rateRefused, callsPerSecond: this.limits.callsPerSecond }, 'incoming OCPP calls over the rate limit answered GenericError');
      this.rateWarnedAt = now;
      this.rateRefused = 0;
    }
    const frame = JSON.stringify([CALLERROR, id, 'GenericError', `Rate limit: at most ${this.limits.callsPerSecond} calls per second`, { callsPerSecond: this.limits.callsPerSecond }]);
    this.sendFrame(frame);
    return false;
  }

  private log(direction: RpcLogEntry['direction'], type: RpcLogEntry['type'], id: string, action: string | undefined, payload: unknown): void {
    try {
      this.onLog?.({ direction, type, id, action, payload, at: Date.now() });
    } catch (err) {
      this.logger.error({ identity: this.identity, err }, 'OCPP onLog callback failed');
    }
  }

  // ---------------------------------------------------------------- lifecycle

  private readonly onWsOpen = (): void => {
    if (this.state !== 'connecting') return;
    this.state = 'open';
    this.startPing();
    this.sendNextCall();
  };

  get pingIntervalMs(): number {
    return this.pingMs;
  }

  /**
   * Changes the WebSocket ping interval while connected (OCPP's WebSocketPingInterval); 0 = off. A
   * ping without a pong by the next one counts the peer dead. Takes effect on open when still connecting.
   */
  setPingInterval(ms: number): void {
    if (ms === this.pingMs && (ms <= 0 || this.pingTimer !== undefined || this.state !== 'open')) return;
    this.pingMs = ms;
    if (this.state === 'open') this.startPing();
  }

  private startPing(): void {
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    if (this.pingMs > 0) {
      this.pongSeen = true;
      this.pingTimer = setInterval(this.onPingTick, this.pingMs);
    }
  }

  private readonly onPingTick = (): void => {
    if (!this.pongSeen) {
      this.logger.warn({ identity: this.identity, pingIntervalMs: this.pingMs }, 'no WebSocket pong since the previous ping: terminating');
      this.errorReason = 'no pong received';
      this.terminate();
      return;
    }
    this.pongSeen = false;
    if (this.ws.readyState === WS_OPEN) this.ws.ping();
  };

  private readonly onPong = (): void => {
    this.pongSeen = true;
  };

  private readonly onWsError = (err: Error & { code?: string }): void => {
    if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      this.errorReason = 'frame too large (Max payload size exceeded)';
      this.errorCloseCode = 1009;
      this.logger.warn({ identity: this.identity, closeCode: 1009, reason: err.message }, 'OCPP frame exceeds the maximum size: closing with 1009');
    } else {
      this.errorReason = err.message;
      this.logger.warn({ identity: this.identity, err: err.message, code: err.code }, 'WebSocket error');
    }
  };

  private readonly onWsClose = (code: number, reason: Buffer): void => {
    this.shutDown();
    this.ws.off('message', this.onMessage);
    this.ws.off('pong', this.onPong);
    // After a protocol error ws sends its close frame but stops reading, so it reports 1006;
    // report the code it sent instead.
    const reported = code === 1006 && this.errorCloseCode !== 0 ? this.errorCloseCode : code;
    this.emit('close', reported, reason.length > 0 ? reason.toString('utf8') : this.errorReason);
  };

  /** Stops timers and fails every call not yet answered. Idempotent. */
  private shutDown(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    this.pingTimer = undefined;
    const pending = this.outstanding;
    this.outstanding = undefined;
    if (pending) this.failQueued(pending, new OcppClosedError(pending.action));
    for (const entry of this.outQueue.splice(0)) this.failQueued(entry, new OcppClosedError(entry.action));
    this.inQueue.length = 0;
    this.inflight.clear();
    this.current = undefined;
  }
}
