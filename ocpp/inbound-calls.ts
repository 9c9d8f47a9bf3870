import type { OcppAction } from './actions.js';
import { OcppCallError, type CallErrorCode } from './errors.js';
import type { OcppLogger } from './logger.js';
import { CALLERROR, CALLRESULT } from './rpc-framing.js';
import { EMPTY_RESPONSE, type CallHandler, type RpcLogEntry } from './rpc-types.js';
import { validatorsOf, type ActionValidators } from './validator.js';

/**
 * The calls the peer makes to us: validated, then handled one at a time in arrival order (a bounded
 * FIFO behind the one in the handler), each answered once. Recent answers are kept, so that a
 * duplicate id (a peer retrying after a lost answer) gets the same answer without running the
 * handler again.
 *
 * Every charger makes periodic calls for as long as it is connected, so the common case (nothing
 * queued, a handler that answers at once) allocates nothing here but the context handed to the
 * handler: the call in the handler is kept in fields, the answer cache is a ring of two arrays.
 */

/** How many answered incoming call ids (with their response frames) are kept for duplicates. */
const ANSWERED_CACHE_SIZE = 32;

interface QueuedCall {
  id: string;
  validators: ActionValidators;
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
  /** The call in the handler: its validators (undefined when none) and id. */
  private currentValidators: ActionValidators | undefined;
  private currentId = '';
  /** Calls waiting behind it; created on the first one. */
  private queue: QueuedCall[] | undefined;
  /**
   * Answered calls, a ring (`answeredAt` is where the next one goes): a hash of each id (idHash) and
   * the answer frame, which begins with the id. Every call looks through the ring; comparing small
   * integers that sit together, rather than 32 id strings that each live elsewhere in the heap, took
   * that from about 2 % of a node's CPU answering MeterValues to a fraction of it.
   */
  private answeredHashes: number[] | undefined;
  private answeredFrames: string[] | undefined;
  private answeredAt = 0;

  constructor(
    private readonly transport: AnswerTransport,
    private readonly maxQueued: number,
  ) {}

  /** Registers the one handler. Calls that arrived before are processed now. */
  handle(handler: CallHandler): void {
    this.handler = handler;
    this.runQueued();
  }

  /** A well-formed CALL from the peer. */
  receive(id: string, action: string, payload: Record<string, unknown>): void {
    const t = this.transport;
    if (t.logging) t.log('in', 'CALL', id, action, payload);
    if (this.isInflight(id)) {
      t.logger.warn({ identity: t.identity, id, action }, 'duplicate CALL id while the first is still in progress: dropped');
      return;
    }
    const cached = this.cachedAnswer(id);
    if (cached !== undefined) {
      t.logger.warn({ identity: t.identity, id, action }, 'duplicate CALL id: re-sending the cached answer');
      t.sendFrame(cached);
      return;
    }
    const validators = validatorsOf(action);
    if (validators === undefined) {
      // The name is not echoed: the answer stays small whatever the peer sends.
      this.answerError(id, action, 'NotImplemented', 'Requested action is not known by receiver', {});
      return;
    }
    const invalid = validators.request(payload);
    if (invalid) {
      if (t.strict) {
        t.logger.warn({ identity: t.identity, action, id, code: invalid.code, reason: invalid.message }, 'invalid OCPP request rejected');
        this.answerError(id, action, invalid.code, invalid.message, invalid.details);
        return;
      }
      t.logger.warn({ identity: t.identity, action, id, code: invalid.code, reason: invalid.message }, 'invalid OCPP request processed (lenient mode)');
    }
    const queued = this.queue?.length ?? 0;
    if (queued >= this.maxQueued) {
      this.answerError(id, action, 'GenericError', `Too many calls waiting: at most ${this.maxQueued} behind the one in progress`, {
        maxQueued: this.maxQueued,
      });
      return;
    }
    if (this.currentValidators !== undefined || this.handler === undefined || queued > 0) {
      (this.queue ??= []).push({ id, validators, payload });
      return;
    }
    this.run(id, validators, payload, true);
    this.runQueued();
  }

  private isInflight(id: string): boolean {
    if (this.currentValidators !== undefined && this.currentId === id) return true;
    const queue = this.queue;
    if (queue !== undefined) for (let i = 0; i < queue.length; i++) if (queue[i]!.id === id) return true;
    return false;
  }

  /**
   * Runs the handler on one call; true when it answered at once (nothing is in the handler now).
   * `fresh`: called from `receive`, in the turn that found the id not cached.
   */
  private run(id: string, validators: ActionValidators, payload: Record<string, unknown>, fresh: boolean): boolean {
    this.currentId = id;
    this.currentValidators = validators;
    let result: unknown;
    try {
      result = (this.handler as CallHandler)(validators.action, payload, { messageId: id });
    } catch (err) {
      this.finishWithError(err);
      return true;
    }
    if (result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function') {
      // Closures per async call (rare: boot, transactions), not two per connection held for its life.
      (result as PromiseLike<unknown>).then(
        (value) => this.onHandlerResolved(value),
        (err: unknown) => this.onHandlerRejected(err),
      );
      return false;
    }
    this.finishWithResult(result, fresh);
    return true;
  }

  private runQueued(): void {
    const queue = this.queue;
    if (queue === undefined) return;
    while (this.currentValidators === undefined && this.handler !== undefined && queue.length > 0) {
      const item = queue.shift() as QueuedCall;
      if (!this.run(item.id, item.validators, item.payload, false)) return;
    }
  }

  private onHandlerResolved(value: unknown): void {
    if (this.currentValidators === undefined) return;
    this.finishWithResult(value, false);
    this.runQueued();
  }

  private onHandlerRejected(err: unknown): void {
    if (this.currentValidators === undefined) return;
    this.finishWithError(err);
    this.runQueued();
  }

  /** `fresh`: answered at once in the turn its id was found not to be cached (see `answer`). */
  private finishWithResult(result: unknown, fresh: boolean): void {
    const t = this.transport;
    const id = this.currentId;
    const validators = this.currentValidators as ActionValidators;
    const action = validators.action;
    this.currentId = '';
    this.currentValidators = undefined;
    const payload = result === undefined ? {} : result;
    const invalid = validators.response(payload);
    if (invalid) {
      if (t.strict) {
        t.logger.error(
          { identity: t.identity, action, id, code: invalid.code, reason: invalid.message, response: payload },
          'BUG: our OCPP handler returned an invalid response; answering InternalError',
        );
        this.answerError(id, action, 'InternalError', 'The response could not be produced', {});
        return;
      }
      t.logger.warn({ identity: t.identity, action, id, code: invalid.code, reason: invalid.message }, 'our OCPP handler returned an invalid response; sent anyway (lenient mode)');
    }
    let frame: string;
    try {
      // The same text as JSON.stringify([CALLRESULT, id, payload]) gives, at a third of its cost.
      frame = payload === EMPTY_RESPONSE ? `[${CALLRESULT},${JSON.stringify(id)},{}]` : JSON.stringify([CALLRESULT, id, payload]);
    } catch (err) {
      t.logger.error({ identity: t.identity, action, id, err }, 'OCPP response is not serialisable');
      this.answerError(id, action, 'InternalError', 'The response could not be produced', {});
      return;
    }
    this.answer(id, frame, fresh);
    if (t.logging) t.log('out', 'CALLRESULT', id, action, payload);
  }

  private finishWithError(err: unknown): void {
    const id = this.currentId;
    const action: OcppAction = (this.currentValidators as ActionValidators).action;
    this.currentId = '';
    this.currentValidators = undefined;
    if (err instanceof OcppCallError) {
      this.answerError(id, action, err.code, err.message, err.details);
      return;
    }
    const t = this.transport;
    t.logger.error({ identity: t.identity, action, id, err }, 'OCPP handler failed; answering InternalError');
    this.answerError(id, action, 'InternalError', 'An internal error occurred', {});
  }

  /** Sends a CALLERROR in answer to a CALL (cached for duplicates, unless its id was unusable). */
  answerError(id: string, action: string | undefined, code: CallErrorCode, description: string, details: Record<string, unknown>): void {
    const frame = JSON.stringify([CALLERROR, id, code, description, details]);
    if (id === '-1') this.transport.sendFrame(frame);
    else this.answer(id, frame);
    if (this.transport.logging) this.transport.log('out', 'CALLERROR', id, action, { code, description, details });
  }

  private cachedAnswer(id: string): string | undefined {
    const at = this.answeredIndex(id);
    return at < 0 ? undefined : (this.answeredFrames as string[])[at];
  }

  /** Where `id`'s answer is in the ring, or -1. A matching hash is confirmed by the frame's id. */
  private answeredIndex(id: string): number {
    const hashes = this.answeredHashes;
    if (hashes === undefined) return -1;
    const h = idHash(id);
    let quoted: string | undefined;
    for (let i = 0; i < hashes.length; i++) {
      if (hashes[i] !== h) continue;
      // Frames are `[3,<id>,...` or `[4,<id>,...`, the id as JSON.stringify wrote it.
      quoted ??= `${JSON.stringify(id)},`;
      if ((this.answeredFrames as string[])[i]!.startsWith(quoted, 3)) return i;
    }
    return -1;
  }

  /**
   * `fresh`: the id is known not to be in the ring (`receive` looked in this turn, and nothing was
   * answered since), so the ring is not searched a second time.
   */
  private answer(id: string, frame: string, fresh = false): void {
    let hashes = this.answeredHashes;
    let frames = this.answeredFrames;
    const h = idHash(id);
    // An id answered again (a duplicate refused while in progress cannot be) replaces its old entry.
    let at = hashes === undefined || fresh ? -1 : this.answeredIndex(id);
    if (at < 0) {
      at = this.answeredAt;
      this.answeredAt = (at + 1) % ANSWERED_CACHE_SIZE;
      if (hashes === undefined || at >= hashes.length) {
        // Grown one at a time to the ring's size: V8 grows an array by 17 slots at least, which an
        // idle charger (one answered boot) held twice for its whole connection.
        hashes = this.answeredHashes = hashes === undefined ? [h] : hashes.concat(h);
        frames = this.answeredFrames = frames === undefined ? [frame] : frames.concat(frame);
        this.transport.sendFrame(frame);
        return;
      }
    }
    (hashes as number[])[at] = h;
    (frames as string[])[at] = frame;
    this.transport.sendFrame(frame);
  }

  /** Forgets queued calls (the connection is gone); the one in the handler is never answered. */
  clear(): void {
    if (this.queue) this.queue.length = 0;
    this.currentId = '';
    this.currentValidators = undefined;
  }
}

/**
 * FNV-1a of a message id, kept to 30 bits (a small integer for V8, stored in the array itself).
 * Written out here, not taken from core/fnv1a.ts: ocpp/ does not depend on core/.
 */
export function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff;
}
