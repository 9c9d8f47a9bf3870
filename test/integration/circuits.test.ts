/**
 * Circuits end to end (issue 12): through the HTTP API and real OCPP sockets, a main fuse of 3x63 A
 * with two boards of 3x32 A, one of which binds; the tree's validation errors; a grid meter on a board.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Phase } from '../../core/model.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { INITIAL_PASSWORD, startTestNode, waitFor } from '../support/platform.js';
import { TestCharger, type ProfileCall } from '../support/sim-charger.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url, { BALANCER_RETRY_MS: '500', BALANCER_PROFILE_TIMEOUT_MS: '1000' });
});
afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

const fastBalancer = { settleMs: 300, minChangeIntervalMs: 0, deadbandA: 0, minRunMs: 0, minPauseMs: 0, rotationIntervalMs: 3_600_000 };

function api(method: string, path: string, body?: unknown) {
  return fetch(`http://127.0.0.1:${node.apiPort}/api/v1${path}`, {
    method,
    headers: { authorization: 'Bearer test-admin-token-0123456789', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function expectField(res: Response, status: number, field?: string): Promise<void> {
  const body = (await res.json()) as { error: { code: string; field?: string } };
  expect(res.status, JSON.stringify(body)).toBe(status);
  if (field !== undefined) expect(body.error.field).toBe(field);
}

/** Replays the accepted profiles in arrival order: no accepted raise may leave any circuit phase above its limit. */
function circuitViolations(log: readonly ProfileCall[], circuitOf: Record<string, string[]>, limits: Record<string, number>): string[] {
  const applied: Record<string, number> = {};
  const out: string[] = [];
  for (const call of log) {
    if (call.answered !== 'Accepted') continue;
    const before = applied[call.chargerId] ?? 0;
    applied[call.chargerId] = call.limit;
    if (call.limit <= before) continue;
    for (const [circuit, limit] of Object.entries(limits)) {
      // Every charger here is 3-phase and loads all three phases equally: one phase stands for all.
      const sum = Object.entries(applied).reduce((s, [id, v]) => s + (circuitOf[id]?.includes(circuit) ? v : 0), 0);
      if (sum > limit + 1e-6) out.push(`${call.chargerId} raised to ${call.limit}: ${circuit} at ${sum} > ${limit}`);
    }
  }
  return out;
}

interface CircuitStatusBody {
  circuits?: { id: string; parentId: string | null; fuse: Record<Phase, number | null>; limits: Record<Phase, number | null> | null; allocated: Record<Phase, number | null> | null; chargerIds: string[]; meter: { otherLoad: Record<Phase, number> | null; failsafe?: unknown } | null }[];
}

async function connected(ids: string[], log: ProfileCall[]): Promise<TestCharger[]> {
  await waitFor(() => ids.every((id) => node.cache.chargers.has(id)) || undefined);
  const chargers = ids.map((id) => new TestCharger(id, () => node, log));
  for (const c of chargers) await c.connect();
  await Promise.all(chargers.map((c) => c.waitForLimit((l) => l === 0)));
  return chargers;
}

describe('circuits through the API and real sockets', () => {
  it('validates the tree and names the field', async () => {
    expect((await api('POST', '/installations', { id: 'tree-val', name: 'Validation', fuse: { L1: 63, L2: 63, L3: 63 }, chargerPassword: INITIAL_PASSWORD })).status).toBe(201);
    await expectField(await api('PUT', '/installations/tree-val/circuits/a', { name: 'A', limits: { L1: 32 }, parentId: 'nope' }), 400, 'parentId');
    await expectField(await api('PUT', '/installations/tree-val/circuits/a', { name: 'A', limits: { L1: 0 } }), 400, 'limits.L1');
    await expectField(await api('PUT', '/installations/tree-val/circuits/a', { name: 'A', limits: {} }), 400, 'limits');
    await expectField(await api('PUT', '/installations/tree-val/circuits/a', { name: 'A', limits: { L1: 32 } }), 201);
    // A child may not use a phase its parent is not wired to.
    await expectField(await api('PUT', '/installations/tree-val/circuits/b', { name: 'B', parentId: 'a', limits: { L1: 16, L2: 16 } }), 400, 'limits.L2');
    await expectField(await api('PUT', '/installations/tree-val/circuits/b', { name: 'B', parentId: 'a', limits: { L1: 16 } }), 201);
    // Wiring a under b would close a cycle.
    await expectField(await api('PUT', '/installations/tree-val/circuits/a', { name: 'A', parentId: 'b', limits: { L1: 32 } }), 400, 'parentId');
    await expectField(await api('PUT', '/installations/tree-val/circuits/main', { name: 'x' }), 400, 'name');
    await expectField(await api('PUT', '/installations/tree-val/chargers/v1', { phases: 1, maxCurrent: 16, circuitId: 'ghost' }), 400, 'circuitId');
    await expectField(await api('PUT', '/installations/tree-val/chargers/v1', { phases: 1, maxCurrent: 16, circuitId: 'b' }), 201);
    await expectField(await api('DELETE', '/installations/tree-val/circuits/a'), 409);
    await expectField(await api('DELETE', '/installations/tree-val/circuits/b'), 409);
    const list = (await (await api('GET', '/installations/tree-val/circuits')).json()) as { items: { id: string; parentId?: string; root: boolean }[] };
    expect(list.items.map((c) => [c.id, c.parentId ?? null, c.root])).toEqual([
      ['main', null, true],
      ['a', 'main', false],
      ['b', 'a', false],
    ]);
    // A patch of the installation keeps its circuits.
    expect((await api('PATCH', '/installations/tree-val', { name: 'Renamed' })).status).toBe(200);
    expect(((await (await api('GET', '/installations/tree-val/circuits')).json()) as { items: unknown[] }).items).toHaveLength(3);
  });

  it('main 3x63 A with two boards of 3x32 A: the busy board binds, the other board and the main fuse do not, and raises wait for room on every level', async () => {
    const inst = 'tree-two';
    expect((await api('POST', '/installations', { id: inst, name: 'Two boards', fuse: { L1: 63, L2: 63, L3: 63 }, chargerPassword: INITIAL_PASSWORD, balancer: fastBalancer })).status).toBe(201);
    for (const board of ['boardA', 'boardB']) expect((await api('PUT', `/installations/${inst}/circuits/${board}`, { name: board, limits: { L1: 32, L2: 32, L3: 32 } })).status).toBe(201);
    const circuitOf: Record<string, string[]> = {};
    for (const id of ['A1', 'A2', 'A3']) {
      expect((await api('PUT', `/installations/${inst}/chargers/${id}`, { phases: 3, maxCurrent: 32, circuitId: 'boardA' })).status).toBe(201);
      circuitOf[id] = ['boardA', 'main'];
    }
    for (const id of ['B1', 'B2']) {
      expect((await api('PUT', `/installations/${inst}/chargers/${id}`, { phases: 3, maxCurrent: 13, circuitId: 'boardB' })).status).toBe(201);
      circuitOf[id] = ['boardB', 'main'];
    }
    await waitFor(() => node.balancers.balancer(inst), 5_000, 'balancer');
    const log: ProfileCall[] = [];
    const chargers = await connected(['A1', 'A2', 'A3', 'B1', 'B2'], log);
    const [a1, a2, a3, b1, b2] = chargers as [TestCharger, TestCharger, TestCharger, TestCharger, TestCharger];
    for (const c of chargers) await c.plugIn();
    // Flat, the three A chargers would get (63 - 26) / 3 = 12.3 A each; board A holds them to 32 A together.
    await a1.waitForLimit((l) => l === 10.7);
    await a2.waitForLimit((l) => l === 10.7);
    await a3.waitForLimit((l) => l === 10.6);
    await b1.waitForLimit((l) => l === 13);
    await b2.waitForLimit((l) => l === 13);
    const status = await waitFor(async () => {
      const body = (await (await api('GET', `/installations/${inst}/status`)).json()) as CircuitStatusBody;
      return body.circuits?.find((c) => c.id === 'boardA')?.allocated?.L1 === 32 ? body : undefined;
    }, 5_000, 'status with circuits');
    const byId = new Map(status.circuits!.map((c) => [c.id, c]));
    expect(status.circuits!.map((c) => c.id)).toEqual(['main', 'boardA', 'boardB']);
    expect(byId.get('boardA')).toMatchObject({ parentId: 'main', fuse: { L1: 32, L2: 32, L3: 32 }, limits: { L1: 32, L2: 32, L3: 32 }, chargerIds: ['A1', 'A2', 'A3'] });
    expect(byId.get('boardB')?.allocated).toEqual({ L1: 26, L2: 26, L3: 26 });
    expect(byId.get('main')?.allocated?.L1).toBeCloseTo(58, 6);

    // Board A's fuse goes down to 3x24 A: its chargers come down first, board B keeps its 13 A.
    const changedAt = Date.now();
    expect((await api('PUT', `/installations/${inst}/circuits/boardA`, { name: 'boardA', limits: { L1: 24, L2: 24, L3: 24 } })).status).toBe(200);
    for (const c of [a1, a2, a3]) await c.waitForLimit((l) => l === 8);
    expect(b1.limit).toBe(13);
    // A car leaves board A: the other two share its 24 A, each raise after the decreases it needs.
    await a3.close();
    await expectField(await api('DELETE', `/installations/${inst}/circuits/boardA`), 409);
    expect(circuitViolations(log.filter((c) => c.at < changedAt), circuitOf, { main: 63, boardA: 32, boardB: 32 })).toEqual([]);
    expect(circuitViolations(log, circuitOf, { main: 63, boardA: 32, boardB: 32 })).toEqual([]);
    expect(circuitViolations(log.filter((c) => c.at >= changedAt), circuitOf, { main: 63, boardA: 24, boardB: 32 }).filter((v) => !v.includes('A3'))).toEqual([]);
    for (const c of [a1, a2, b1, b2]) await c.close();
  });

  it('a grid meter on a board: chargers get fuse - margin - the other load; a silent meter puts the board on its failsafe', async () => {
    const inst = 'tree-meter';
    expect((await api('POST', '/installations', { id: inst, name: 'Metered', fuse: { L1: 63, L2: 63, L3: 63 }, chargerPassword: INITIAL_PASSWORD, balancer: { ...fastBalancer, safetyMarginA: 2 } })).status).toBe(201);
    expect((await api('PUT', `/installations/${inst}/circuits/board`, { name: 'Board', limits: { L1: 32, L2: 32, L3: 32 }, meter: { maxAgeS: 2, failsafeCurrent: { L1: 6, L2: 6, L3: 6 } } })).status).toBe(201);
    expect((await api('PUT', `/installations/${inst}/chargers/M1`, { phases: 3, maxCurrent: 32, circuitId: 'board' })).status).toBe(201);
    await waitFor(() => node.balancers.balancer(inst), 5_000, 'balancer');
    const log: ProfileCall[] = [];
    const [m1] = (await connected(['M1'], log)) as [TestCharger];
    await m1.plugIn();
    // No reading yet: the board is on its failsafe (6 A).
    await m1.waitForLimit((l) => l === 6, 'failsafe before the first reading');
    await m1.meter(6);
    // The car draws 6 A; the meter sees 6 A + 11 A of other load on L1, 6 + 4 on L2/L3: 32 - 2 - 11 = 19 A.
    // Readings repeat every 500 ms, so one taken before the balancer saw the car's MeterValues is soon replaced.
    const reading = (l1: number, l2: number) => api('PUT', `/installations/${inst}/circuits/board/meter`, { L1: l1, L2: l2, L3: l2 });
    const feed = setInterval(() => void reading(17, 10), 500);
    try {
      expect((await reading(17, 10)).status).toBe(202);
      await m1.waitForLimit((l) => l === 19, 'fuse - margin - other load');
      const status = (await (await api('GET', `/installations/${inst}/status`)).json()) as CircuitStatusBody;
      expect(status.circuits?.find((c) => c.id === 'board')?.meter?.otherLoad).toEqual({ L1: 11, L2: 4, L3: 4 });
      await expectField(await api('PUT', `/installations/${inst}/circuits/board/meter`, { L1: -1, L2: 0, L3: 0 }), 400, 'L1');
      await expectField(await api('PUT', `/installations/${inst}/circuits/nope/meter`, { L1: 1, L2: 0, L3: 0 }), 404);
    } finally {
      clearInterval(feed);
    }
    // Silent for longer than maxAgeS: the failsafe current again.
    await m1.waitForLimit((l) => l === 6, 'failsafe after silence');
    const silent = (await (await api('GET', `/installations/${inst}/status`)).json()) as CircuitStatusBody;
    expect(silent.circuits?.find((c) => c.id === 'board')?.meter?.failsafe).toMatchObject({ source: 'configured', current: { L1: 6, L2: 6, L3: 6 } });
    await m1.close();
  });
});
