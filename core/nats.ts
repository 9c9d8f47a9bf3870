import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { classifyNatsError } from './nats-errors.js';
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
  url: string;
  name?: string;
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
  const nc = await connect({ servers: opts.url, name: opts.name ?? 'charging-platform', maxReconnectAttempts: -1, noAsyncTraces: true, ...(opts.auth ?? {}) });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const kvm = new Kvm(nc);
  const kv = {} as Record<BucketName, KV>;
  for (const name of Object.values(buckets)) {
    kv[name] = await kvm.create(name, { history: SINGLE_REVISION.has(name) ? 1 : 5 });
  }
  // A bucket created before keeps its history until told: secrets keep no earlier revisions.
  const credentialsStream = `KV_${buckets.credentials}`;
  if ((await jsm.streams.info(credentialsStream)).config.max_msgs_per_subject !== 1) {
    await jsm.streams.update(credentialsStream, { max_msgs_per_subject: 1 });
  }
  await ensureStream(jsm, {
    name: streams.transactions,
    subjects: [subjects.txAll],
    // A StartTransaction retried after a lost reply within this window gets the same id (msgID dedupe).
    duplicate_window: DAY_MS * NANOS_PER_MS,
  });
  await ensureStream(jsm, {
    name: streams.ocppLog,
    subjects: [subjects.ocppLogAll],
    max_age: (opts.ocppLogMaxAgeMs ?? 7 * DAY_MS) * NANOS_PER_MS,
    max_bytes: opts.ocppLogMaxBytes ?? DEFAULT_OCPP_LOG_MAX_BYTES,
    max_msgs_per_subject: opts.ocppLogMaxPerSubject ?? DEFAULT_OCPP_LOG_MAX_PER_SUBJECT,
    discard: DiscardPolicy.Old,
  });
  await ensureStream(jsm, { name: streams.northQueue, subjects: [subjects.northQueueAll] });
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

async function ensureStream(
  jsm: JetStreamManager,
  cfg: { name: string; subjects: string[]; max_age?: number; duplicate_window?: number; max_bytes?: number; max_msgs_per_subject?: number; discard?: DiscardPolicy },
): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
    const { name: _name, ...update } = cfg;
    await jsm.streams.update(cfg.name, update);
  } catch (err) {
    if (classifyNatsError(err) !== 'not-found') throw err;
    await jsm.streams.add({ ...cfg, storage: StorageType.File });
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const encodeJson = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));
export const decodeJson = <T>(data: Uint8Array): T => JSON.parse(decoder.decode(data)) as T;
