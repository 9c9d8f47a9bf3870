import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { decodeJson } from '../core/nats.js';
import type { PartnerQueue, QueueEntry } from '../core/partner-queue.js';

/**
 * Delivery of the north queue to the partner: one message at a time per charger, in order, with
 * the TransactionMessageAttempts / TransactionMessageRetryInterval policy.
 */

/** What delivering one entry came to. */
export type DeliveryOutcome =
  /** The partner answered: acknowledge and remove. */
  | 'delivered'
  /** The connection went away: the entry waits for the next connection, no attempt spent. */
  | 'offline'
  /** The partner failed it (CALLERROR or no answer): retry per TransactionMessageAttempts. */
  | 'failed'
  /** It can never be delivered (e.g. its transaction was never known to the partner). */
  | 'dropped';

export interface RetryPolicy {
  /** TransactionMessageAttempts: tries in all, >= 1. */
  attempts: number;
  /** TransactionMessageRetryInterval (s): the wait before retry n is n times this. */
  retryIntervalS: number;
}

/** Why a message stopped being delivered: too many failures, or its transaction is unknown to the partner. */
export type GiveUpReason = 'attempts' | 'undeliverable';

export interface DeliveryLoop {
  /** False once the session left the state in which it may deliver. */
  active(): boolean;
  deliver(entry: QueueEntry): Promise<DeliveryOutcome>;
  /** Failed attempts per stream sequence, kept by the session across redeliveries. */
  readonly attempts: Map<number, number>;
  policy(): RetryPolicy;
  /** `seq`: where the message stays in NORTH_QUEUE for the operator. */
  onGiveUp(entry: QueueEntry, reason: GiveUpReason, detail: string, seq: number): void;
  onError(err: unknown): void;
  /** Hears of each message taken from the queue: settles once it is answered and acknowledged (or handed back). */
  inFlight?(done: Promise<unknown>): void;
}

const PULL_EXPIRES_MS = 2_000;

/**
 * Delivers a charger's queue, one message at a time and in order, while `loop.active()`. A failed
 * message is negatively acknowledged with the retry delay, so JetStream itself holds it back and
 * hands it out again first (nothing else can overtake it with one message in flight).
 */
export async function runDelivery(queue: PartnerQueue, chargerId: string, loop: DeliveryLoop): Promise<void> {
  let consumer: Consumer;
  try {
    consumer = await queue.consumer(chargerId);
  } catch (err) {
    loop.onError(err);
    return;
  }
  while (loop.active()) {
    let msg: JsMsg | null;
    try {
      msg = await consumer.next({ expires: PULL_EXPIRES_MS });
    } catch (err) {
      if (loop.active()) loop.onError(err);
      return;
    }
    if (!msg) continue;
    if (!loop.active()) {
      msg.nak();
      return;
    }
    const one = withProgress(msg, queue.ackWaitMs, deliverOne(queue, msg, loop));
    loop.inFlight?.(one);
    let outcome: DeliveryOutcome;
    try {
      outcome = await one;
    } catch (err) {
      // An ack / nak refused by a closing connection: the message comes back after the ack wait.
      loop.onError(err);
      return;
    }
    if (outcome === 'offline') return;
  }
}

/**
 * Tells JetStream "still working" while the partner takes its time, so the short ack wait lapses only
 * when this node is gone (then the node now holding the charger gets the message at once).
 */
async function withProgress<T>(msg: JsMsg, ackWaitMs: number, work: Promise<T>): Promise<T> {
  const timer = setInterval(() => {
    try {
      msg.working();
    } catch {
      // NATS is closing or gone: without the signal the message is handed out again after the ack wait.
    }
  }, Math.max(100, Math.floor(ackWaitMs / 3)));
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

async function deliverOne(queue: PartnerQueue, msg: JsMsg, loop: DeliveryLoop): Promise<DeliveryOutcome> {
  let entry: QueueEntry;
  try {
    entry = decodeJson<QueueEntry>(msg.data);
  } catch {
    msg.term();
    await queue.remove(msg.seq);
    return 'dropped';
  }
  const outcome = await loop.deliver(entry).catch((err: unknown) => {
    loop.onError(err);
    return 'failed' as const;
  });
  if (outcome === 'offline') {
    msg.nak();
    return outcome;
  }
  if (outcome === 'failed') {
    const { attempts, retryIntervalS } = loop.policy();
    const n = (loop.attempts.get(msg.seq) ?? 0) + 1;
    if (n < attempts) {
      loop.attempts.set(msg.seq, n);
      msg.nak(Math.max(0, retryIntervalS * n * 1000));
      return outcome;
    }
    return giveUp(msg, entry, loop, 'attempts', `failed ${n} time(s) (TransactionMessageAttempts=${attempts})`);
  } else if (outcome === 'dropped') {
    return giveUp(msg, entry, loop, 'undeliverable', 'its transaction is not known to the partner');
  }
  loop.attempts.delete(msg.seq);
  await msg.ackAck().catch(() => msg.ack());
  await queue.remove(msg.seq);
  return outcome;
}

/**
 * The consumer moves past a message it gives up on, but the message stays in NORTH_QUEUE (terminated,
 * not deleted): billing data is never thrown away, and the operator can see and resend it. So do the
 * later messages of a transaction whose StartTransaction was given up.
 */
function giveUp(msg: JsMsg, entry: QueueEntry, loop: DeliveryLoop, reason: GiveUpReason, detail: string): DeliveryOutcome {
  loop.attempts.delete(msg.seq);
  // No reason text: nats-server 2.9 does not understand "+TERM <reason>" and would leave the message pending.
  msg.term();
  loop.onGiveUp(entry, reason, detail, msg.seq);
  return 'dropped';
}
