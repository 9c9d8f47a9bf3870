import type { Bus } from '../core/nats.js';
import { decodeJson } from '../core/nats.js';
import { redactOcppPayload } from '../core/redact.js';
import { streams, subjects } from '../core/subjects.js';

/** One OCPP message as the OCPP layer stores it in the OCPP_LOG stream. */
export interface OcppLogEntry {
  chargerId: string;
  direction: 'in' | 'out';
  type: 'CALL' | 'CALLRESULT' | 'CALLERROR';
  id: string;
  action?: string;
  payload: unknown;
  at: string;
}

/** Entries stored before every payload was redacted on the way in are redacted on the way out. */
export function redactEntry(e: OcppLogEntry): OcppLogEntry {
  return { ...e, payload: redactOcppPayload(e.payload) };
}

/**
 * The newest `limit` messages of one charger, oldest first. The subject count is checked first, so an
 * empty log never waits for the fetch to expire (nats-server 2.9 takes one filter subject, not a list).
 */
export async function readOcppLog(bus: Bus, chargerId: string, limit: number): Promise<(OcppLogEntry & { seq: number })[]> {
  const filter = subjects.ocppLog(chargerId);
  const info = await bus.jsm.streams.info(streams.ocppLog, { subjects_filter: filter });
  const matching = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  if (matching === 0) return [];
  const consumer = await bus.js.consumers.get(streams.ocppLog, { filter_subjects: filter });
  const out: (OcppLogEntry & { seq: number })[] = [];
  const msgs = await consumer.fetch({ max_messages: Math.max(matching, 1) + 100, expires: 2_000 });
  for await (const m of msgs) {
    try {
      out.push({ ...redactEntry(decodeJson<OcppLogEntry>(m.data)), seq: m.seq });
    } catch {
      // A malformed entry is skipped rather than failing the whole log.
    }
    if (out.length > limit) out.shift();
    if (m.info.pending === 0) break;
  }
  return out;
}
