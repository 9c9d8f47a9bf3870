import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { startNode, type PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, strictCharger, TEST_SECRETS_KEY, waitFor } from '../support/platform.js';

/**
 * Liveness runs on one node timer (LIVENESS_CHECK per heartbeat interval + grace), not a delayed
 * event per charger actor: a charger that says nothing is reported silent, over real sockets.
 */

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;
const lines: { msg?: string; chargerId?: string }[] = [];

beforeAll(async () => {
  nats = await startTestNats();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as { msg?: string; chargerId?: string });
      done();
    },
  });
  const env = { NATS_URL: nats.url, API_PORT: '0', OCPP_PORT: '0', HOST: '127.0.0.1', NODE_ID: 'test-liveness', ADMIN_TOKEN: 'test-admin-token-0123456789', SECRETS_KEY: TEST_SECRETS_KEY, HEARTBEAT_INTERVAL_S: '1', LIVENESS_GRACE_S: '0' };
  node = await startNode(loadConfig(env), { logger: pino({ level: 'warn' }, sink) });
  await node.stores.installations.create(anInstallation({ id: 'inst-live' }));
  await node.stores.chargers.put('inst-live', 'CP-QUIET', aCharger());
  await waitFor(() => node.cache.chargers.has('CP-QUIET') || undefined);
});

afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

describe('liveness', () => {
  it('reports a charger that says nothing for its heartbeat interval + grace as silent', async () => {
    const { client } = strictCharger(node, 'CP-QUIET', INITIAL_PASSWORD);
    await client.connect();
    await client.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
    const silent = await waitFor(() => lines.find((l) => l.msg === 'charger silent' && l.chargerId === 'CP-QUIET'), 10_000, 'charger silent');
    expect(silent).toBeDefined();
    await client.close({ awaitPending: true });
  });
});
