import { isKnownAction, type OcppAction } from './actions.js';
import { OcppCallError, type CallErrorCode } from './errors.js';
import type { OcppLogger } from './logger.js';
import { CALLERROR, CALLRESULT } from './rpc-framing.js';
import type { CallHandler, RpcLogEntry } from './rpc-types.js';
import { validateRequest, validateResponse } from './validator.js';

/**
 * The calls the peer makes to us: validated, then handled one at a time in arrival order (a bounded
 * FIFO behind the one in the handler), each answered once. Recent answers are kept, so that a
 * duplicate id (a peer retrying after a lost answer) gets the same answer without running the
 * handler again.
 */

/** How many answered incoming call ids (with their response frames) are kept for duplicates. */
const ANSWERED_CACHE_SIZE = 32;

interface IncomingCall {
  id: string;
  action: OcppAction;
  payload: Record<string, unknown>;
}

/** What the incoming side needs from the connection. */
export interface AnswerTransport {
  readonly identity: string;
  readonly logger: OcppLogger;
  readonly strict: boolean;
  /** Writes a frame when the socket is open. */
  sendFrame(frame: string): void;
  /** Whether entries go to the message log (so that none is built for nothing). */
  readonly logging: boolean;
  log(direction: RpcLogEntry['direction'], type: RpcLogEntry['type'], id: string, action: string | undefined, payload: unknown): void;
}

export class InboundCalls {
  private handler: CallHandler | undefined;
  private current: IncomingCall | undefined;
  private readonly queue: IncomingCall[] = [];
  /** Ids queued or in the handler. */
  private readonly inflight = new Set<string>();
  private readonly answered = new Map<string, string>();

  constructor(
    private readonly transport: AnswerTransport,
    private readonly maxQueued: number,
  ) {}

  /** Registers the one handler. Calls that arrived before are processed now. */
  handle(handler: CallHandler): void {
    this.handler = handler;
    this.run();
  }

  /** A well-formed CALL from the peer. */
  receive(id: string, action: string, payload: Record<string, unknown>): void {
    const t = this.transport;
    if (t.logging) t.log('in', 'CALL', id, action, payload);
    if (this.inflight.has(id)) {
      t.logger.warn({ identity: t.identity, id, action }, 'duplicate CALL id while the first is still in progress: dropped');
      return;
    }
    const cached = this.answered.get(id);
    if (cached !== undefined) {
      t.logger.warn({ identity: t.identity, id, action }, 'duplicate CALL id: re-sending the cached answer');
      t.sendFrame(cached);
      return;
    }
    if (!isKnownAction(action)) {
      // The name is not echoed: the answer stays small whatever the peer sends.
      this.answerError(id, action, 'NotImplemented', 'Requested action is not known by receiver', {});
      return;
    }
    const invalid = validateRequest(action, payload);
    if (invalid) {
      if (t.strict) {
        t.logger.warn({ identity: t.identity, action, id, code: invalid.code, reason: invalid.message }, 'invalid OCPP request rejected');
        this.answerError(id, action, invalid.code, invalid.message, invalid.details);
        return;
      }
      t.logger.warn({ identity: t.identity, action, id, code: invalid.code, reason: invalid.message }, 'invalid OCPP request processed (lenient mode)');
    }
    if (this.queue.length >= this.maxQueued) {
      this.answerError(id, action, 'GenericError', `Too many calls waiting: at most ${this.maxQueued} behind the one in progress`, {
        maxQueued: this.maxQueued,
      });
      return;
    }
    this.inflight.add(id);
    this.queue.push({ id, action, payload });
    if (this.current === undefined) this.run();
  }

  private run(): void {
    while (this.current === undefined && this.handler !== undefined && this.queue.length > 0) {
      const item = this.queue.shift() as IncomingCall;
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
    this.run();
  };

  private readonly onHandlerRejected = (err: unknown): void => {
    const item = this.current;
    if (item === undefined) return;
    this.finishWithError(item, err);
    this.run();
  };

  private finishWithResult(item: IncomingCall, result: unknown): void {
    const t = this.transport;
    this.current = undefined;
    this.inflight.delete(item.id);
    const payload = result === undefined ? {} : result;
    const invalid = validateResponse(item.action, payload);
    if (invalid) {
      if (t.strict) {
        t.logger.error(
          { identity: t.identity, action: item.action, id: item.id, code: invalid.code, reason: invalid.message, response: payload },
          'BUG: our OCPP handler returned an invalid response; answering InternalError',
        );
        this.answerError(item.id, item.action, 'InternalError', 'The response could not be produced', {});
        return;
      }
      t.logger.warn(
        { identity: t.identity, action: item.action, id: item.id, code: invalid.code, reason: invalid.message },
        'our OCPP handler returned an invalid response; sent anyway (lenient mode)',
      );
    }
    let frame: string;
    try {
      frame = JSON.stringify([CALLRESULT, item.id, payload]);
    } catch (err) {
      t.logger.error({ identity: t.identity, action: item.action, id: item.id, err }, 'OCPP response is not serialisable');
      this.answerError(item.id, item.action, 'InternalError', 'The response could not be produced', {});
      return;
    }
    this.answer(item.id, frame);
    if (t.logging) t.log('out', 'CALLRESULT', item.id, item.action, payload);
  }

  private finishWithError(item: IncomingCall, err: unknown): void {
    this.current = undefined;
    this.inflight.delete(item.id);
    if (err instanceof OcppCallError) {
      this.answerError(item.id, item.action, err.code, err.message, err.details);
      return;
    }
    const t = this.transport;
    t.logger.error({ identity: t.identity, action: item.action, id: item.id, err }, 'OCPP handler failed; answering InternalError');
    this.answerError(item.id, item.action, 'InternalError', 'An internal error occurred', {});
  }

  /** Sends a CALLERROR in answer to a CALL (cached for duplicates, unless its id was unusable). */
  answerError(id: string, action: string | undefined, code: CallErrorCode, description: string, details: Record<string, unknown>): void {
    const frame = JSON.stringify([CALLERROR, id, code, description, details]);
    if (id === '-1') this.transport.sendFrame(frame);
    else this.answer(id, frame);
    if (this.transport.logging) this.transport.log('out', 'CALLERROR', id, action, { code, description, details });
  }

  private answer(id: string, frame: string): void {
    this.answered.set(id, frame);
    if (this.answered.size > ANSWERED_CACHE_SIZE) {
      const oldest = this.answered.keys().next();
      if (!oldest.done) this.answered.delete(oldest.value);
    }
    this.transport.sendFrame(frame);
  }

  /** Forgets queued calls (the connection is gone); the one in the handler is never answered. */
  clear(): void {
    this.queue.length = 0;
    this.inflight.clear();
    this.current = undefined;
  }
}
