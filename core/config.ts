import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { PlatformError } from './errors.js';
import { DEFAULT_OCPP_LOG_MAX_BYTES, DEFAULT_OCPP_LOG_MAX_PER_SUBJECT } from './nats.js';
import { parseSecretsKey } from './secret-box.js';

/** A node's configuration, read from the environment once, validated here, typed after. */
export interface NodeConfig {
  /** One NATS server URL or a comma-separated list of a cluster's servers. */
  natsUrl: string | undefined;
  /** NATS_USER / NATS_PASS for a NATS server that requires them. */
  natsAuth: { user: string; pass: string } | undefined;
  /** Replicas of every KV bucket and stream the platform creates (3 on a 3-server cluster). */
  natsReplicas: number;
  apiPort: number;
  ocppPort: number;
  host: string;
  adminToken: string;
  /** True when ADMIN_TOKEN was unset and one was generated for this run. */
  adminTokenGenerated: boolean;
  dataDir: string;
  /** SECRETS_KEY (32 bytes); unset: a key file in DATA_DIR, for a single node. */
  secretsKey: Buffer | undefined;
  nodeId: string;
  /** PARTNER_URL_ALLOW: hosts partner connections may go to; undefined = any but internal addresses. */
  heartbeatIntervalS: number;
  pingIntervalMs: number;
  callTimeoutMs: number;
  maxFrameBytes: number;
  /** Per charger connection: sustained incoming calls per second (0 = off) and burst. */
  ocppCallRate: number;
  ocppCallBurst: number;
  /** Failed OCPP handshake authentications per address within the window before it gets 429 (0 = off). */
  ocppAuthFailures: number;
  ocppAuthWindowMs: number;
  /** Per charger connection: outgoing calls waiting behind the outstanding one. */
  ocppMaxQueuedCalls: number;
  /** OCPP_LOG=on: Heartbeat and MeterValues only in a charger's verbose window; all: everything; off: nothing. */
  ocppLog: boolean;
  ocppLogAll: boolean;
  /** Bounds of the OCPP message log stream: bytes in all, messages per charger (and side). */
  ocppLogMaxBytes: number;
  ocppLogMaxPerCharger: number;
  /** Interval told to a charger answered Pending. */
  pendingIntervalS: number;
  /** A charger is silent after its heartbeat interval plus this, checked once per interval. */
  livenessGraceS: number;
  /** Meter events go on the bus when a terminal current moves by this much, or when the last is this old. */
  meterEventDeltaA: number;
  meterEventMaxAgeMs: number;
  /** An unchanged reading above the accepted limit goes again at most this often (the first after each accept at once). */
  meterEventOverLimitRepeatMs: number;
  logLevel: string;
  /** V8_OPTIMIZE_FOR_SIZE: V8's size heap mode while the node is quiet (auto), always (on) or never (off); core/heap-mode.ts. */
  v8OptimizeForSize: 'auto' | 'on' | 'off';
  /** V8_PRETENURING: V8's allocation-site pretenuring (off by default); core/heap-mode.ts. */
  v8Pretenuring: boolean;
  /** The API port's exposure: who is the client behind a proxy, how long a request may take, how many sockets. */
  api: {
    /** Fastify's `trustProxy`: false, a hop count, or the proxies' addresses/CIDRs. */
    trustProxy: false | number | string[];
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    /** Installation ids as labels of the unauthenticated /metrics (off: labels are dropped). */
    metricsInstallationLabels: boolean;
  };
  /** The OCPP port's HTTP server: a handshake must arrive in time; sockets are capped. */
  ocppHttp: {
    handshakeTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
  };
  /** The partner OCPP bridge (PARTNER_* variables). */
  partner: PartnerSettings;
  balancer: {
    leaseTtlMs: number;
    /** Events arriving within this window are handled by one recompute. */
    coalesceMs: number;
    profileTimeoutMs: number;
    /** A charger that has not answered a SetChargingProfile this long is late: counted off the top. */
    lateAfterMs: number;
    retryMs: number;
    reclaimAfterMs: number;
    reclaimHeadroomA: number;
    reclaimThresholdA: number;
    /**
     * METER_EVENT_DELTA_A as the balancer sees it: a reading it holds may be this far from the
     * charger's latest sample (smaller moves are not republished), so under-draw is timed from a
     * reading within this of the reclaim threshold; the reclaim itself still needs the threshold.
     */
    meterSlackA: number;
  };
}

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
  /** Publish the partner session's OCPP log (follows OCPP_LOG). */
  ocppLog: boolean;
  /** PARTNER_URL_ALLOW; undefined: any host but internal addresses. */
  urlAllow: readonly string[] | undefined;
}

/** Partner settings are durations and counts up to ten days. */
const PARTNER_MAX = 864_000_000;

function partnerSettings(env: NodeJS.ProcessEnv, ocppLog: boolean): PartnerSettings {
  const p = (name: string, fallback: number): number => num(env, name, fallback, 0, PARTNER_MAX);
  const settings: PartnerSettings = {
    callTimeoutMs: p('PARTNER_CALL_TIMEOUT_MS', 30_000),
    connectTimeoutMs: p('PARTNER_CONNECT_TIMEOUT_MS', 15_000),
    reconnectMinMs: p('PARTNER_RECONNECT_MIN_MS', 1_000),
    reconnectMaxMs: p('PARTNER_RECONNECT_MAX_MS', 120_000),
    pingIntervalS: p('PARTNER_PING_INTERVAL_S', 30),
    defaultHeartbeatS: p('PARTNER_DEFAULT_HEARTBEAT_S', 300),
    bootRetryS: p('PARTNER_BOOT_RETRY_S', 30),
    transactionMessageAttempts: p('PARTNER_TX_MESSAGE_ATTEMPTS', 3),
    transactionMessageRetryIntervalS: p('PARTNER_TX_MESSAGE_RETRY_INTERVAL_S', 60),
    authorizeTimeoutMs: p('PARTNER_AUTHORIZE_TIMEOUT_MS', 5_000),
    authCacheFreshMs: p('PARTNER_AUTH_CACHE_FRESH_MS', 60_000),
    authCacheMaxAgeMs: p('PARTNER_AUTH_CACHE_MAX_AGE_MS', 24 * 3600 * 1000),
    lingerMs: p('PARTNER_LINGER_MS', 10_000),
    ocppLog,
    urlAllow: partnerUrlAllow(env.PARTNER_URL_ALLOW),
  };
  if (settings.reconnectMaxMs < settings.reconnectMinMs) throw new PlatformError('CONFIG', 'PARTNER_RECONNECT_MAX_MS must be >= PARTNER_RECONNECT_MIN_MS');
  return settings;
}

function num(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new PlatformError('CONFIG', `${name} must be a number in [${min}, ${max}], got "${raw}"`);
  return n;
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new PlatformError('CONFIG', `${name} must be an integer in [${min}, ${max}], got "${raw}"`);
  return n;
}

function ocppLogMode(raw: string | undefined): 'on' | 'all' | 'off' {
  const mode = raw || 'on';
  if (mode !== 'on' && mode !== 'all' && mode !== 'off') throw new PlatformError('CONFIG', `OCPP_LOG must be on, all or off, got "${raw}"`);
  return mode;
}

/** Proxy-addr's names for address ranges, accepted by Fastify's `trustProxy` beside addresses. */
const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * TRUST_PROXY: unset or `false` trusts no proxy (the socket's address is the client); a number is
 * the count of proxy hops in front of the node; otherwise a comma-separated list of the proxies'
 * addresses or CIDRs. `true` (trust every X-Forwarded-For) is refused: any client could then
 * choose the address its failed logins are counted under.
 */
export function parseTrustProxy(raw: string | undefined): false | number | string[] {
  const v = (raw ?? '').trim();
  if (v === '' || v === 'false') return false;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops < 1 || hops > 16) throw new PlatformError('CONFIG', `TRUST_PROXY hop count must be in [1, 16], got "${raw}"`);
    return hops;
  }
  if (v === 'true') throw new PlatformError('CONFIG', 'TRUST_PROXY=true would trust any X-Forwarded-For; give the hop count or the proxy addresses');
  const list = v.split(',').map((x) => x.trim());
  for (const entry of list) {
    const [addr = '', prefix, ...rest] = entry.split('/');
    const family = isIP(addr);
    const prefixOk = prefix === undefined || (/^\d+$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (!PROXY_RANGE_NAMES.has(entry) && (family === 0 || !prefixOk || rest.length > 0)) {
      throw new PlatformError('CONFIG', `TRUST_PROXY must be a hop count or a comma-separated list of addresses/CIDRs, got "${entry}"`);
    }
  }
  return list;
}

function heapModeSetting(raw: string | undefined): 'auto' | 'on' | 'off' {
  const setting = raw || 'auto';
  if (setting !== 'auto' && setting !== 'on' && setting !== 'off') throw new PlatformError('CONFIG', `V8_OPTIMIZE_FOR_SIZE must be auto, on or off, got "${raw}"`);
  return setting;
}

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== 'on' && raw !== 'off') throw new PlatformError('CONFIG', `${name} must be on or off, got "${raw}"`);
  return raw === 'on';
}

/** Comma-separated `host`, `host:port` or `*.domain`. */
function partnerUrlAllow(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const list = raw.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  for (const p of list) if (!/^(\*\.)?[A-Za-z0-9.\-[\]:]+$/.test(p)) throw new PlatformError('CONFIG', `PARTNER_URL_ALLOW: "${p}" is not a host, host:port or *.domain`);
  return list;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const adminToken = env.ADMIN_TOKEN ?? '';
  if (adminToken && adminToken.length < 16) throw new PlatformError('CONFIG', 'ADMIN_TOKEN must be at least 16 characters');
  const nodeId = env.NODE_ID ?? `${hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(nodeId)) throw new PlatformError('CONFIG', 'NODE_ID must match [A-Za-z0-9_-]{1,64}');
  const natsUrl = env.NATS_URL || undefined;
  for (const server of natsUrl?.split(',').map((s) => s.trim()) ?? []) {
    if (!/^(nats|tls|wss?):\/\/[^\s,]+$/.test(server)) throw new PlatformError('CONFIG', `NATS_URL must be a comma-separated list of nats://, tls://, ws:// or wss:// URLs, got "${server}"`);
  }
  const natsReplicas = int(env, 'NATS_REPLICAS', 1, 1, 5);
  if (!natsUrl && natsReplicas > 1) throw new PlatformError('CONFIG', 'NATS_REPLICAS > 1 needs NATS_URL pointing at a NATS cluster (the embedded nats-server is a single server)');
  if (!!env.NATS_USER !== !!env.NATS_PASS) throw new PlatformError('CONFIG', 'NATS_USER and NATS_PASS go together');
  const meterEventDeltaA = num(env, 'METER_EVENT_DELTA_A', 0.5, 0, 32);
  const config: NodeConfig = {
    natsUrl,
    natsReplicas,
    natsAuth: env.NATS_USER && env.NATS_PASS ? { user: env.NATS_USER, pass: env.NATS_PASS } : undefined,
    apiPort: int(env, 'API_PORT', 8080, 0, 65535),
    ocppPort: int(env, 'OCPP_PORT', 9000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    adminToken: adminToken || randomBytes(24).toString('base64url'),
    adminTokenGenerated: !adminToken,
    dataDir: env.DATA_DIR || './data',
    secretsKey: env.SECRETS_KEY ? parseSecretsKey(env.SECRETS_KEY) : undefined,
    nodeId,
    heartbeatIntervalS: int(env, 'HEARTBEAT_INTERVAL_S', 300, 1, 86_400),
    pingIntervalMs: int(env, 'OCPP_PING_INTERVAL_MS', 60_000, 0, 3_600_000),
    callTimeoutMs: int(env, 'OCPP_CALL_TIMEOUT_MS', 30_000, 100, 600_000),
    maxFrameBytes: int(env, 'OCPP_MAX_FRAME_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    ocppCallRate: num(env, 'OCPP_CALL_RATE', 50, 0, 100_000),
    ocppCallBurst: int(env, 'OCPP_CALL_BURST', 200, 1, 1_000_000),
    ocppAuthFailures: int(env, 'OCPP_AUTH_FAILURES', 30, 0, 1_000_000),
    ocppAuthWindowMs: int(env, 'OCPP_AUTH_WINDOW_S', 60, 1, 86_400) * 1000,
    ocppMaxQueuedCalls: int(env, 'OCPP_MAX_QUEUED_CALLS', 32, 1, 10_000),
    ocppLog: ocppLogMode(env.OCPP_LOG) !== 'off',
    ocppLogAll: ocppLogMode(env.OCPP_LOG) === 'all',
    ocppLogMaxBytes: int(env, 'OCPP_LOG_MAX_BYTES', DEFAULT_OCPP_LOG_MAX_BYTES, 1024 * 1024, Number.MAX_SAFE_INTEGER),
    ocppLogMaxPerCharger: int(env, 'OCPP_LOG_MAX_PER_CHARGER', DEFAULT_OCPP_LOG_MAX_PER_SUBJECT, 10, 100_000_000),
    pendingIntervalS: int(env, 'BOOT_PENDING_INTERVAL_S', 10, 1, 3_600),
    livenessGraceS: int(env, 'LIVENESS_GRACE_S', 30, 0, 3_600),
    meterEventDeltaA,
    meterEventMaxAgeMs: int(env, 'METER_EVENT_MAX_AGE_MS', 30_000, 0, 3_600_000),
    meterEventOverLimitRepeatMs: int(env, 'METER_EVENT_OVER_LIMIT_REPEAT_MS', 2_500, 0, 3_600_000),
    logLevel: env.LOG_LEVEL || 'info',
    v8OptimizeForSize: heapModeSetting(env.V8_OPTIMIZE_FOR_SIZE),
    v8Pretenuring: onOff(env, 'V8_PRETENURING', false),
    api: {
      trustProxy: parseTrustProxy(env.TRUST_PROXY),
      requestTimeoutMs: int(env, 'API_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
      headersTimeoutMs: int(env, 'API_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
      keepAliveTimeoutMs: int(env, 'API_KEEPALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
      maxConnections: int(env, 'API_MAX_CONNECTIONS', 1_024, 1, 1_000_000),
      metricsInstallationLabels: onOff(env, 'METRICS_INSTALLATION_LABELS', false),
    },
    ocppHttp: {
      handshakeTimeoutMs: int(env, 'OCPP_HANDSHAKE_TIMEOUT_MS', 10_000, 100, 600_000),
      keepAliveTimeoutMs: int(env, 'OCPP_KEEPALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
      // Below the 20,000 open files a process gets here (DESIGN 8), above the bench's 19,000 per process.
      maxConnections: int(env, 'OCPP_MAX_CONNECTIONS', 19_500, 1, 10_000_000),
    },
    partner: partnerSettings(env, ocppLogMode(env.OCPP_LOG) !== 'off'),
    balancer: {
      leaseTtlMs: int(env, 'BALANCER_LEASE_TTL_MS', 6_000, 300, 600_000),
      coalesceMs: int(env, 'BALANCER_COALESCE_MS', 5, 0, 10_000),
      profileTimeoutMs: int(env, 'BALANCER_PROFILE_TIMEOUT_MS', 10_000, 100, 600_000),
      lateAfterMs: int(env, 'BALANCER_LATE_AFTER_MS', 3_000, 10, 600_000),
      retryMs: int(env, 'BALANCER_RETRY_MS', 5_000, 10, 600_000),
      reclaimAfterMs: int(env, 'BALANCER_RECLAIM_AFTER_MS', 30_000, 0, 3_600_000),
      reclaimHeadroomA: num(env, 'BALANCER_RECLAIM_HEADROOM_A', 2, 0, 32),
      reclaimThresholdA: num(env, 'BALANCER_RECLAIM_THRESHOLD_A', 1, 0, 32),
      meterSlackA: meterEventDeltaA,
    },
  };
  // Node refuses a header timeout longer than the whole request's.
  if (config.api.headersTimeoutMs > config.api.requestTimeoutMs) {
    throw new PlatformError('CONFIG', 'API_HEADERS_TIMEOUT_MS must not exceed API_REQUEST_TIMEOUT_MS');
  }
  // A reclaimed offer (draw + headroom) must not look like under-draw again, or reclaim flaps.
  if (config.balancer.reclaimThresholdA >= config.balancer.reclaimHeadroomA) {
    throw new PlatformError('CONFIG', 'BALANCER_RECLAIM_THRESHOLD_A must be below BALANCER_RECLAIM_HEADROOM_A');
  }
  return config;
}
