import { createHash } from 'node:crypto';
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decodeJson, encodeJson } from './nats.js';
import { streams, subjects } from './subjects.js';

export interface TransactionStart {
  kind: 'start';
  chargerId: string;
  installationId: string;
  connectorId: number;
  idTag: string;
  meterStartWh: number;
  timestamp: string;
  reservationId?: number;
  recordedAt: string;
  nodeId: string;
}

export interface TransactionStop {
  kind: 'stop';
  chargerId: string;
  installationId: string;
  transactionId: number;
  /** False when the charger stopped a transaction this platform never started (still recorded). */
  known: boolean;
  idTag?: string;
  meterStopWh: number;
  timestamp: string;
  reason?: string;
  transactionData?: unknown[];
  recordedAt: string;
  nodeId: string;
}

export interface Transaction {
  transactionId: number;
  chargerId: string;
  installationId: string;
  connectorId: number;
  idTag: string;
  meterStartWh: number;
  startedAt: string;
  meterStopWh?: number;
  stoppedAt?: string;
  stopReason?: string;
  energyWh?: number;
}

/**
 * Transactions live in one JetStream stream. The stream sequence of a start record is the OCPP
 * transactionId: unique across every node without a counter, and written durably by the same
 * publish that allocates it. A retried StartTransaction (same charger, connector, tag, meter and
 * timestamp) carries the same Nats-Msg-Id, so JetStream answers with the original sequence.
 */
export class TransactionStore {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  async start(rec: Omit<TransactionStart, 'kind' | 'recordedAt'>): Promise<{ transactionId: number; duplicate: boolean }> {
    const msgID = digest(['start', rec.chargerId, rec.connectorId, rec.idTag, rec.meterStartWh, rec.timestamp]);
    const ack = await this.js.publish(subjects.txStart(rec.chargerId), encodeJson({ kind: 'start', ...rec, recordedAt: new Date().toISOString() }), { msgID });
    return { transactionId: ack.seq, duplicate: ack.duplicate };
  }

  async stop(rec: Omit<TransactionStop, 'kind' | 'recordedAt'>): Promise<void> {
    const msgID = digest(['stop', rec.chargerId, rec.transactionId, rec.meterStopWh, rec.timestamp]);
    await this.js.publish(subjects.txStop(rec.chargerId), encodeJson({ kind: 'stop', ...rec, recordedAt: new Date().toISOString() }), { msgID });
  }

  /** The start record of a transaction id, or undefined if that id is not a start of this charger. */
  async getStart(transactionId: number, chargerId?: string): Promise<TransactionStart | undefined> {
    if (!Number.isSafeInteger(transactionId) || transactionId <= 0) return undefined;
    const msg = await this.jsm.streams.getMessage(streams.transactions, { seq: transactionId }).catch(() => null);
    if (!msg || !subjects.isTxStart(msg.subject)) return undefined;
    const start = decodeJson<TransactionStart>(msg.data);
    return chargerId && start.chargerId !== chargerId ? undefined : start;
  }

  /** Transactions of one charger, or of all chargers matching `filter`, folded from start/stop records. */
  async list(opts: { chargerId?: string; installationId?: string; from?: Date; to?: Date; limit?: number }): Promise<Transaction[]> {
    const filter = opts.chargerId ? subjects.txOfCharger(opts.chargerId) : subjects.txAll;
    const consumer = await this.js.consumers.get(streams.transactions, {
      filter_subjects: filter,
      ...(opts.from ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: opts.from.toISOString() } : {}),
    });
    const info = await this.jsm.streams.info(streams.transactions, { subjects_filter: filter });
    const matching = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
    const byId = new Map<number, Transaction>();
    if (matching > 0) {
      const msgs = await consumer.fetch({ max_messages: 100_000, expires: 2_000 });
      for await (const m of msgs) {
        const rec = decodeJson<TransactionStart | TransactionStop>(m.data);
        if (opts.installationId && rec.installationId !== opts.installationId) {
          if (m.info.pending === 0) break;
          continue;
        }
        if (rec.kind === 'start') {
          byId.set(m.seq, {
            transactionId: m.seq,
            chargerId: rec.chargerId,
            installationId: rec.installationId,
            connectorId: rec.connectorId,
            idTag: rec.idTag,
            meterStartWh: rec.meterStartWh,
            startedAt: rec.timestamp,
          });
        } else {
          const tx = byId.get(rec.transactionId);
          if (tx) {
            tx.meterStopWh = rec.meterStopWh;
            tx.stoppedAt = rec.timestamp;
            if (rec.reason) tx.stopReason = rec.reason;
            tx.energyWh = rec.meterStopWh - tx.meterStartWh;
          }
        }
        if (m.info.pending === 0) break;
      }
    }
    let out = [...byId.values()];
    if (opts.to) out = out.filter((t) => new Date(t.startedAt) <= opts.to!);
    out.sort((a, b) => b.transactionId - a.transactionId);
    return out.slice(0, opts.limit ?? 100);
  }
}

function digest(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}
