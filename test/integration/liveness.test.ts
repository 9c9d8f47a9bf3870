import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_ACTION } from '../../core/commands.js';
import { loadConfig } from '../../core/config.js';
import type { ChargerLiveStatus } from '../../core/model.js';
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
  await node.stores.chargers.put('inst-live', 'CP-TALK', aCharger());
  await waitFor(() => (node.cache.chargers.has('CP-QUIET') && node.cache.chargers.has('CP-TALK')) || undefined);
});

afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

/** How often the talking charger sends a Heartbeat (a fifth of the 1 s check period). */
const HEARTBEAT_PACING_MS = 200;

describe('liveness', () => {
  it('reports a charger that says nothing for its heartbeat interval + grace as silent', async () => {
    const { client } = strictCharger(node, 'CP-QUIET', INITIAL_PASSWORD);
    await client.connect();
    await client.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
    const silent = await waitFor(() => lines.find((l) => l.msg === 'charger silent' && l.chargerId === 'CP-QUIET'), 10_000, 'charger silent');
    expect(silent).toBeDefined();
    await client.close({ awaitPending: true });
  });

  it('a charger that only sends Heartbeats stays alive across checks, and its status shows when it last spoke', async () => {
    const lastSeen = async (): Promise<number> => {
      const reply = await node.commands.send('CP-TALK', { action: STATUS_ACTION, payload: {}, timeoutMs: 2_000 });
      if (!reply.ok) throw new Error(reply.error.message);
      return Date.parse((reply.response as ChargerLiveStatus).lastSeen);
    };
    const silentLines = (): number => lines.filter((l) => l.msg === 'charger silent' && l.chargerId === 'CP-TALK').length;
    const { client } = strictCharger(node, 'CP-TALK', INITIAL_PASSWORD);
    await client.connect();
    await client.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
    // Checks run every second (interval 1 s, grace 0): talking for 3.5 s spans three of them. The
    // charger heartbeats every HEARTBEAT_PACING_MS, well inside each check period: the pacing is what
    // is simulated, not a wait for something (not) to happen.
    const until = Date.now() + 3_500;
    while (Date.now() < until) {
      await client.call('Heartbeat', {});
      await new Promise((r) => setTimeout(r, HEARTBEAT_PACING_MS));
    }
    const spoke = Date.now();
    await client.call('Heartbeat', {});
    expect(await lastSeen()).toBeGreaterThanOrEqual(spoke - 5);
    expect(silentLines()).toBe(0);
    // Quiet: reported silent; a Heartbeat afterwards shows in the status at once.
    await waitFor(() => (silentLines() > 0 ? true : undefined), 5_000, 'charger silent');
    const again = Date.now();
    await client.call('Heartbeat', {});
    expect(await lastSeen()).toBeGreaterThanOrEqual(again - 5);
    await client.close({ awaitPending: true });
  });
});
