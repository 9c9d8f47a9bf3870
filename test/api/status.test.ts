import type { Msg } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AvailableCurrentMessage } from '../../core/available-current-store.js';
import { decodeJson, encodeJson } from '../../core/nats.js';
import { putJson } from '../../core/kv-json.js';
import { buckets, leaseKeys, subjects } from '../../core/subjects.js';
import { terminalsToGrid } from '../../api/status-view.js';
import { aCharger, aLiveStatus, anInstallation, json, leakedSecrets, simulateCharger, startApi, type ApiHarness } from './harness.js';

let h: ApiHarness;
const INST = '/api/v1/installations/st';
const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string; field?: string } }).error;

beforeAll(async () => {
  h = await startApi();
  expect((await h.call({ method: 'POST', url: '/api/v1/installations', payload: anInstallation({ id: 'st', fuse: { L1: 63, L2: 63, L3: 50 } }) })).statusCode).toBe(201);
  const chargers: [string, Record<string, unknown>][] = [
    ['ST-A', aCharger({ phaseRotation: 'L2L3L1' })],
    ['ST-B', aCharger({ phases: 1, gridPhase: 'L3', maxCurrent: 16 })],
    ['ST-C', aCharger()],
  ];
  for (const [id, body] of chargers) expect((await h.call({ method: 'PUT', url: `${INST}/chargers/${id}`, payload: body })).statusCode).toBe(201);
});
afterAll(async () => {
  await h?.close();
});

describe('terminal to grid phase mapping', () => {
  it('follows phaseRotation for 3-phase chargers and gridPhase for 1-phase chargers', () => {
    const m = { t1: 1, t2: 2, t3: 3 };
    expect(terminalsToGrid({ phases: 3, phaseRotation: 'L1L2L3', gridPhase: 'L1' }, m)).toEqual({ L1: 1, L2: 2, L3: 3 });
    expect(terminalsToGrid({ phases: 3, phaseRotation: 'L2L3L1', gridPhase: 'L1' }, m)).toEqual({ L2: 1, L3: 2, L1: 3 });
    expect(terminalsToGrid({ phases: 3, phaseRotation: 'L3L2L1', gridPhase: 'L1' }, m)).toEqual({ L3: 1, L2: 2, L1: 3 });
    expect(terminalsToGrid({ phases: 1, phaseRotation: 'L1L2L3', gridPhase: 'L2' }, m)).toEqual({ L1: 0, L2: 1, L3: 0 });
    expect(terminalsToGrid({ phases: 3, phaseRotation: 'L1L2L3', gridPhase: 'L1' }, { t1: 4 })).toEqual({ L1: 4, L2: null, L3: null });
  });
});

describe('available current', () => {
  it('PUT stores it with its expiry (units accepted) and publishes it; GET returns it', async () => {
    const published: AvailableCurrentMessage[] = [];
    const sub = h.bus.nc.subscribe(subjects.availableCurrent('st'), { callback: (_e: Error | null, m: Msg) => void published.push(decodeJson(m.data)) });
    const before = Date.now();
    const res = await h.call({ method: 'PUT', url: `${INST}/available-current`, payload: { L1: '40 A', L2: 40, L3: 0, ttlSeconds: 120 } });
    const after = Date.now();
    expect(res.statusCode).toBe(200);
    const body = json<{ L1: number; L2: number; L3: number; expiresAt: string; installationId: string }>(res);
    expect(body).toMatchObject({ installationId: 'st', L1: 40, L2: 40, L3: 0 });
    // 120 s from some instant while the request was served (whole seconds in the ISO string).
    expect(Date.parse(body.expiresAt)).toBeGreaterThanOrEqual(before + 119_000);
    expect(Date.parse(body.expiresAt)).toBeLessThanOrEqual(after + 121_000);
    await h.bus.nc.flush();
    expect(published).toEqual([body]);
    expect(json(await h.call({ method: 'GET', url: `${INST}/available-current` }))).toEqual(body);

    const defaultTtl = json<{ expiresAt: string; setAt: string }>(await h.call({ method: 'PUT', url: `${INST}/available-current`, payload: { L1: 30, L2: 30, L3: 30 } }));
    expect(Date.parse(defaultTtl.expiresAt) - Date.parse(defaultTtl.setAt)).toBe(60_000);
    sub.unsubscribe();
  });

  it('rejects bad values with 400 and keeps the previous one', async () => {
    const current = json(await h.call({ method: 'GET', url: `${INST}/available-current` }));
    const cases: [unknown, string][] = [
      [{ L1: -1, L2: 1, L3: 1 }, 'L1'],
      [{ L1: 1, L2: 5000, L3: 1 }, 'L2'],
      [{ L1: 1, L2: 1, L3: '40 V' }, 'L3'],
      [{ L1: 1, L2: 1, L3: '40' }, 'L3'],
      [{ L1: 1, L2: 1 }, 'L3'],
      [{ L1: 1, L2: 1, L3: 1, ttlSeconds: 0 }, 'ttlSeconds'],
      [{ L1: 1, L2: 1, L3: 1, ttlSeconds: 86_401 }, 'ttlSeconds'],
      [{ L1: 1, L2: 1, L3: 1, ttlSeconds: '60' }, 'ttlSeconds'],
      [{ L1: 1, L2: 1, L3: 1, ttlSeconds: 1.5 }, 'ttlSeconds'],
      [{ L1: 1, L2: 1, L3: 1, L4: 1 }, 'L4'],
    ];
    for (const [body, field] of cases) {
      const res = await h.call({ method: 'PUT', url: `${INST}/available-current`, payload: body as object });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(errorOf(res).field, JSON.stringify(body)).toBe(field);
    }
    expect(json(await h.call({ method: 'GET', url: `${INST}/available-current` }))).toEqual(current);
  });

  it('an expired limit reads as absent (404)', async () => {
    await h.deps.availableCurrent.set('st', { L1: 10, L2: 10, L3: 10, ttlSeconds: 60 }, new Date(Date.now() - 61_000));
    expect((await h.call({ method: 'GET', url: `${INST}/available-current` })).statusCode).toBe(404);
  });

  it('DELETE removes it and publishes the clearing; then 404', async () => {
    await h.call({ method: 'PUT', url: `${INST}/available-current`, payload: { L1: 20, L2: 20, L3: 20 } });
    const published: AvailableCurrentMessage[] = [];
    const sub = h.bus.nc.subscribe(subjects.availableCurrent('st'), { callback: (_e: Error | null, m: Msg) => void published.push(decodeJson(m.data)) });
    expect((await h.call({ method: 'DELETE', url: `${INST}/available-current` })).statusCode).toBe(204);
    await h.bus.nc.flush();
    expect(published).toEqual([expect.objectContaining({ installationId: 'st', cleared: true })]);
    expect((await h.call({ method: 'GET', url: `${INST}/available-current` })).statusCode).toBe(404);
    expect((await h.call({ method: 'DELETE', url: `${INST}/available-current` })).statusCode).toBe(404);
    sub.unsubscribe();
  });
});

describe('installation status', () => {
  it('reports fuse only when nothing is connected and no balancer answers', async () => {
    const res = await h.call({ method: 'GET', url: `${INST}/status` });
    expect(res.statusCode).toBe(200);
    const body = json<{ phases: Record<string, unknown>; chargers: { id: string; connected: boolean; measured: unknown; currentLimit: unknown }[]; balancerReachable: boolean }>(res);
    expect(body.balancerReachable).toBe(false);
    expect(body).toHaveProperty('balancerNodeId', null);
    expect(body.phases).toEqual({
      L1: { fuse: 63, dynamicLimit: null, allocated: null, measured: 0 },
      L2: { fuse: 63, dynamicLimit: null, allocated: null, measured: 0 },
      L3: { fuse: 50, dynamicLimit: null, allocated: null, measured: 0 },
    });
    expect(body.chargers.map((c) => [c.id, c.connected, c.measured, c.currentLimit])).toEqual([
      ['ST-A', false, null, null],
      ['ST-B', false, null, null],
      ['ST-C', false, null, null],
    ]);
  });

  it('combines live charger status, wiring, the balancer allocation and the dynamic limit', async () => {
    const a = simulateCharger(h.bus.nc, 'ST-A', () => ({ ok: true, response: aLiveStatus('ST-A', 'st', { measured: { t1: 10, t2: 11, t3: 12 } }) }));
    const b = simulateCharger(h.bus.nc, 'ST-B', () => ({
      ok: true,
      response: aLiveStatus('ST-B', 'st', { measured: { t1: 7 }, activeTransactions: [], connectors: [{ connectorId: 1, status: 'SuspendedEV', errorCode: 'NoError', updatedAt: '2026-01-01T00:00:00.000Z' }] }),
    }));
    const balancer = h.bus.nc.subscribe(subjects.balancerStatus('st'), {
      callback: (_e: Error | null, m: Msg) => void m.respond(encodeJson({
          allocated: { L1: 16, L2: 16, L3: 32 },
          chargers: { 'ST-A': { limit: 16, target: 16, reason: 'capped', phases: ['L1', 'L2', 'L3'], counted: 16, countedBecause: 'limit' }, 'ST-B': { limit: 16, phases: ['L3'], counted: 20, countedBecause: 'offline: max' } },
          failsafe: { inForce: true, since: '2026-01-01T00:00:00.000Z', source: 'configured', current: { L1: 10, L2: 10, L3: 10 } },
        })),
    });
    await h.call({ method: 'PUT', url: `${INST}/available-current`, payload: { L1: 45, L2: 45, L3: '0.04 kA' } });
    // The balancer's lease names its node (issue 10: the status says where the balancer runs).
    await putJson(h.bus.kv[buckets.leases], leaseKeys.balancerOf('st'), { nodeId: 'node-balancer', expiresAt: Date.now() + 60_000 });

    const res = await h.call({ method: 'GET', url: `${INST}/status` });
    expect(res.statusCode).toBe(200);
    const body = json<{ phases: unknown; balancerReachable: boolean; dynamicLimitExpiresAt: string | null; chargers: Record<string, unknown>[] }>(res);
    expect(body.balancerReachable).toBe(true);
    expect(body).toHaveProperty('balancerNodeId', 'node-balancer');
    expect(body.dynamicLimitExpiresAt).not.toBeNull();
    expect(body.phases).toEqual({
      // ST-A is wired L2L3L1: t1 -> L2, t2 -> L3, t3 -> L1; ST-B (1-phase) sits on L3.
      L1: { fuse: 63, dynamicLimit: 45, allocated: 16, measured: 12 },
      L2: { fuse: 63, dynamicLimit: 45, allocated: 16, measured: 10 },
      L3: { fuse: 50, dynamicLimit: 40, allocated: 32, measured: 18 },
    });
    expect(body.chargers[0]).toEqual({
      id: 'ST-A',
      connected: true,
      nodeId: 'node-sim',
      lastSeen: '2026-01-01T00:00:10.000Z',
      connectors: [{ connectorId: 1, status: 'Charging', errorCode: 'NoError', updatedAt: '2026-01-01T00:00:05.000Z' }],
      currentLimit: 16,
      limitReason: 'capped',
      countedA: 16,
      countedBecause: 'limit',
      measured: { L1: 12, L2: 10, L3: 11 },
      activeTransactions: [{ transactionId: 7, connectorId: 1, idTag: 'TAG1', meterStartWh: 0, startedAt: '2026-01-01T00:00:06.000Z' }],
      // The installation has no partner: nothing is asked.
      partner: { state: 'disabled', since: null, reason: null, retryAt: null, attempt: null, nodeId: null },
    });
    expect(body.chargers[1]).toMatchObject({ id: 'ST-B', connected: true, currentLimit: 16, limitReason: null, countedA: 20, countedBecause: 'offline: max', measured: { L1: 0, L2: 0, L3: 7 }, activeTransactions: [] });
    expect((body as unknown as { failsafe: unknown }).failsafe).toEqual({ inForce: true, since: '2026-01-01T00:00:00.000Z', source: 'configured', current: { L1: 10, L2: 10, L3: 10 } });
    expect(body.chargers[2]).toMatchObject({ id: 'ST-C', connected: false, currentLimit: null, countedA: null, countedBecause: null, measured: null, connectors: [] });
    for (const s of [a.sub, b.sub, balancer]) s.unsubscribe();
  });

  it("names the balancer's node from its own answer (no lease read), and says when it is paused", async () => {
    // The lease in KV names another node: the answer of the balancer itself wins (its node's memory).
    await putJson(h.bus.kv[buckets.leases], leaseKeys.balancerOf('st'), { nodeId: 'node-in-kv', expiresAt: Date.now() + 60_000 });
    let paused = false;
    const balancer = h.bus.nc.subscribe(subjects.balancerStatus('st'), {
      callback: (_e: Error | null, m: Msg) => void m.respond(encodeJson({ allocated: { L1: 0, L2: 0, L3: 0 }, chargers: {}, nodeId: 'node-running', paused })),
    });
    const body = async (): Promise<{ balancerNodeId: string | null; balancerPaused: boolean }> => json(await h.call({ method: 'GET', url: `${INST}/status` }));
    expect(await body()).toMatchObject({ balancerNodeId: 'node-running', balancerPaused: false });
    paused = true;
    expect(await body()).toMatchObject({ balancerNodeId: 'node-running', balancerPaused: true });
    balancer.unsubscribe();
    // None answers: the lease says who leads, and nothing is paused.
    expect(await body()).toMatchObject({ balancerNodeId: 'node-in-kv', balancerPaused: false });
  });

  it('404 for an unknown installation', async () => {
    expect((await h.call({ method: 'GET', url: '/api/v1/installations/none/status' })).statusCode).toBe(404);
  });

  it('never returned or logged a secret', () => {
    expect(leakedSecrets(h.seen)).toEqual([]);
  });
});
