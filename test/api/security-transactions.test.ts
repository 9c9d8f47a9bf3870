import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeJson } from '../../core/nats.js';
import { TransactionStore, type Transaction } from '../../core/transaction-store.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, ocppCall, startTestNode, strictCharger, waitFor } from '../support/platform.js';

/**
 * Issue 16: a charger's StopTransaction closed another charger's transaction; the installation's
 * list read every installation's records oldest first and silently stopped at 100,000 messages.
 * A real node, real chargers (ocpp-rpc, strict: every .conf is checked against the 1.6 schema).
 */
const ADMIN = 'test-admin-token-0123456789';
let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url);
  await node.stores.installations.create(anInstallation({ id: 'tx-site' }));
  for (const id of ['CP-OWN', 'CP-ROGUE']) await node.stores.chargers.put('tx-site', id, aCharger());
  await waitFor(() => node.cache.chargers.has('CP-ROGUE') || undefined);
});
afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

async function api<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://127.0.0.1:${node.apiPort}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as T };
}

/** Connects with the initial password, lets the platform rotate it, reconnects with the new one and boots. */
async function booted(chargerId: string) {
  const first = strictCharger(node, chargerId, INITIAL_PASSWORD);
  await first.client.connect();
  const key = await waitFor(() => first.state.authorizationKey, 5_000, 'AuthorizationKey');
  await waitFor(async () => (await node.stores.credentials.chargerSouth(chargerId))?.current && !(await node.stores.credentials.chargerSouth(chargerId))?.pending);
  await first.client.close({ awaitPending: true });
  const { client } = strictCharger(node, chargerId, key);
  await client.connect();
  expect((await ocppCall(client, 'BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' })).status).toBe('Accepted');
  return client;
}

describe("a StopTransaction from another charger", () => {
  it("is answered with a valid .conf but does not close the start's transaction; the owner's stop does", async () => {
    const own = await booted('CP-OWN');
    const rogue = await booted('CP-ROGUE');
    const { transactionId } = await ocppCall(own, 'StartTransaction', { connectorId: 1, idTag: 'OWNER', meterStart: 1_000, timestamp: '2026-12-01T10:00:00.000Z' });

    // ocpp-rpc in strict mode rejects a .conf that breaks the schema: resolving is the check.
    await ocppCall(rogue, 'StopTransaction', { transactionId, meterStop: 999_999, timestamp: '2026-12-01T10:05:00.000Z', reason: 'Local' });
    const afterRogue = await api<{ items: Transaction[] }>('/api/v1/installations/tx-site/transactions');
    expect(afterRogue.status).toBe(200);
    const open = afterRogue.body.items.find((t) => t.transactionId === transactionId);
    expect(open).toMatchObject({ chargerId: 'CP-OWN', meterStartWh: 1_000 });
    expect(open?.stoppedAt).toBeUndefined();
    expect((await api<{ items: Transaction[] }>('/api/v1/chargers/CP-OWN/transactions')).body.items[0]?.stoppedAt).toBeUndefined();

    await ocppCall(own, 'StopTransaction', { transactionId, meterStop: 4_000, timestamp: '2026-12-01T11:00:00.000Z', reason: 'EVDisconnected' });
    const closed = (await api<{ items: Transaction[] }>('/api/v1/installations/tx-site/transactions')).body.items.find((t) => t.transactionId === transactionId);
    expect(closed).toMatchObject({ stoppedAt: '2026-12-01T11:00:00.000Z', meterStopWh: 4_000, energyWh: 3_000, stopReason: 'EVDisconnected' });
    await own.close({ awaitPending: true });
    await rogue.close({ awaitPending: true });
  });
});

describe("an installation's transaction list", () => {
  const base = { connectorId: 1, idTag: 'T', meterStartWh: 0, nodeId: 'n' };

  it('pages newest first with a cursor, every transaction exactly once, other installations interleaved', async () => {
    const store = new TransactionStore(node.bus.js, node.bus.jsm);
    const mine: number[] = [];
    for (let i = 0; i < 250; i++) {
      const at = new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
      for (let k = 0; k < 4; k++) await store.start({ ...base, chargerId: `OTHER-${k}`, installationId: `other-${k}`, timestamp: at });
      const { transactionId } = await store.start({ ...base, chargerId: `PG-${i % 3}`, installationId: 'paged', timestamp: at });
      mine.push(transactionId);
      if (i % 5 === 0) await store.stop({ chargerId: `PG-${i % 3}`, installationId: 'paged', transactionId, known: true, meterStopWh: 10, timestamp: at, nodeId: 'n' });
    }
    const seen: Transaction[] = [];
    let cursor = '';
    for (let pages = 0; pages < 20; pages++) {
      const page = await api<{ items: Transaction[]; next?: number }>(`/api/v1/installations/paged/transactions?limit=40${cursor}`);
      expect(page.status).toBe(200);
      seen.push(...page.body.items);
      if (page.body.next === undefined) break;
      cursor = `&cursor=${page.body.next}`;
    }
    expect(seen.map((t) => t.transactionId)).toEqual([...mine].reverse());
    expect(seen.every((t) => t.installationId === 'paged')).toBe(true);
    expect(seen.filter((t) => t.stoppedAt !== undefined)).toHaveLength(50);
  });

  it('finds the newest transactions among 101,000 other records without reading them all', async () => {
    const store = new TransactionStore(node.bus.js, node.bus.jsm);
    // 101,000 other starts, published without waiting for each ack (the old list read 100,000 from the oldest).
    const body = encodeJson({ kind: 'start', ...base, chargerId: 'BULK', installationId: 'bulk', timestamp: '2026-01-01T00:00:00Z', recordedAt: '2026-01-01T00:00:00Z' });
    for (let i = 0; i < 101_000; i++) node.bus.nc.publish('tx.start.bulk.BULK', body);
    await node.bus.nc.flush();
    await waitFor(async () => ((await node.bus.jsm.streams.info('TRANSACTIONS')).state.messages >= 101_000 ? true : undefined), 20_000, 'the bulk records');
    const newest = await store.start({ ...base, chargerId: 'LATE', installationId: 'late-site', timestamp: '2026-12-03T00:00:00Z' });
    const started = Date.now();
    const page = await api<{ items: Transaction[] }>('/api/v1/installations/late-site/transactions');
    const elapsed = Date.now() - started;
    expect(page.body.items.map((t) => t.transactionId)).toEqual([newest.transactionId]);
    // Read newest first and filtered by the server, not by folding every record (which took ~6 s here).
    expect(elapsed).toBeLessThan(2_000);
  }, 60_000);

  it('still reads records of the previous subject layout (tx.start.<chargerId>), a foreign stop not closing them', async () => {
    const legacy = (rec: Record<string, unknown>) => encodeJson({ nodeId: 'n', recordedAt: '2025-06-01T00:00:00Z', ...rec });
    const a = await node.bus.js.publish('tx.start.CP-OLD', legacy({ kind: 'start', chargerId: 'CP-OLD', installationId: 'old-site', connectorId: 1, idTag: 'OLD', meterStartWh: 5, timestamp: '2025-06-01T00:00:00Z' }));
    const b = await node.bus.js.publish('tx.start.CP-OLD', legacy({ kind: 'start', chargerId: 'CP-OLD', installationId: 'old-site', connectorId: 2, idTag: 'OLD', meterStartWh: 0, timestamp: '2025-06-01T00:10:00Z' }));
    await node.bus.js.publish('tx.stop.CP-OLD', legacy({ kind: 'stop', chargerId: 'CP-OLD', installationId: 'old-site', transactionId: a.seq, known: true, meterStopWh: 105, timestamp: '2025-06-01T01:00:00Z' }));
    await node.bus.js.publish('tx.stop.CP-X', legacy({ kind: 'stop', chargerId: 'CP-X', installationId: 'old-site', transactionId: b.seq, known: false, meterStopWh: 9, timestamp: '2025-06-01T01:00:00Z' }));
    const items = (await api<{ items: Transaction[] }>('/api/v1/installations/old-site/transactions')).body.items;
    expect(items.map((t) => [t.transactionId, t.energyWh])).toEqual([
      [b.seq, undefined],
      [a.seq, 100],
    ]);
  });
});
