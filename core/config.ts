import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { PlatformError } from './errors.js';

/** A node's configuration, read from the environment once, validated here, typed after. */
export interface NodeConfig {
  /** One NATS server URL or a comma-separated list of a cluster's servers. */
  natsUrl: string | undefined;
  /** Replicas of every KV bucket and stream the platform creates (3 on a 3-server cluster). */
  natsReplicas: number;
  apiPort: number;
  ocppPort: number;
  host: string;
  adminToken: string;
  /** True when ADMIN_TOKEN was unset and one was generated for this run. */
  adminTokenGenerated: boolean;
  dataDir: string;
  nodeId: string;
  heartbeatIntervalS: number;
  pingIntervalMs: number;
  callTimeoutMs: number;
  maxFrameBytes: number;
  /** OCPP_LOG=on: Heartbeat and MeterValues only in a charger's verbose window; all: everything; off: nothing. */
  ocppLog: boolean;
  ocppLogAll: boolean;
  /** Interval told to a charger answered Pending. */
  pendingIntervalS: number;
  /** A charger is silent after its heartbeat interval plus this, checked once per interval. */
  livenessGraceS: number;
  /** Meter events go on the bus when a terminal current moves by this much, or when the last is this old. */
  meterEventDeltaA: number;
  meterEventMaxAgeMs: number;
  logLevel: string;
  balancer: {
    leaseTtlMs: number;
    coalesceMs: number;
    profileTimeoutMs: number;
    /** A charger that has not answered a SetChargingProfile this long is late: counted off the top. */
    lateAfterMs: number;
    retryMs: number;
    reclaimAfterMs: number;
    reclaimHeadroomA: number;
    reclaimThresholdA: number;
  };
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
  const config: NodeConfig = {
    natsUrl,
    natsReplicas,
    apiPort: int(env, 'API_PORT', 8080, 0, 65535),
    ocppPort: int(env, 'OCPP_PORT', 9000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    adminToken: adminToken || randomBytes(24).toString('base64url'),
    adminTokenGenerated: !adminToken,
    dataDir: env.DATA_DIR || './data',
    nodeId,
    heartbeatIntervalS: int(env, 'HEARTBEAT_INTERVAL_S', 300, 1, 86_400),
    pingIntervalMs: int(env, 'OCPP_PING_INTERVAL_MS', 60_000, 0, 3_600_000),
    callTimeoutMs: int(env, 'OCPP_CALL_TIMEOUT_MS', 30_000, 100, 600_000),
    maxFrameBytes: int(env, 'OCPP_MAX_FRAME_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
    ocppLog: ocppLogMode(env.OCPP_LOG) !== 'off',
    ocppLogAll: ocppLogMode(env.OCPP_LOG) === 'all',
    pendingIntervalS: int(env, 'BOOT_PENDING_INTERVAL_S', 10, 1, 3_600),
    livenessGraceS: int(env, 'LIVENESS_GRACE_S', 30, 0, 3_600),
    meterEventDeltaA: num(env, 'METER_EVENT_DELTA_A', 0.5, 0, 32),
    meterEventMaxAgeMs: int(env, 'METER_EVENT_MAX_AGE_MS', 30_000, 0, 3_600_000),
    logLevel: env.LOG_LEVEL || 'info',
    balancer: {
      leaseTtlMs: int(env, 'BALANCER_LEASE_TTL_MS', 6_000, 300, 600_000),
      coalesceMs: int(env, 'BALANCER_COALESCE_MS', 5, 0, 10_000),
      profileTimeoutMs: int(env, 'BALANCER_PROFILE_TIMEOUT_MS', 10_000, 100, 600_000),
      lateAfterMs: int(env, 'BALANCER_LATE_AFTER_MS', 3_000, 10, 600_000),
      retryMs: int(env, 'BALANCER_RETRY_MS', 5_000, 10, 600_000),
      reclaimAfterMs: int(env, 'BALANCER_RECLAIM_AFTER_MS', 30_000, 0, 3_600_000),
      reclaimHeadroomA: num(env, 'BALANCER_RECLAIM_HEADROOM_A', 2, 0, 32),
      reclaimThresholdA: num(env, 'BALANCER_RECLAIM_THRESHOLD_A', 1, 0, 32),
    },
  };
  // A reclaimed offer (draw + headroom) must not look like under-draw again, or reclaim flaps.
  if (config.balancer.reclaimThresholdA >= config.balancer.reclaimHeadroomA) {
    throw new PlatformError('CONFIG', 'BALANCER_RECLAIM_THRESHOLD_A must be below BALANCER_RECLAIM_HEADROOM_A');
  }
  return config;
}
