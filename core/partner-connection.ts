import type { NatsConnection } from '@nats-io/transport-node';
import { decodeJson, encodeJson } from './nats.js';
import { classifyNatsError } from './nats-errors.js';
import { subjects } from './subjects.js';

/**
 * A charger's connection to the partner's Central System ("OCPP authorization"), as the status shows
 * it. The node running the charger's partner session answers `partner.conn.<chargerId>`; the API asks
 * whichever node that is, so every node's API shows every charger.
 *
 * - `disabled`: the installation has no partner (OCPP authorization off);
 * - `offline`: no node runs a partner session for the charger (it is not connected to the platform);
 * - `connecting`: opening the WebSocket or waiting for the BootNotification answer (a failed
 *   BootNotification is retried at `retryAt`);
 * - `connected`: BootNotification Accepted, `since` then;
 * - `pending` / `rejected`: the partner answered BootNotification so; it boots again at `retryAt`;
 * - `backoff`: the connection failed or closed (`reason`), the next attempt is at `retryAt`;
 * - `given-up`: the bridge does not try until the configuration changes (no usable partner URL, or
 *   one PARTNER_URL_ALLOW refuses);
 * - `unknown`: the node holding the session did not answer in time.
 */
export type PartnerConnectionKind = 'disabled' | 'offline' | 'connecting' | 'connected' | 'pending' | 'rejected' | 'backoff' | 'given-up' | 'unknown';

export const PARTNER_CONNECTION_KINDS: readonly PartnerConnectionKind[] = ['disabled', 'offline', 'connecting', 'connected', 'pending', 'rejected', 'backoff', 'given-up', 'unknown'];

export interface PartnerConnectionState {
  state: PartnerConnectionKind;
  /** When the session entered this state (ISO), null when no session runs. */
  since: string | null;
  reason: string | null;
  /** When the session tries again (backoff, pending, rejected, a failed boot), else null. */
  retryAt: string | null;
  /** Failed connection attempts in a row (the backoff exponent), null when no session runs. */
  attempt: number | null;
  /** NODE_ID of the node running the partner session. */
  nodeId: string | null;
}

const PARTNER_CONNECTION_TIMEOUT_MS = 1_000;

export function partnerConnectionState(state: PartnerConnectionKind, more: Partial<Omit<PartnerConnectionState, 'state'>> = {}): PartnerConnectionState {
  return { state, since: null, reason: null, retryAt: null, attempt: null, nodeId: null, ...more };
}

export const PARTNER_DISABLED = partnerConnectionState('disabled');

/** Asks the node that has the charger's partner session; no responder means no node has it. */
export async function requestPartnerConnection(nc: NatsConnection, chargerId: string, timeoutMs = PARTNER_CONNECTION_TIMEOUT_MS): Promise<PartnerConnectionState> {
  try {
    const msg = await nc.request(subjects.partnerConnection(chargerId), encodeJson({}), { timeout: timeoutMs });
    const reply = decodeJson<Partial<PartnerConnectionState>>(msg.data);
    if (typeof reply !== 'object' || reply === null || !PARTNER_CONNECTION_KINDS.includes(reply.state as PartnerConnectionKind)) {
      return partnerConnectionState('unknown', { reason: 'unreadable answer from the node' });
    }
    return partnerConnectionState(reply.state as PartnerConnectionKind, {
      since: str(reply.since),
      reason: str(reply.reason),
      retryAt: str(reply.retryAt),
      attempt: typeof reply.attempt === 'number' ? reply.attempt : null,
      nodeId: str(reply.nodeId),
    });
  } catch (err) {
    const kind = classifyNatsError(err);
    if (kind === 'no-responders') return partnerConnectionState('offline', { reason: 'charger not connected to the platform: no partner session' });
    if (kind === 'timeout') return partnerConnectionState('unknown', { reason: 'the node with the partner session did not answer in time' });
    return partnerConnectionState('unknown', { reason: 'request failed' });
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
