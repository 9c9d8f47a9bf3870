import type WebSocket from 'ws';
import { MAX_ACTION_LENGTH, MAX_MESSAGE_ID_LENGTH } from './rpc-types.js';

/**
 * OCPP-J 1.6 framing (section 4): `[2, id, action, payload]`, `[3, id, payload]`,
 * `[4, id, code, description, details]`. Reading a frame checks its shape only; the payload's schema
 * is the connection's business.
 */

export const CALL = 2;
export const CALLRESULT = 3;
export const CALLERROR = 4;

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function rawToString(data: WebSocket.RawData): string {
  // No arguments: Buffer's shortest path to UTF-8 (with an encoding it checks start, end and the name first).
  if (Buffer.isBuffer(data)) return data.toString();
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

/** Where a read frame goes. Called at most once per frame. */
export interface FrameSink {
  /** Every frame that is not a reply costs a token; false: refused (and already answered). */
  takeRateToken(id: string): boolean;
  onCall(id: string, action: string, payload: Record<string, unknown>): void;
  onCallResult(id: string, payload: Record<string, unknown>): void;
  onCallError(id: string, code: string, description: string, details: Record<string, unknown>): void;
  /** Answered with a CALLERROR FormationViolation (id '-1' when the frame's id is unusable). */
  formationViolation(id: string, description: string, action?: string): void;
  /** A reply that is not well formed: never answered. */
  malformedReply(id: string, description: string): void;
}

/** Reads one WebSocket message and hands it to `sink`. */
export function readFrame(data: WebSocket.RawData, sink: FrameSink): void {
  let msg: unknown;
  try {
    msg = JSON.parse(rawToString(data));
  } catch {
    sink.formationViolation('-1', 'Message is not valid JSON');
    return;
  }
  if (!Array.isArray(msg)) {
    sink.formationViolation('-1', 'Message is not a JSON array');
    return;
  }
  const type: unknown = msg[0];
  const id: unknown = msg[1];
  // Replies answer our own calls (bounded by us); everything else costs an answer and is rate limited.
  const isReply = type === CALLRESULT || type === CALLERROR;
  if (!isReply && !sink.takeRateToken(typeof id === 'string' && id.length <= MAX_MESSAGE_ID_LENGTH ? id : '-1')) return;
  if (typeof id !== 'string') {
    sink.formationViolation('-1', 'Message id must be a string');
    return;
  }
  if (id.length > MAX_MESSAGE_ID_LENGTH) {
    if (!isReply) sink.formationViolation('-1', `Message id longer than ${MAX_MESSAGE_ID_LENGTH} characters`);
    return;
  }
  if (type === CALL) {
    if (msg.length !== 4) return sink.formationViolation(id, `A CALL has 4 elements, got ${msg.length}`);
    const action: unknown = msg[2];
    if (typeof action !== 'string') return sink.formationViolation(id, 'A CALL action must be a string');
    if (action.length > MAX_ACTION_LENGTH) return sink.formationViolation(id, `A CALL action is at most ${MAX_ACTION_LENGTH} characters`);
    const payload: unknown = msg[3];
    if (!isObject(payload)) return sink.formationViolation(id, 'A CALL payload must be a JSON object', action);
    sink.onCall(id, action, payload);
  } else if (type === CALLRESULT) {
    const payload: unknown = msg[2];
    if (msg.length !== 3 || !isObject(payload)) {
      return sink.malformedReply(id, msg.length !== 3 ? `A CALLRESULT has 3 elements, got ${msg.length}` : 'A CALLRESULT payload must be a JSON object');
    }
    sink.onCallResult(id, payload);
  } else if (type === CALLERROR) {
    const [, , code, description, details] = msg as unknown[];
    if (msg.length !== 5 || typeof code !== 'string' || typeof description !== 'string' || !isObject(details)) {
      return sink.malformedReply(id, 'A CALLERROR is [4, id, code (string), description (string), details (object)]');
    }
    sink.onCallError(id, code, description, details);
  } else {
    sink.formationViolation(id, `Unknown message type ${JSON.stringify(type) ?? String(type)}`);
  }
}
