import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { PlatformError } from './errors.js';
import { classifyNatsError, isTransientNatsError } from './nats-errors.js';
import { buckets, streams, subjects, type BucketName } from './subjects.js';

const NANOS_PER_MS = 1_000_000;
/** Buckets that keep one revision: leases and allocations (only the last counts), credentials (no old secrets). */
const SINGLE_REVISION: ReadonlySet<string> = new Set([buckets.allocations, buckets.leases, buckets.credentials]);
const DAY_MS = 24 * 3600 * 1000;
export const DEFAULT_OCPP_LOG_MAX_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_OCPP_LOG_MAX_PER_SUBJECT = 20_000;

/** What every part of the platform receives to talk to NATS: one connection, its buckets and streams. */
export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly kv: Readonly<Record<BucketName, KV>>;
  close(): Promise<void>;
}

export interface BusOptions {
  /** One server URL, or a comma-separated list of a cluster's servers (the client fails over between them). */
  url: string;
  name?: string;
  /** Replicas of every bucket and stream (NATS_REPLICAS); existing ones with fewer are scaled up. */
  replicas?: number;
  /** How long the OCPP message log keeps messages. */
  ocppLogMaxAgeMs?: number;
  /**
   * The OCPP message log's size bound and per-subject bound (one subject per charger and side): the
   * oldest messages go first, so one chatty charger cannot fill the store the transactions need.
   */
  ocppLogMaxBytes?: number;
  ocppLogMaxPerSubject?: number;
  /** User and password the server requires (the embedded server's generated one, or NATS_USER/NATS_PASS). */
  auth?: { user: string; pass: string } | undefined;
}

/**
 * Connects and makes sure every bucket and stream exists (idempotent, so every node may do it).
 * Buckets with history keep a few revisions for compare-and-set and audit.
 */
export async function connectBus(opts: BusOptions): Promise<Bus> {
  // No async stack traces: they cost a stack capture on every request (~5% CPU in the balancer bench).
  const replicas = opts.replicas ?? 1;
  const nc = await connect({
    servers: natsServers(opts.url),
    name: opts.name ?? 'charging-platform',
    maxReconnectAttempts: -1,
    // Fail over to another cluster server quickly; the order is shuffled so nodes spread over servers.
    reconnectTimeWait: 500,
    noAsyncTraces: true,
    ...(opts.auth ?? {}),
  });
  const js = jetstream(nc);
  // A create racing another node's create of the same stream can go unanswered: time out and retry.
  // The manager's own first request (account info) waits on the meta leader, which a cluster
  // re-elects after a server died: retried like every setup call below.
  const jsm = await retryTransient(() => jetstreamManager(nc, { timeout: JS_API_TIMEOUT_MS })).catch(async (err: unknown) => {
    await nc.close();
    throw err;
  });
  const kvm = new Kvm(jsm.jetstream());
  const kv = {} as Record<BucketName, KV>;
  try {
    for (const name of Object.values(buckets)) {
      kv[name] = await retryTransient(() => kvm.create(name, { history: SINGLE_REVISION.has(name) ? 1 : 5, replicas })).catch((err: unknown) => {
        throw replicasError(`${KV_STREAM_PREFIX}${name}`, replicas, 'create', err);
      });
      await retryTransient(() => ensureReplicas(jsm, `${KV_STREAM_PREFIX}${name}`, replicas));
    }
    // A bucket created before keeps its history until told: secrets keep no earlier revisions.
    const credentialsStream = `${KV_STREAM_PREFIX}${buckets.credentials}`;
    // Retried like the calls around it: after a server died, the stream may still be electing a
    // leader and its info request times out (seen once in the cluster e2e, an observer connecting
    // right after a nats-server kill).
    if ((await retryTransient(() => jsm.streams.info(credentialsStream))).config.max_msgs_per_subject !== 1) {
      await retryTransient(() => jsm.streams.update(credentialsStream, { max_msgs_per_subject: 1 }));
    }
    await retryTransient(() => ensureStreams(jsm, replicas, opts));
  } catch (err) {
    await nc.close();
    throw err;
  }
  return {
    nc,
    js,
    jsm,
    kv,
    close: async () => {
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}

const KV_STREAM_PREFIX = 'KV_';
const JS_API_TIMEOUT_MS = 4_000;
const SETUP_ATTEMPTS = 10;

/**
 * Several nodes starting at once against a cluster that is still electing stream leaders see
 * timeouts, "temporarily unavailable" and "no suitable peers": those pass, so they are retried; anything else is final.
 * `retryable` widens that for callers that know better (work that must not fail after a partner answered).
 */
export async function retryTransient<T>(op: () => Promise<T>, attempts = SETUP_ATTEMPTS, backoffMs = 500, retryable: (err: unknown) => boolean = isTransientNatsError): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!retryable(err) || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, backoffMs * attempt));
    }
  }
}

/**
 * A handle on `bucket` whose reads go through the stream leader instead of a KV direct get. A direct
 * get is answered by any replica, and one that lags returns the value from before an acknowledged
 * write (10 reads in 300 right after a write on a loaded 3-server cluster); the leader answers what
 * was acknowledged, but not while the stream elects a new one (seconds after a server dies). Used
 * where a stale value is unsafe: a new balancer leader reading its predecessor's limits.
 */
export function leaderReadKv(bus: Bus, bucket: BucketName): Promise<KV> {
  // A read waiting on an election gives up sooner than other JetStream calls: its caller (a balancer
  // starting) is retried on the next lease tick, by when the stream may have its leader again.
  return kvWithTimeout(bus, bucket, LEADER_READ_TIMEOUT_MS);
}

const LEADER_READ_TIMEOUT_MS = 2_000;

/**
 * A handle on `bucket` whose requests give up after `timeoutMs` instead of the usual 4 s. For the
 * lease bucket: a renewal sent while its stream elects a leader goes unanswered, and one waiting 4 s
 * held up the next renewal attempt (and so the balancer's resumption) seconds after the election ended.
 */
export function kvWithTimeout(bus: Bus, bucket: BucketName, timeoutMs: number): Promise<KV> {
  return new Kvm(jetstream(bus.nc, { timeout: timeoutMs })).open(bucket);
}

/** `NATS_URL` may list a cluster's servers separated by commas. */
export function natsServers(url: string): string[] {
  return url
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

async function ensureStreams(jsm: JetStreamManager, replicas: number, opts: BusOptions): Promise<void> {
  await ensureStream(jsm, {
    name: streams.transactions,
    subjects: [subjects.txAll],
    // A StartTransaction retried after a lost reply within this window gets the same id (msgID dedupe).
    duplicate_window: DAY_MS * NANOS_PER_MS,
    num_replicas: replicas,
  });
  await ensureStream(jsm, {
    name: streams.ocppLog,
    subjects: [subjects.ocppLogAll],
    max_age: (opts.ocppLogMaxAgeMs ?? 7 * DAY_MS) * NANOS_PER_MS,
    max_bytes: opts.ocppLogMaxBytes ?? DEFAULT_OCPP_LOG_MAX_BYTES,
    max_msgs_per_subject: opts.ocppLogMaxPerSubject ?? DEFAULT_OCPP_LOG_MAX_PER_SUBJECT,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
  });
  await ensureStream(jsm, { name: streams.northQueue, subjects: [subjects.northQueueAll], num_replicas: replicas });
}

/**
 * Creates the stream, or brings an existing one's limits and replicas up to the node's settings. A
 * creation that finds the stream there after all is not an error: another node made it meanwhile, or
 * the info request was answered before the cluster knew the stream (seen once when every node
 * restarted at once on a busy 3-server cluster: "not found", then "subjects overlap with an existing
 * stream", and the node exited).
 */
export async function ensureStream(
  jsm: JetStreamManager,
  cfg: { name: string; subjects: string[]; max_age?: number; duplicate_window?: number; max_bytes?: number; max_msgs_per_subject?: number; discard?: DiscardPolicy; num_replicas: number },
): Promise<void> {
  let exists = true;
  try {
    await jsm.streams.info(cfg.name);
  } catch (err) {
    if (classifyNatsError(err) !== 'not-found') throw err;
    exists = false;
  }
  if (!exists) {
    const made = await jsm.streams.add({ ...cfg, storage: StorageType.File }).then(
      () => true,
      (err: unknown) => {
        if (classifyNatsError(err) === 'exists') return false;
        throw replicasError(cfg.name, cfg.num_replicas, 'create', err);
      },
    );
    if (made) return;
  }
  // Limits follow the node's settings; replicas only ever go up (ensureReplicas).
  const { name: _name, num_replicas: _replicas, ...update } = cfg;
  await jsm.streams.update(cfg.name, update);
  await ensureReplicas(jsm, cfg.name, cfg.num_replicas);
}

/**
 * A bucket or stream made before NATS_REPLICAS was raised (or by a node with a lower setting) is
 * scaled up, never down: a node started with a lower value must not remove another's copies.
 */
async function ensureReplicas(jsm: JetStreamManager, stream: string, replicas: number): Promise<void> {
  const info = await jsm.streams.info(stream);
  if (info.config.num_replicas >= replicas) return;
  await jsm.streams.update(stream, { num_replicas: replicas }).catch((err: unknown) => {
    throw replicasError(stream, replicas, `scale from ${info.config.num_replicas} to`, err);
  });
}

function replicasError(stream: string, replicas: number, what: string, cause: unknown): PlatformError {
  return new PlatformError(
    'NATS_REPLICAS',
    `Could not ${what} ${replicas} replicas for stream ${stream}: ${String((cause as Error)?.message ?? cause)}. ` +
      `NATS_REPLICAS must not exceed the number of JetStream servers in the cluster; to fix a stream by hand: ` +
      `\`nats stream edit ${stream} --replicas ${replicas}\`.`,
    { cause },
  );
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const encodeJson = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));
export const decodeJson = <T>(data: Uint8Array): T => JSON.parse(decoder.decode(data)) as T;
