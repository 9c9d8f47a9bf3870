import { PlatformError } from '../core/errors.js';

/** Every duration and default of the partner bridge, so tests can run it fast and operators tune it. */
export interface PartnerSettings {
  /** Timeout of each OCPP call to the partner. */
  callTimeoutMs: number;
  /** WebSocket handshake timeout. */
  connectTimeoutMs: number;
  /** Reconnect backoff: doubles from min to max, with jitter. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** WebSocketPingInterval when a charger has `ocpp.webSocketPing` on and the partner set nothing. */
  pingIntervalS: number;
  /** Heartbeat interval when the partner's BootNotification answer says 0. */
  defaultHeartbeatS: number;
  /** Next BootNotification after a failed one, or Pending/Rejected with interval 0. */
  bootRetryS: number;
  /** Defaults of TransactionMessageAttempts / TransactionMessageRetryInterval. */
  transactionMessageAttempts: number;
  transactionMessageRetryIntervalS: number;
  /** How long a charger's Authorize waits for the partner before the fallback answers. */
  authorizeTimeoutMs: number;
  /** A partner answer this recent is reused without asking again (Authorize then StartTransaction). */
  authCacheFreshMs: number;
  /** Partner answers older than this are not used as the offline fallback. */
  authCacheMaxAgeMs: number;
  /** After the charger disconnects, the partner session stays this long (queue delivery, quick reconnects). */
  lingerMs: number;
  /** Publish the partner session's OCPP log. */
  ocppLog: boolean;
  /** PARTNER_URL_ALLOW (core/config.ts); undefined: any host but internal addresses. */
  urlAllow?: readonly string[] | undefined;
}

export const DEFAULT_PARTNER_SETTINGS: PartnerSettings = {
  callTimeoutMs: 30_000,
  connectTimeoutMs: 15_000,
  reconnectMinMs: 1_000,
  reconnectMaxMs: 120_000,
  pingIntervalS: 30,
  defaultHeartbeatS: 300,
  bootRetryS: 30,
  transactionMessageAttempts: 3,
  transactionMessageRetryIntervalS: 60,
  authorizeTimeoutMs: 5_000,
  authCacheFreshMs: 60_000,
  authCacheMaxAgeMs: 24 * 3600 * 1000,
  lingerMs: 10_000,
  ocppLog: true,
};

const ENV: Record<Exclude<keyof PartnerSettings, 'ocppLog' | 'urlAllow'>, string> = {
  callTimeoutMs: 'PARTNER_CALL_TIMEOUT_MS',
  connectTimeoutMs: 'PARTNER_CONNECT_TIMEOUT_MS',
  reconnectMinMs: 'PARTNER_RECONNECT_MIN_MS',
  reconnectMaxMs: 'PARTNER_RECONNECT_MAX_MS',
  pingIntervalS: 'PARTNER_PING_INTERVAL_S',
  defaultHeartbeatS: 'PARTNER_DEFAULT_HEARTBEAT_S',
  bootRetryS: 'PARTNER_BOOT_RETRY_S',
  transactionMessageAttempts: 'PARTNER_TX_MESSAGE_ATTEMPTS',
  transactionMessageRetryIntervalS: 'PARTNER_TX_MESSAGE_RETRY_INTERVAL_S',
  authorizeTimeoutMs: 'PARTNER_AUTHORIZE_TIMEOUT_MS',
  authCacheFreshMs: 'PARTNER_AUTH_CACHE_FRESH_MS',
  authCacheMaxAgeMs: 'PARTNER_AUTH_CACHE_MAX_AGE_MS',
  lingerMs: 'PARTNER_LINGER_MS',
};

/** `PARTNER_*` environment variables over the defaults; `ocppLog` follows the node's OCPP_LOG. */
export function partnerSettingsFromEnv(env: NodeJS.ProcessEnv, ocppLog = true): PartnerSettings {
  const out: PartnerSettings = { ...DEFAULT_PARTNER_SETTINGS, ocppLog };
  for (const [field, name] of Object.entries(ENV) as [Exclude<keyof PartnerSettings, 'ocppLog' | 'urlAllow'>, string][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0 || n > 864_000_000) throw new PlatformError('CONFIG', `${name} must be a non-negative number, got "${raw}"`);
    out[field] = n;
  }
  if (out.reconnectMaxMs < out.reconnectMinMs) throw new PlatformError('CONFIG', 'PARTNER_RECONNECT_MAX_MS must be >= PARTNER_RECONNECT_MIN_MS');
  return out;
}
