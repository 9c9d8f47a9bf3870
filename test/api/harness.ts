import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { pino } from 'pino';
import { build, type ApiDeps, type BuildOptions } from '../../api/app.js';
import { ChargerCommands } from '../../core/charger-commands.js';
import { AvailableCurrentStore } from '../../core/available-current-store.js';
import { ChargerStore } from '../../core/charger-store.js';
import type { ChargerCommand, CommandReply } from '../../core/commands.js';
import { ConfigCache } from '../../core/config-cache.js';
import { CredentialStore } from '../../core/credential-store.js';
import { InstallationStore } from '../../core/installation-store.js';
import { createMetrics } from '../../core/metrics.js';
import type { ChargerLiveStatus } from '../../core/model.js';
import { connectBus, decodeJson, encodeJson, type Bus } from '../../core/nats.js';
import { buckets, subjects } from '../../core/subjects.js';
import { TokenStore } from '../../core/token-store.js';
import { TransactionStore } from '../../core/transaction-store.js';
import { startTestNats } from '../support/nats.js';

/** Secrets used across the API tests; no response or log line may ever contain them. */
export const SECRETS = {
  chargerPassword: 'south-initial-Secret-7781',
  initialPassword: 'north-initial-Secret-4410',
  chargerOcppPassword: 'north-own-Secret-9902',
} as const;

export const anInstallation = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'Garage',
  fuse: { L1: 63, L2: 63, L3: 63 },
  ...over,
});

export const aCharger = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ phases: 3, maxCurrent: 32, ...over });

export const aLiveStatus = (chargerId: string, installationId: string, over: Partial<ChargerLiveStatus> = {}): ChargerLiveStatus => ({
  chargerId,
  installationId,
  nodeId: 'node-sim',
  connectedAt: '2026-01-01T00:00:00.000Z',
  lastSeen: '2026-01-01T00:00:10.000Z',
  registration: 'Accepted',
  connectors: [{ connectorId: 1, status: 'Charging', errorCode: 'NoError', updatedAt: '2026-01-01T00:00:05.000Z' }],
  measured: { t1: 10, t2: 11, t3: 12, at: '2026-01-01T00:00:09.000Z' },
  activeTransactions: [{ transactionId: 7, connectorId: 1, idTag: 'TAG1', meterStartWh: 0, startedAt: '2026-01-01T00:00:06.000Z' }],
  ...over,
});

export interface ApiHarness {
  bus: Bus;
  deps: ApiDeps;
  app: FastifyInstance;
  adminToken: string;
  /** Every response body the test saw, and every log line the app wrote. */
  seen: string[];
  /** `inject()` with a bearer token (admin unless given; `null` for none); every body is recorded. */
  call(opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse>;
  /** Records a body fetched over a real port. */
  record(body: string): void;
  close(): Promise<void>;
}

/** The API over a real nats-server, stores wired as in the composition root, logs captured. */
export async function startApi(opts: BuildOptions = {}): Promise<ApiHarness> {
  const nats = await startTestNats();
  const bus = await connectBus({ url: nats.url });
  const seen: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      seen.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'trace' }, sink);
  const credentials = new CredentialStore(bus.kv[buckets.credentials]);
  const installations = new InstallationStore(bus.kv[buckets.installations], credentials);
  const deps: ApiDeps = {
    bus,
    commands: new ChargerCommands(bus.nc),
    nodeId: 'node-test',
    installations,
    chargers: new ChargerStore(bus.kv[buckets.chargers], installations, credentials),
    credentials,
    transactions: new TransactionStore(bus.js, bus.jsm),
    tokens: new TokenStore(bus.kv[buckets.tokens]),
    availableCurrent: new AvailableCurrentStore(bus.kv[buckets.availableCurrent], bus.nc),
    cache: await ConfigCache.start(bus),
    metrics: createMetrics(),
    logger,
    adminToken: `admin-${randomBytes(16).toString('hex')}`,
  };
  const app = await build(deps, opts);
  await app.ready();
  return {
    bus,
    deps,
    app,
    adminToken: deps.adminToken,
    seen,
    call: async ({ token, headers, ...rest }) => {
      const bearer = token === undefined ? deps.adminToken : token;
      const res = await app.inject({ ...rest, headers: { ...(headers ?? {}), ...(bearer !== null ? { authorization: `Bearer ${bearer}` } : {}) } });
      seen.push(res.body);
      return res;
    },
    record: (body) => void seen.push(body),
    close: async () => {
      await app.close();
      deps.cache.stop();
      await bus.close();
      await nats.cleanup();
    },
  };
}

/** Fails with the secret's name if any recorded response or log line contains one. */
export function leakedSecrets(seen: readonly string[]): string[] {
  return Object.entries(SECRETS)
    .filter(([, secret]) => seen.some((s) => s.includes(secret)))
    .map(([name]) => name);
}

/**
 * A charger "connected" to some node: a responder on `cmd.charger.<id>`, the real contract. The
 * handler returns the reply, or undefined to never answer.
 */
export function simulateCharger(
  nc: NatsConnection,
  chargerId: string,
  handler: (cmd: ChargerCommand) => CommandReply | undefined,
): { received: ChargerCommand[]; sub: Subscription } {
  const received: ChargerCommand[] = [];
  const sub = nc.subscribe(subjects.chargerCommand(chargerId), {
    callback: (_err: Error | null, msg: Msg) => {
      const cmd = decodeJson<ChargerCommand>(msg.data);
      received.push(cmd);
      const reply = handler(cmd);
      if (reply) msg.respond(encodeJson(reply));
    },
  });
  return { received, sub };
}

export const json = <T = Record<string, unknown>>(res: LightMyRequestResponse): T => res.json<T>();
