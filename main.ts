import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { pino, type Logger } from 'pino';
import { ChargerRegistry, localAuthorizer, type NodeDeps } from './south/index.js';
import { ChargerCommands } from './core/charger-commands.js';
import { ChargerStateStore } from './core/charger-state-store.js';
import { ChargerStore } from './core/charger-store.js';
import { ConfigCache } from './core/config-cache.js';
import { loadConfig, type NodeConfig } from './core/config.js';
import { HEAP_MODE_DEFAULTS, HeapMode, NODE_HEAP_MODE_DEPS, setPretenuring } from './core/heap-mode.js';
import { MALLOC_TUNABLES, mallocTunablesMissing } from './core/malloc-tunables.js';
import { CredentialStore } from './core/credential-store.js';
import { keyFromFile, SecretBox } from './core/secret-box.js';
import { startEmbeddedNats, type EmbeddedNats } from './core/embedded-nats.js';
import { InstallationStore } from './core/installation-store.js';
import { createMetrics } from './core/metrics.js';
import { connectBus, kvWithTimeout, leaderReadKv, type Bus } from './core/nats.js';
import { buckets } from './core/subjects.js';
import { TransactionStore } from './core/transaction-store.js';
import { createOcppServer, type OcppServer } from './ocpp/server.js';
import { PartnerBridge } from './north/index.js';
import { CapStore } from './core/cap-store.js';
import { PartnerQueue } from './core/partner-queue.js';
import { PartnerStore } from './core/partner-store.js';
import { BalancerManager } from './balancer/balancer-manager.js';
import { leaseRequestTimeoutMs } from './balancer/leadership.js';
import { build, timeoutCheckIntervalMs } from './api/app.js';
import { AvailableCurrentStore } from './core/available-current-store.js';
import { TokenStore } from './core/token-store.js';

/**
 * The composition root: the one place where stores, bus, actors, balancer and API are wired.
 * Tests start nodes through `startNode` too, so they run what production runs.
 */
export interface PlatformNode {
  readonly config: NodeConfig;
  readonly ocppPort: number;
  readonly apiPort: number;
  readonly bus: Bus;
  /** The node's command sender: what the API, balancer and partner bridge send charger commands through. */
  readonly commands: ChargerCommands;
  readonly stores: {
    installations: InstallationStore;
    chargers: ChargerStore;
    credentials: CredentialStore;
    transactions: TransactionStore;
    chargerState: ChargerStateStore;
  };
  readonly cache: ConfigCache;
  readonly registry: ChargerRegistry;
  readonly balancers: BalancerManager;
  readonly logger: Logger;
  stop(): Promise<void>;
}

export async function startNode(config: NodeConfig, opts: { logger?: Logger } = {}): Promise<PlatformNode> {
  const logger = opts.logger ?? pino({ level: config.logLevel, base: { node: config.nodeId } });
  let embedded: EmbeddedNats | undefined;
  let natsUrl = config.natsUrl;
  let natsAuth = config.natsAuth;
  if (!natsUrl) {
    embedded = await startEmbeddedNats({ storeDir: `${config.dataDir}/nats`, auth: true });
    natsUrl = embedded.url;
    natsAuth = embedded.auth;
    logger.info({ url: natsUrl, storeDir: embedded.storeDir }, 'started embedded nats-server');
  }
  // Each start-up step is logged with its time so far: a node that never gets to "listening" shows where it waits.
  const startedAt = Date.now();
  const bus = await connectBus({ url: natsUrl, name: `node-${config.nodeId}`, auth: natsAuth, ocppLogMaxBytes: config.ocppLogMaxBytes, ocppLogMaxPerSubject: config.ocppLogMaxPerCharger, replicas: config.natsReplicas });
  // The node's chargers register here; everything that commands a charger sends through it.
  const commands = new ChargerCommands(bus.nc);
  const credentials = new CredentialStore(bus.kv[buckets.credentials], new SecretBox(secretsKey(config, logger)));
  const installations = new InstallationStore(bus.kv[buckets.installations], credentials);
  const stores = {
    installations,
    chargers: new ChargerStore(bus.kv[buckets.chargers], installations, credentials),
    credentials,
    transactions: new TransactionStore(bus.js, bus.jsm),
    chargerState: new ChargerStateStore(bus.kv[buckets.chargerState]),
  };
  logger.info({ ms: Date.now() - startedAt }, 'start-up: NATS connected, buckets and streams ready');
  const cache = await ConfigCache.start(bus);
  logger.info({ ms: Date.now() - startedAt }, 'start-up: config cache loaded');
  const metrics = createMetrics();
  const now = Date.now;
  // Partner OCPP bridge: hears what the charger side did (durable north queue) and asks the partner to authorize.
  const partner = new PartnerBridge({
    nodeId: config.nodeId,
    bus,
    commands,
    cache,
    credentials,
    chargerState: stores.chargerState,
    metrics,
    logger,
    store: new PartnerStore(bus.kv[buckets.north]),
    caps: new CapStore(bus.kv[buckets.caps]),
    queue: new PartnerQueue(bus.js, bus.jsm),
    settings: config.partner,
    now,
  });
  const deps: NodeDeps = {
    nodeId: config.nodeId,
    bus,
    commands,
    cache,
    credentials,
    transactions: stores.transactions,
    chargerState: stores.chargerState,
    authorizer: partner.wrapAuthorizer(localAuthorizer),
    metrics,
    logger,
    settings: {
      heartbeatIntervalS: config.heartbeatIntervalS,
      pendingIntervalS: config.pendingIntervalS,
      callTimeoutMs: config.callTimeoutMs,
      pingIntervalMs: config.pingIntervalMs,
      ocppLog: config.ocppLog,
      ocppLogAll: config.ocppLogAll,
      livenessGraceS: config.livenessGraceS,
      meterEventDeltaA: config.meterEventDeltaA,
      meterEventMaxAgeMs: config.meterEventMaxAgeMs,
      meterEventOverLimitRepeatMs: config.meterEventOverLimitRepeatMs,
    },
    observers: [partner],
  };
  const registry = new ChargerRegistry(deps);
  partner.start();
  registry.start();
  const { leaseTtlMs, ...tuning } = config.balancer;
  const balancers = new BalancerManager({
    nodeId: config.nodeId,
    nc: bus.nc,
    commands,
    cache,
    leases: bus.kv[buckets.leases],
    // A renewal unanswered for a renewal period is tried again rather than awaited (see kvWithTimeout).
    leaseWrites: await kvWithTimeout(bus, buckets.leases, leaseRequestTimeoutMs(leaseTtlMs)),
    caps: bus.kv[buckets.caps],
    availableCurrent: bus.kv[buckets.availableCurrent],
    // A new leader must count every limit its predecessor persisted before sending it.
    allocations: await leaderReadKv(bus, buckets.allocations),
    metrics,
    logger,
    tuning,
    leaseTtlMs,
    now,
  });
  await balancers.start();
  logger.info({ ms: Date.now() - startedAt }, 'start-up: balancers placed');

  // A handshake trickled in slowly is dropped; sockets past the cap are closed as they arrive.
  const { handshakeTimeoutMs, keepAliveTimeoutMs: ocppKeepAliveMs, maxConnections: ocppMaxConnections } = config.ocppHttp;
  const ocppHttpOptions = {
    requestTimeout: handshakeTimeoutMs,
    headersTimeout: handshakeTimeoutMs,
    keepAliveTimeout: ocppKeepAliveMs,
    connectionsCheckingInterval: timeoutCheckIntervalMs({ requestTimeoutMs: handshakeTimeoutMs, headersTimeoutMs: handshakeTimeoutMs }),
  };
  const ocppHttp: Server = createServer(ocppHttpOptions, (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('Connect with a WebSocket to /ocpp/<chargerId> using subprotocol ocpp1.6\n');
  });
  const ocpp: OcppServer = createOcppServer({
    httpServer: ocppHttp,
    authenticate: registry.authenticate,
    onConnection: registry.onConnection,
    connectionOptions: registry.connectionOptions,
    maxFrameBytes: config.maxFrameBytes,
    authThrottle: { maxFailures: config.ocppAuthFailures, windowMs: config.ocppAuthWindowMs },
    limits: { callsPerSecond: config.ocppCallRate, callBurst: config.ocppCallBurst, maxQueuedCalls: config.ocppMaxQueuedCalls },
    logger,
  });
  ocppHttp.maxConnections = ocppMaxConnections;
  await new Promise<void>((resolve) => ocppHttp.listen(config.ocppPort, config.host, resolve));
  const ocppPort = (ocppHttp.address() as AddressInfo).port;

  let stopping: Promise<void> | undefined;
  const api = await build({
    bus,
    commands,
    nodeId: config.nodeId,
    ...stores,
    tokens: new TokenStore(bus.kv[buckets.tokens]),
    availableCurrent: new AvailableCurrentStore(bus.kv[buckets.availableCurrent], bus.nc),
    cache,
    metrics,
    logger,
    adminToken: config.adminToken,
    draining: () => stopping !== undefined,
  }, { trustProxy: config.api.trustProxy, limits: config.api, metricsInstallationLabels: config.api.metricsInstallationLabels });
  await api.listen({ port: config.apiPort, host: config.host });
  const apiPort = (api.server.address() as AddressInfo).port;

  logger.info(`listening api=${apiPort} ocpp=${ocppPort}`);

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // Graceful order: no new chargers here; leaderships handed off at once (the others take them
      // now, not after the lease expires); then the chargers are told to go (1001) and reconnect elsewhere.
      ocppHttp.close();
      await balancers.stop();
      await ocpp.close();
      registry.stop();
      // Lets a transaction message the partner is answering finish and be acknowledged while NATS is still there.
      await partner.stop();
      ocppHttp.closeAllConnections();
      await api.close();
      cache.stop();
      await bus.close();
      await embedded?.stop();
    })());

  return { config, ocppPort, apiPort, bus, commands, stores, cache, registry, balancers, logger, stop };
}

/** SECRETS_KEY, else a key file in DATA_DIR: fine for one node, wrong for a cluster (each node would have its own). */
function secretsKey(config: NodeConfig, logger: Logger): Buffer {
  if (config.secretsKey) return config.secretsKey;
  const { key, created } = keyFromFile(config.dataDir);
  if (config.natsUrl) logger.warn('SECRETS_KEY is not set: partner passwords are sealed with a key file in DATA_DIR; every node of a cluster needs the same SECRETS_KEY');
  else if (created) logger.info({ dataDir: config.dataDir }, 'generated a secrets key file in DATA_DIR');
  return key;
}

const SHUTDOWN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel, base: { node: config.nodeId } });
  // Before the node allocates: the heap mode and pretenuring hold from its first GC.
  setPretenuring(config.v8Pretenuring);
  new HeapMode(config.v8OptimizeForSize, HEAP_MODE_DEFAULTS, {
    ...NODE_HEAP_MODE_DEPS,
    onChange: (mode, utilization) => logger.debug({ mode, eventLoopUtilization: Number(utilization.toFixed(2)) }, 'V8 heap mode'),
  }).start();
  if (mallocTunablesMissing()) {
    // Started other than `npm start` does (core/malloc-tunables.ts): glibc may keep much of what the node frees.
    logger.warn({ GLIBC_TUNABLES: process.env.GLIBC_TUNABLES, expected: MALLOC_TUNABLES }, 'GLIBC_TUNABLES does not fix the malloc mmap threshold: the node may keep tens of MiB it freed (see README, GLIBC_TUNABLES)');
  }
  if (config.adminTokenGenerated) {
    // Printed once so a developer can use the API; set ADMIN_TOKEN in production.
    process.stdout.write(`ADMIN_TOKEN not set; generated for this run: ${config.adminToken}\n`);
  }
  const node = await startNode(config, { logger });
  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    // A shutdown stuck on an unreachable NATS must not keep the process (and its sockets) alive.
    setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS).unref();
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
