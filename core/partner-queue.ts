import { createHash } from 'node:crypto';
import { AckPolicy, DeliverPolicy, type Consumer, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { encodeJson } from './nats.js';
import { consumers, streams, subjects } from './subjects.js';
import type { RequestOf } from '../ocpp/actions.js';

/**
 * The north outbound queue: transaction messages for the partner, one JetStream subject per charger
 * (`north.<chargerId>` on NORTH_QUEUE), written durably before the charger hears its answer and
 * delivered in order by one durable consumer per charger. `max_ack_pending: 1` keeps one message in
 * flight cluster-wide, so order holds even when the charger (and its partner session) moves to
 * another node; a message is acknowledged only once the partner answered it, then removed.
 * This is the store; delivering it to the partner is `north/partner-delivery.ts`.
 */

/**
 * How long a delivered message may go without an ack or a progress signal before JetStream hands it
 * out again. Short on purpose: the node delivering it says "still working" (`+WPI`) every third of
 * this while the partner takes its time, so only a node that died (or lost NATS) lets it lapse, and
 * the node now holding the charger gets the message within seconds, not after a call timeout (it was
 * max(60 s, 2 x PARTNER_CALL_TIMEOUT_MS): a charger's whole queue stalled for a minute after a crash).
 */
export const NORTH_ACK_WAIT_MS = 5_000;

export type QueueEntry =
  | { kind: 'start'; transactionId: number; request: RequestOf<'StartTransaction'>; enqueuedAt: string }
  | { kind: 'meter'; transactionId: number; request: RequestOf<'MeterValues'>; enqueuedAt: string }
  | { kind: 'stop'; transactionId: number; request: RequestOf<'StopTransaction'>; enqueuedAt: string };

function msgId(chargerId: string, entry: QueueEntry): string {
  if (entry.kind !== 'meter') return `${entry.kind}-${chargerId}-${entry.transactionId}`;
  return `meter-${chargerId}-${createHash('sha256').update(JSON.stringify(entry.request)).digest('hex').slice(0, 24)}`;
}

export class PartnerQueue {
  private readonly ensured = new Set<string>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly ackWaitMs: number = NORTH_ACK_WAIT_MS,
  ) {}

  /**
   * Durable before it resolves. A charger retrying the same message (same transaction, same meter
   * values) within the stream's duplicate window is stored once (Nats-Msg-Id).
   */
  async enqueue(chargerId: string, entry: QueueEntry): Promise<void> {
    await this.js.publish(subjects.northQueue(chargerId), encodeJson(entry), { msgID: msgId(chargerId, entry) });
  }

  async consumer(chargerId: string): Promise<Consumer> {
    const name = consumers.northQueue(chargerId);
    if (!this.ensured.has(name)) {
      const config = {
        durable_name: name,
        filter_subject: subjects.northQueue(chargerId),
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 1,
        ack_wait: this.ackWaitMs * 1_000_000,
      };
      try {
        await this.jsm.consumers.add(streams.northQueue, config);
      } catch {
        await this.jsm.consumers.update(streams.northQueue, name, { ack_wait: config.ack_wait, max_ack_pending: 1 });
      }
      this.ensured.add(name);
    }
    return this.js.consumers.get(streams.northQueue, name);
  }

  async remove(seq: number): Promise<void> {
    await this.jsm.streams.deleteMessage(streams.northQueue, seq, false).catch(() => false);
  }
}
