import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, startEmbeddedNats, type EmbeddedNats } from '../../core/embedded-nats.js';
import type { PlatformNode } from '../../main.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, ocppCall, startTestNode, strictCharger, waitFor } from '../support/platform.js';

/** A node that loses NATS: unhealthy, keeps its chargers, refuses what it cannot persist, resumes. */

const dir = mkdtempSync(join(tmpdir(), 'nats-loss-'));
let nats: EmbeddedNats | undefined;
let node: PlatformNode | undefined;

afterAll(async () => {
  await node?.stop();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const health = async (n: PlatformNode): Promise<{ status: number; body: { status: string; nats: boolean } }> => {
  const res = await fetch(`http://127.0.0.1:${n.apiPort}/health`);
  return { status: res.status, body: (await res.json()) as { status: string; nats: boolean } };
};

describe('NATS connection loss on a node', () => {
  it('reports unhealthy, keeps the charger connected, answers StartTransaction only once durable, resumes when NATS is back', { timeout: 40_000 }, async () => {
    const port = await freePort();
    nats = await startEmbeddedNats({ storeDir: join(dir, 'store'), port });
    node = await startTestNode(nats.url);
    await node.stores.installations.create(anInstallation({ id: 'loss-1' }));
    await node.stores.chargers.put('loss-1', 'LOSS-1', aCharger());
    await waitFor(() => node!.cache.chargers.has('LOSS-1'));
    const { client } = strictCharger(node, 'LOSS-1', INITIAL_PASSWORD);
    await client.connect();
    await ocppCall(client, 'BootNotification', { chargePointVendor: 'T', chargePointModel: 'M' });
    expect((await health(node)).status).toBe(200);

    await nats.stop();
    const down = await waitFor(async () => {
      const h = await health(node!);
      return h.status === 503 ? h : undefined;
    }, 10_000, 'unhealthy');
    expect(down.body).toMatchObject({ status: 'degraded', nats: false });
    // The charger stays connected, and a start that cannot be made durable is refused, not invented.
    const refused = await ocppCall(client, 'StartTransaction', { connectorId: 1, idTag: 'TAG', meterStart: 0, timestamp: new Date().toISOString() }).then(
      () => 'answered',
      (err: { rpcErrorCode?: string }) => err.rpcErrorCode,
    );
    expect(refused).toBe('InternalError');
    expect(client.state).toBe(1);

    nats = await startEmbeddedNats({ storeDir: join(dir, 'store'), port });
    await waitFor(async () => ((await health(node!)).status === 200 ? true : undefined), 15_000, 'healthy again');
    const started = await ocppCall(client, 'StartTransaction', { connectorId: 1, idTag: 'TAG', meterStart: 0, timestamp: new Date().toISOString() });
    expect(started.transactionId).toBeGreaterThan(0);
    expect(await node.stores.transactions.list({ chargerId: 'LOSS-1', limit: 10 })).toHaveLength(1);
    await client.close({ force: true });
  });
});
