import { createHash } from 'node:crypto';
import type { JetStreamClient, JetStreamManager, MsgRequest, StoredMsg } from '@nats-io/jetstream';
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
  /** False when the charger stopped a transaction this platform never started for it (still recorded). */
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

export interface TransactionQuery {
  chargerId?: string;
  installationId?: string;
  /** Cursor: only transactions with a smaller id (the `next` of the previous page). */
  before?: number;
  from?: Date;
  to?: Date;
  limit?: number;
  /** Any further condition (the caller's scope); applied before the limit, so pages stay full. */
  where?: (t: Transaction) => boolean;
}

export interface TransactionPage {
  /** Newest first. */
  items: Transaction[];
  /** Pass as `before` for the next page; absent on the last page. */
  next?: number;
}

/** The first window read backwards; it doubles until a page is full or the stream's start is reached. */
const FIRST_WINDOW = 1_024;
/**
 * Records written before starts and stops carried the installation (`tx.start.<chargerId>`) are
 * folded the old way, in one read of at most this many: they no longer grow, so the cap is a
 * fixed, documented bound on history from before the upgrade (README "Transactions").
 */
const LEGACY_READ_MAX = 100_000;

/**
 * Transactions live in one JetStream stream. The stream sequence of a start record is the OCPP
 * transactionId: unique across every node without a counter, and written durably by the same
 * publish that allocates it. A retried StartTransaction (same charger, connector, tag, meter and
 * timestamp) carries the same Nats-Msg-Id, so JetStream answers with the original sequence.
 * Starts are filed under their installation and charger, stops under the start's installation,
 * charger and transaction id: a list reads one installation's starts newest first and finds each
 * stop with one lookup, and a stop from another charger never lands on the start's subject.
 */
export class TransactionStore {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  async start(rec: Omit<TransactionStart, 'kind' | 'recordedAt'>): Promise<{ transactionId: number; duplicate: boolean }> {
    const msgID = digest(['start', rec.chargerId, rec.connectorId, rec.idTag, rec.meterStartWh, rec.timestamp]);
    const ack = await this.js.publish(subjects.txStart(rec.installationId, rec.chargerId), encodeJson({ kind: 'start', ...rec, recordedAt: new Date().toISOString() }), { msgID });
    return { transactionId: ack.seq, duplicate: ack.duplicate };
  }

  /**
   * Records a stop. Only a stop from the charger that started the transaction closes it; any other
   * is kept as `known: false` under the stopping charger, where no list looks for the start's stop.
   */
  async stop(rec: Omit<TransactionStop, 'kind' | 'recordedAt'>): Promise<void> {
    const start = await this.getStart(rec.transactionId, rec.chargerId);
    const installationId = start?.installationId ?? rec.installationId;
    const msgID = digest(['stop', rec.chargerId, rec.transactionId, rec.meterStopWh, rec.timestamp]);
    const body = { kind: 'stop', ...rec, installationId, known: rec.known && !!start, recordedAt: new Date().toISOString() };
    await this.js.publish(subjects.txStop(installationId, rec.chargerId, rec.transactionId), encodeJson(body), { msgID });
  }

  /** The start record of a transaction id, or undefined if that id is not a start (of this charger). */
  async getStart(transactionId: number, chargerId?: string): Promise<TransactionStart | undefined> {
    if (!Number.isSafeInteger(transactionId) || transactionId <= 0) return undefined;
    // "No message found" is null (the client's answer); any other failure (a stream election after a
    // server died) throws: swallowed, a stop was filed as `known: false` and its transaction listed as
    // never stopped. The charger retries the refused message; a listing answers 500, not a partial 200.
    const msg = await this.jsm.streams.getMessage(streams.transactions, { seq: transactionId });
    if (!msg || !subjects.isTxStart(msg.subject)) return undefined;
    const start = decodeJson<TransactionStart>(msg.data);
    return chargerId && start.chargerId !== chargerId ? undefined : start;
  }

  /** The first page (see `page`). */
  async list(q: TransactionQuery): Promise<Transaction[]> {
    return (await this.page(q)).items;
  }

  /** One page of one charger's or one installation's transactions, newest first. */
  async page(q: TransactionQuery): Promise<TransactionPage> {
    const limit = q.limit ?? 100;
    const filter = q.chargerId ? subjects.txStartsOfCharger(q.chargerId) : q.installationId ? subjects.txStartsOfInstallation(q.installationId) : subjects.txStarts;
    const accept = (t: Transaction): boolean =>
      (!q.installationId || t.installationId === q.installationId) &&
      (!q.from || Date.parse(t.startedAt) >= q.from.getTime()) &&
      (!q.to || Date.parse(t.startedAt) <= q.to.getTime()) &&
      (!q.where || q.where(t));
    // One more than asked: whether it exists decides whether there is a next page.
    const found = await this.startsBackward(filter, q.before, limit + 1, accept, q.from);
    if (found.length <= limit) found.push(...(await this.legacy(q, accept)).filter((t) => q.before === undefined || t.transactionId < q.before));
    found.sort((a, b) => b.transactionId - a.transactionId);
    const items = found.slice(0, limit);
    await Promise.all(items.filter((t) => t.stoppedAt === undefined).map((t) => this.attachStop(t)));
    return { items, ...(found.length > limit ? { next: items[items.length - 1]!.transactionId } : {}) };
  }

  /**
   * Starts matching `filter` below `before`, newest first, read in windows of stream sequences that
   * double going back; the server skips what does not match, so a quiet installation in a busy
   * stream costs a few lookups per window. `from` stops the walk once records are older than it.
   */
  private async startsBackward(filter: string, before: number | undefined, want: number, accept: (t: Transaction) => boolean, from?: Date): Promise<Transaction[]> {
    const info = await this.jsm.streams.info(streams.transactions);
    const first = Math.max(1, info.state.first_seq);
    let hi = Math.min(info.state.last_seq, (before ?? Number.MAX_SAFE_INTEGER) - 1);
    const out: Transaction[] = [];
    for (let window = FIRST_WINDOW; hi >= first && out.length < want; window *= 2) {
      const lo = Math.max(first, hi - window + 1);
      const batch: StoredMsg[] = [];
      for (let seq = lo; seq <= hi; ) {
        const m = await this.jsm.streams.getMessage(streams.transactions, { seq, next_by_subj: filter } as unknown as MsgRequest);
        if (!m || m.seq > hi) break;
        batch.push(m);
        seq = m.seq + 1;
      }
      for (const m of batch.reverse()) {
        const rec = decodeJson<TransactionStart>(m.data);
        if (from && Date.parse(rec.recordedAt) < from.getTime()) return out;
        const t = fromStart(m.seq, rec);
        if (accept(t)) out.push(t);
        if (out.length >= want) return out;
      }
      hi = lo - 1;
    }
    return out;
  }

  /** The stop filed under the start's installation, charger and id, if any. */
  private async attachStop(t: Transaction): Promise<void> {
    const msg = await this.jsm.streams.getMessage(streams.transactions, { last_by_subj: subjects.txStop(t.installationId, t.chargerId, t.transactionId) });
    if (msg) applyStop(t, decodeJson<TransactionStop>(msg.data));
  }

  /** Transactions from records of the previous subject layout (see LEGACY_READ_MAX). */
  private async legacy(q: TransactionQuery, accept: (t: Transaction) => boolean): Promise<Transaction[]> {
    const filter = q.chargerId ? subjects.txLegacyOfCharger(q.chargerId) : subjects.txLegacy;
    const info = await this.jsm.streams.info(streams.transactions, { subjects_filter: filter });
    const matching = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
    if (matching === 0) return [];
    const consumer = await this.js.consumers.get(streams.transactions, { filter_subjects: filter });
    const byId = new Map<number, Transaction>();
    const msgs = await consumer.fetch({ max_messages: Math.min(matching, LEGACY_READ_MAX), expires: 2_000 });
    for await (const m of msgs) {
      const rec = decodeJson<TransactionStart | TransactionStop>(m.data);
      if (rec.kind === 'start') byId.set(m.seq, fromStart(m.seq, rec));
      else {
        const tx = byId.get(rec.transactionId);
        if (tx) applyStop(tx, rec);
      }
      if (m.info.pending === 0) break;
    }
    return [...byId.values()].filter(accept);
  }
}

function fromStart(seq: number, rec: TransactionStart): Transaction {
  return {
    transactionId: seq,
    chargerId: rec.chargerId,
    installationId: rec.installationId,
    connectorId: rec.connectorId,
    idTag: rec.idTag,
    meterStartWh: rec.meterStartWh,
    startedAt: rec.timestamp,
  };
}

/** A stop closes a transaction only if the same charger sent it (old records carry no such guarantee). */
function applyStop(tx: Transaction, rec: TransactionStop): void {
  if (rec.chargerId !== tx.chargerId || rec.known === false) return;
  tx.meterStopWh = rec.meterStopWh;
  tx.stoppedAt = rec.timestamp;
  if (rec.reason) tx.stopReason = rec.reason;
  tx.energyWh = rec.meterStopWh - tx.meterStartWh;
}

function digest(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}
