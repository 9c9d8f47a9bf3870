import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findNatsServer, freePort } from '../../core/embedded-nats.js';
import { streams, subjects } from '../../core/subjects.js';
import type { PlatformNode } from '../../main.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, ocppCall, startTestNode, strictCharger, waitFor } from '../support/platform.js';

/**
 * Issue 16: one charger flooding the OCPP message log must not fill the store the transactions need.
 * A nats-server whose JetStream store is capped at 48 MiB stands for a full disk.
 */

const STORE_CAP = 48 * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'ocpp-log-bounds-'));
let server: ChildProcess;
let node: PlatformNode;

beforeAll(async () => {
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, `listen: "127.0.0.1:${port}"\njetstream { store_dir: "${join(dir, 'store')}", max_file_store: ${STORE_CAP}, max_memory_store: 16777216 }\n`);
  server = spawn(findNatsServer() ?? 'nats-server', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  await waitFor(() => out.includes('Server is ready') || undefined, 10_000, 'nats-server');
  node = await startTestNode(`nats://127.0.0.1:${port}`, { OCPP_LOG_MAX_BYTES: String(8 * 1024 * 1024), OCPP_LOG_MAX_PER_CHARGER: '1000' });
  await node.stores.installations.create(anInstallation({ id: 'inst-log' }));
  await node.stores.chargers.put('inst-log', 'CP-LOGGED', aCharger());
  await waitFor(() => node.cache.chargers.has('CP-LOGGED') || undefined);
}, 30_000);

afterAll(async () => {
  await node?.stop();
  server?.kill('SIGTERM');
  await new Promise((r) => server?.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
});

it('the log stays within its bounds and a StartTransaction still succeeds after a flood', async () => {
  const entry = new TextEncoder().encode(JSON.stringify({ chargerId: 'CP-FLOOD', payload: 'x'.repeat(500 * 1024) }));
  // Twice the store: without bounds the store fills and JetStream refuses every later write.
  for (let i = 0; i < (2 * STORE_CAP) / (500 * 1024); i++) {
    await node.bus.js.publish(subjects.ocppLog('CP-FLOOD'), entry).catch(() => undefined);
  }
  const { client } = strictCharger(node, 'CP-LOGGED', INITIAL_PASSWORD);
  await client.connect();
  await ocppCall(client, 'BootNotification', { chargePointVendor: 'Test', chargePointModel: 'Sim' });
  const started = await ocppCall(client, 'StartTransaction', { connectorId: 1, idTag: 'TAG', meterStart: 0, timestamp: new Date().toISOString() });
  expect(started.idTagInfo.status).toBe('Accepted');
  expect(started.transactionId).toBeGreaterThan(0);
  await client.close({ force: true });
  const info = await node.bus.jsm.streams.info(streams.ocppLog);
  expect(info.state.bytes).toBeLessThanOrEqual(8 * 1024 * 1024);
}, 60_000);

it('one subject holds at most OCPP_LOG_MAX_PER_CHARGER messages', async () => {
  for (let i = 0; i < 1_200; i++) node.bus.nc.publish(subjects.ocppLog('CP-CHATTY'), new TextEncoder().encode('{}'));
  await node.bus.nc.flush();
  const info = await waitFor(async () => {
    const i = await node.bus.jsm.streams.info(streams.ocppLog, { subjects_filter: subjects.ocppLog('CP-CHATTY') });
    return (i.state.subjects?.[subjects.ocppLog('CP-CHATTY')] ?? 0) >= 1_000 ? i : undefined;
  });
  expect(info.state.subjects?.[subjects.ocppLog('CP-CHATTY')]).toBe(1_000);
});
