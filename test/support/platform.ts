import { pino } from 'pino';
import { RPCClient } from 'ocpp-rpc';
import WebSocket from 'ws';
import type { OcppAction, RequestOf, ResponseOf } from '../../ocpp/actions.js';
import { loadConfig } from '../../core/config.js';
import { startNode, type PlatformNode } from '../../main.js';

/** Every test node of a run shares it, as the nodes of a cluster must. */
export const TEST_SECRETS_KEY = '7'.repeat(64);

/** A platform node in this process, on free ports, against the test's nats-server. */
export async function startTestNode(natsUrl: string, env: Record<string, string> = {}): Promise<PlatformNode> {
  const nodeEnv = { ...process.env, NATS_URL: natsUrl, API_PORT: '0', OCPP_PORT: '0', HOST: '127.0.0.1', NODE_ID: `test-${Math.random().toString(36).slice(2, 8)}`, ADMIN_TOKEN: 'test-admin-token-0123456789', SECRETS_KEY: TEST_SECRETS_KEY, ...env };
  return startNode(loadConfig(nodeEnv), { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
}

export const INITIAL_PASSWORD = 'initial-password-1';

/** Builders for test data, written through the stores (as the API does). */
export const anInstallation = (over: Record<string, unknown> = {}) => ({
  name: 'Test garage',
  fuse: { L1: 63, L2: 63, L3: 63 },
  chargerPassword: INITIAL_PASSWORD,
  ...over,
});
export const aCharger = (over: Record<string, unknown> = {}) => ({ phases: 3, maxCurrent: 32, ...over });

type ClientOptions = ConstructorParameters<typeof RPCClient>[0];
/** What ocpp-rpc hands a wildcard handler. */
export interface IncomingCall {
  method?: string;
  params?: Record<string, unknown>;
}

/** ocpp-rpc's client in strict mode (its own copy of the official 1.6 schemas), no reconnects. */
export function newStrictClient(node: PlatformNode, chargerId: string, password: string): RPCClient {
  return new RPCClient({
    endpoint: `ws://127.0.0.1:${node.ocppPort}/ocpp`,
    identity: chargerId,
    password,
    protocols: ['ocpp1.6'],
    strictMode: true,
    reconnect: false,
  } as ClientOptions);
}

/**
 * A strict third-party OCPP client (ocpp-rpc validates every message in both directions against the
 * official 1.6 schemas). It answers ChangeConfiguration AuthorizationKey by keeping the new key.
 */
export function strictCharger(
  node: PlatformNode,
  chargerId: string,
  password: string,
  opts: { answerKey?: 'Accepted' | 'Rejected' | 'hang'; /** Accepts the key only once this resolves. */ keyGate?: Promise<void> } = {},
) {
  const client = newStrictClient(node, chargerId, password);
  const state = { authorizationKey: undefined as string | undefined, calls: [] as { action: string; params: unknown }[] };
  client.handle(async ({ method, params = {} }: IncomingCall): Promise<Record<string, unknown>> => {
    state.calls.push({ action: method ?? '', params });
    if (method === 'ChangeConfiguration' && params.key === 'AuthorizationKey') {
      if (opts.answerKey === 'hang') return new Promise(() => undefined);
      if (opts.answerKey === 'Rejected') return { status: 'Rejected' };
      await opts.keyGate;
      state.authorizationKey = Buffer.from(String(params.value), 'hex').toString('utf8');
      return { status: 'Accepted' };
    }
    if (method === 'GetConfiguration') return { configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }] };
    if (method === 'TriggerMessage') return { status: 'Accepted' };
    return { status: 'Accepted' };
  });
  return { client, state };
}

/** Opens a raw socket and resolves with the HTTP status of a refused handshake, or 101. */
export function handshakeStatus(port: number, path: string, opts: { protocol?: string | undefined; auth?: string } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = opts.auth ? { authorization: `Basic ${Buffer.from(opts.auth).toString('base64')}` } : {};
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, opts.protocol ? [opts.protocol] : [], { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.close();
    });
    ws.on('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)));
  });
}

export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** ocpp-rpc's `call` is untyped; this gives tests the 1.6 request and response types. */
export function ocppCall<A extends OcppAction>(client: RPCClient, action: A, payload: RequestOf<A>): Promise<ResponseOf<A>> {
  return client.call(action, payload) as Promise<ResponseOf<A>>;
}
