/** What stands in for a secret wherever a payload is logged or returned. */
export const REDACTED = '[redacted]';

const SECRET_KEY = /^authorizationkey$/i;

/**
 * A copy of an OCPP payload with every AuthorizationKey value replaced: the `{ key, value }` of a
 * ChangeConfiguration call and each `{ key, value }` of a GetConfiguration answer alike, whatever
 * the key's case (chargers treat configuration keys case-insensitively). The one redaction used
 * before any payload is logged, stored in the message log or returned by the API.
 */
export function redactOcppPayload(payload: unknown): unknown {
  if (Array.isArray(payload)) return payload.map(redactOcppPayload);
  if (typeof payload !== 'object' || payload === null) return payload;
  const obj = payload as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = redactOcppPayload(v);
  if (typeof obj.key === 'string' && SECRET_KEY.test(obj.key) && 'value' in obj) out.value = REDACTED;
  return out;
}
