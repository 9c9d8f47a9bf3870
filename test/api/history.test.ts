import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeJson } from '../../core/nats.js';
import { subjects } from '../../core/subjects.js';
import { aCharger, anInstallation, json, leakedSecrets, startApi, type ApiHarness } from './harness.js';

let h: ApiHarness;
const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string; field?: string } }).error;
const V1 = '/api/v1';
const PARTNER_KEY = 'partner-set-Secret-5521';
type Tx = { transactionId: number; chargerId: string; installationId: string; startedAt: string; energyWh?: number };

beforeAll(async () => {
  h = await startApi();
  for (const id of ['h1', 'h2']) expect((await h.call({ method: 'POST', url: `${V1}/installations`, payload: anInstallation({ id }) })).statusCode).toBe(201);
  for (const [inst, cp] of [['h1', 'H1-A'], ['h1', 'H1-B'], ['h2', 'H2-A']] as const) {
    expect((await h.call({ method: 'PUT', url: `${V1}/installations/${inst}/chargers/${cp}`, payload: aCharger() })).statusCode).toBe(201);
  }
  const tx = h.deps.transactions;
  const base = { connectorId: 1, idTag: 'TAG', meterStartWh: 1000, nodeId: 'n1' };
  const t1 = await tx.start({ ...base, chargerId: 'H1-A', installationId: 'h1', timestamp: '2026-01-01T08:00:00.000Z' });
  await tx.stop({ chargerId: 'H1-A', installationId: 'h1', transactionId: t1.transactionId, known: true, meterStopWh: 6000, timestamp: '2026-01-01T09:00:00.000Z', nodeId: 'n1' });
  await tx.start({ ...base, chargerId: 'H1-A', installationId: 'h1', timestamp: '2026-01-02T08:00:00.000Z' });
  await tx.start({ ...base, chargerId: 'H1-B', installationId: 'h1', timestamp: '2026-01-03T08:00:00.000Z' });
  await tx.start({ ...base, chargerId: 'H2-A', installationId: 'h2', timestamp: '2026-01-04T08:00:00.000Z' });

  const entry = (n: number, over: Record<string, unknown> = {}) => ({
    chargerId: 'H1-A',
    direction: n % 2 ? 'in' : 'out',
    type: n % 2 ? 'CALL' : 'CALLRESULT',
    id: `m${n}`,
    action: 'Heartbeat',
    payload: n % 2 ? {} : { currentTime: '2026-01-01T00:00:00.000Z' },
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
    ...over,
  });
  for (let n = 1; n <= 5; n++) await h.bus.js.publish(subjects.ocppLog('H1-A'), encodeJson(entry(n)));
  await h.bus.js.publish(subjects.ocppLog('H1-A'), encodeJson(entry(6, { direction: 'out', type: 'CALL', action: 'ChangeConfiguration', payload: { key: 'AuthorizationKey', value: PARTNER_KEY } })));
  await h.bus.js.publish(subjects.ocppLog('H2-A'), encodeJson(entry(7, { chargerId: 'H2-A' })));
});
afterAll(async () => {
  await h?.close();
});

describe('transactions', () => {
  it("lists a charger's transactions newest first, folded with their stop", async () => {
    const res = await h.call({ method: 'GET', url: `${V1}/chargers/H1-A/transactions` });
    expect(res.statusCode).toBe(200);
    const items = json<{ items: Tx[] }>(res).items;
    expect(items.map((t) => t.startedAt)).toEqual(['2026-01-02T08:00:00.000Z', '2026-01-01T08:00:00.000Z']);
    expect(items[1]).toMatchObject({ energyWh: 5000, stoppedAt: '2026-01-01T09:00:00.000Z', chargerId: 'H1-A', installationId: 'h1' });
    expect(json<{ items: Tx[] }>(await h.call({ method: 'GET', url: `${V1}/chargers/H1-A/transactions?limit=1` })).items).toHaveLength(1);
  });

  it('filters by from/to and by installation', async () => {
    const ranged = json<{ items: Tx[] }>(await h.call({ method: 'GET', url: `${V1}/installations/h1/transactions?from=2026-01-01T12:00:00Z&to=2026-01-02T12:00:00Z` }));
    expect(ranged.items.map((t) => t.chargerId)).toEqual(['H1-A']);
    const all = json<{ items: Tx[] }>(await h.call({ method: 'GET', url: `${V1}/installations/h1/transactions` }));
    expect(all.items.map((t) => t.chargerId)).toEqual(['H1-B', 'H1-A', 'H1-A']);
    expect(all.items.every((t) => t.installationId === 'h1')).toBe(true);
    expect(json<{ items: Tx[] }>(await h.call({ method: 'GET', url: `${V1}/chargers/H1-B/transactions?from=2026-02-01T00:00:00Z` })).items).toEqual([]);
  });

  it('rejects bad query parameters with 400 naming them', async () => {
    const cases: [string, string][] = [
      ['from=yesterday', 'from'],
      ['to=2026-13-01T00:00:00Z', 'to'],
      ['from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
      ['limit=0', 'limit'],
      ['limit=5000', 'limit'],
      ['page=2', 'page'],
    ];
    for (const [q, field] of cases) {
      const res = await h.call({ method: 'GET', url: `${V1}/chargers/H1-A/transactions?${q}` });
      expect(res.statusCode, q).toBe(400);
      expect(errorOf(res).field, q).toBe(field);
    }
  });
});

describe('OCPP message log', () => {
  it('returns the newest messages of one charger, oldest first, with AuthorizationKey values redacted', async () => {
    const res = await h.call({ method: 'GET', url: `${V1}/chargers/H1-A/ocpp-log` });
    expect(res.statusCode).toBe(200);
    const items = json<{ items: { id: string; chargerId: string; payload: unknown; seq: number }[] }>(res).items;
    expect(items.map((i) => i.id)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    expect(items.every((i) => i.chargerId === 'H1-A')).toBe(true);
    expect(items[5]?.payload).toEqual({ key: 'AuthorizationKey', value: '[redacted]' });
    expect(res.body).not.toContain(PARTNER_KEY);
    expect(items[0]).toMatchObject({ direction: 'in', type: 'CALL', action: 'Heartbeat', at: '2026-01-01T00:00:01.000Z' });

    const last3 = json<{ items: { id: string }[] }>(await h.call({ method: 'GET', url: `${V1}/chargers/H1-A/ocpp-log?limit=3` }));
    expect(last3.items.map((i) => i.id)).toEqual(['m4', 'm5', 'm6']);
  });

  it('an empty log answers at once', async () => {
    const started = Date.now();
    const res = await h.call({ method: 'GET', url: `${V1}/chargers/H1-B/ocpp-log` });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toEqual({ items: [] });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect((await h.call({ method: 'GET', url: `${V1}/chargers/H1-B/ocpp-log?limit=0` })).statusCode).toBe(400);
  });

  it('never returned or logged a secret', () => {
    expect(leakedSecrets([...h.seen])).toEqual([]);
    expect(h.seen.some((s) => s.includes(PARTNER_KEY))).toBe(false);
  });
});
