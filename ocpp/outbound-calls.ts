import { OcppBusyError, OcppTimeoutError } from './errors.js';
import type { OcppLogger } from './logger.js';

/**
 * The calls we make to the peer: one outstanding at a time (OCPP-J 1.6 section 4.1.1), the others
 * waiting in a bounded FIFO in which priority calls go before the others. A call's deadline runs from
 * queueing, so a call that waited too long is dropped unsent; a priority call is the exception (see
 * `add`).
 */

export interface OutgoingCall {
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

/** What the queue needs from the connection. */
export interface CallTransport {
  readonly identity: string;
  readonly logger: OcppLogger;
  /** Whether a CALL may be written now. */
  canSendCalls(): boolean;
  /** Gives the call its id and serialises it; throws when the payload cannot be serialised. */
  frameCall(entry: OutgoingCall): string;
  /** Writes the frame of the call that just became outstanding. */
  writeCall(frame: string, entry: OutgoingCall): void;
}

export class OutboundCalls {
  private outstanding: OutgoingCall | undefined;
  private readonly queue: OutgoingCall[] = [];

  constructor(
    private readonly transport: CallTransport,
    private readonly maxQueued: number,
  ) {}

  /** Sends the call now if nothing is outstanding, else queues it (or refuses it when the queue is full). */
  add(entry: OutgoingCall): void {
    if (this.outstanding === undefined && this.transport.canSendCalls()) {
      this.send(entry);
      return;
    }
    if (!this.enqueue(entry)) return;
    // A limit is worth sending late (the balancer counts an unanswered one at its worst), so a
    // priority call is never dropped unsent: its time runs from sending. Dropping a decrease that
    // waited behind a slow charger's answer would leave the fuse over until the balancer's retry.
    if (!entry.priority) entry.timer = setTimeout(() => this.onTimeout(entry), entry.timeoutMs);
  }

  /** Queues a call; a full queue refuses it, or for a priority call, the newest call without priority. */
  private enqueue(entry: OutgoingCall): boolean {
    const queue = this.queue;
    if (queue.length >= this.maxQueued) {
      let victim = -1;
      if (entry.priority) for (let i = queue.length - 1; i >= 0 && victim < 0; i--) if (!queue[i]?.priority) victim = i;
      if (victim < 0) {
        this.transport.logger.warn({ identity: this.transport.identity, action: entry.action, queued: queue.length }, 'outgoing OCPP call refused: queue full');
        entry.reject(new OcppBusyError(entry.action, this.maxQueued));
        return false;
      }
      const [dropped] = queue.splice(victim, 1);
      if (dropped) fail(dropped, new OcppBusyError(dropped.action, this.maxQueued));
    }
    if (entry.priority) {
      let at = 0;
      while (at < queue.length && queue[at]?.priority) at++;
      queue.splice(at, 0, entry);
    } else queue.push(entry);
    return true;
  }

  private send(entry: OutgoingCall): void {
    let frame: string;
    try {
      frame = this.transport.frameCall(entry);
    } catch (err) {
      fail(entry, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.outstanding = entry;
    entry.timer ??= setTimeout(() => this.onTimeout(entry), entry.timeoutMs);
    this.transport.writeCall(frame, entry);
  }

  /** Sends queued calls while nothing is outstanding. */
  sendNext(): void {
    while (this.outstanding === undefined && this.transport.canSendCalls() && this.queue.length > 0) {
      const entry = this.queue.shift() as OutgoingCall;
      // Its timer may not have run yet in this turn of the event loop.
      if (!entry.priority && entry.deadline <= Date.now()) fail(entry, new OcppTimeoutError(entry.action, entry.timeoutMs));
      else this.send(entry);
    }
  }

  /** The deadline of a call passed: unanswered, or still queued (then it is never sent). */
  private onTimeout(entry: OutgoingCall): void {
    entry.timer = undefined;
    const { identity, logger } = this.transport;
    if (this.outstanding === entry) {
      this.outstanding = undefined;
      logger.warn({ identity, action: entry.action, id: entry.id, timeoutMs: entry.timeoutMs }, 'OCPP call timed out');
      entry.reject(new OcppTimeoutError(entry.action, entry.timeoutMs));
      this.sendNext();
      return;
    }
    const at = this.queue.indexOf(entry);
    if (at < 0) return;
    this.queue.splice(at, 1);
    logger.warn({ identity, action: entry.action, timeoutMs: entry.timeoutMs }, 'OCPP call dropped unsent: its deadline passed while it waited in the queue');
    entry.reject(new OcppTimeoutError(entry.action, entry.timeoutMs));
  }

  /** Takes the outstanding call if `id` is its id. */
  take(id: unknown): OutgoingCall | undefined {
    const entry = this.outstanding;
    if (entry === undefined || entry.id !== id) return undefined;
    this.outstanding = undefined;
    if (entry.timer !== undefined) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    return entry;
  }

  /** Fails the outstanding call and every queued one (the connection is gone). */
  failAll(error: (action: string) => Error): void {
    const pending = this.outstanding;
    this.outstanding = undefined;
    if (pending) fail(pending, error(pending.action));
    for (const entry of this.queue.splice(0)) fail(entry, error(entry.action));
  }
}

function fail(entry: OutgoingCall, err: Error): void {
  if (entry.timer !== undefined) clearTimeout(entry.timer);
  entry.timer = undefined;
  entry.reject(err);
}
