/**
 * 1/3-phase switching end to end (issue 12): through the HTTP API and real OCPP sockets (real
 * nats-server, Fastify, ws). Three 3-phase chargers on 3x20 A; two may switch (terminal 1 on L1 and on
 * L2), one may not and has priority. The fuse cut to 3x13 A leaves no room for three 3x6 A minimums:
 * the two with the flag get numberPhases 1 and charge on L1 and L2; raised again, they get
 * numberPhases 3 back, not before their switch stood its hold. The one without the flag never gets
 * numberPhases. Also the settings' 400s, naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { INITIAL_PASSWORD, startTestNode, waitFor } from '../support/platform.js';
import { TestCharger, type ProfileCall } from '../support/sim-charger.js';

const NODE_ENV = { BALANCER_RETRY_MS: '500', BALANCER_PROFILE_TIMEOUT_MS: '1000', BALANCER_LEASE_TTL_MS: '1500' };
let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url, NODE_ENV);
});
afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

const HOLD_MS = 1_500;
const BALANCER = { settleMs: 300, minChangeIntervalMs: 0, deadbandA: 0, minRunMs: 0, minPauseMs: 0, rotationIntervalMs: 3_600_000, admissionWindowMs: 0, phaseSwitchHoldMs: HOLD_MS, maxPhaseSwitches: 5 };

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

interface ChargerStatusBody {
  chargers: { id: string; currentLimit: number | null; phaseMode?: number; phaseSwitches?: number }[];
}

describe('1/3-phase switching through the API and real sockets', () => {
  it('validates the settings and names the field', async () => {
    expect((await api('POST', '/installations', { id: 'ps-val', name: 'Validation', fuse: { L1: 32, L2: 32, L3: 32 }, chargerPassword: INITIAL_PASSWORD })).status).toBe(201);
    await expectField(await api('PUT', '/installations/ps-val/chargers/v1', { phases: 3, maxCurrent: 16, phaseSwitching: 'yes' }), 400, 'phaseSwitching');
    await expectField(await api('PUT', '/installations/ps-val/chargers/v1', { phases: 1, maxCurrent: 16, phaseSwitching: true }), 400, 'phaseSwitching');
    await expectField(await api('PATCH', '/installations/ps-val', { balancer: { maxPhaseSwitches: -1 } }), 400, 'balancer.maxPhaseSwitches');
    await expectField(await api('PATCH', '/installations/ps-val', { balancer: { phaseSwitchHoldMs: 1.5 } }), 400, 'balancer.phaseSwitchHoldMs');
    await expectField(await api('PUT', '/installations/ps-val/chargers/v1', { phases: 3, maxCurrent: 16, phaseSwitching: true }), 201);
    const body = (await (await api('GET', '/installations/ps-val/chargers/v1')).json()) as { phaseSwitching?: boolean };
    expect(body.phaseSwitching).toBe(true);
    // Default: off.
    await expectField(await api('PUT', '/installations/ps-val/chargers/v2', { phases: 3, maxCurrent: 16 }), 201);
    expect(((await (await api('GET', '/installations/ps-val/chargers/v2')).json()) as { phaseSwitching?: boolean }).phaseSwitching).toBe(false);
  });

  it('a cut fuse puts the chargers with the flag on one phase (numberPhases 1), raised again they get 3 back after the hold', async () => {
    const inst = 'ps-cut';
    expect((await api('POST', '/installations', { id: inst, name: 'Switching', fuse: { L1: 20, L2: 20, L3: 20 }, chargerPassword: INITIAL_PASSWORD, balancer: BALANCER })).status).toBe(201);
    expect((await api('PUT', `/installations/${inst}/chargers/P1`, { phases: 3, maxCurrent: 16, phaseSwitching: true, phaseRotation: 'L1L2L3' })).status).toBe(201);
    expect((await api('PUT', `/installations/${inst}/chargers/P2`, { phases: 3, maxCurrent: 16, phaseSwitching: true, phaseRotation: 'L2L3L1' })).status).toBe(201);
    expect((await api('PUT', `/installations/${inst}/chargers/Q`, { phases: 3, maxCurrent: 16, priority: 1 })).status).toBe(201);
    await waitFor(() => node.balancers.balancer(inst), 5_000, 'balancer');
    await waitFor(() => ['P1', 'P2', 'Q'].every((id) => node.cache.chargers.has(id)) || undefined);
    const log: ProfileCall[] = [];
    const [p1, p2, q] = ['P1', 'P2', 'Q'].map((id) => new TestCharger(id, () => node, log)) as [TestCharger, TestCharger, TestCharger];
    // Each car draws what it is offered, on the phases it is told: the balancer counts a charger on
    // one phase once its meter shows it there.
    for (const c of [p1, p2, q]) c.drawsLimit = true;
    for (const c of [p1, p2, q]) await c.connect();
    await Promise.all([p1, p2, q].map((c) => c.waitForLimit((l) => l === 0)));
    for (const c of [p1, p2, q]) await c.plugIn();
    // 3x20 A: three 3x6 A minimums fit, everyone on three phases; Q has priority: 20 - 2 x 6 = 8 A.
    await q.waitForLimit((l) => l === 8);
    for (const c of [p1, p2]) await c.waitForLimit((l) => l === 6);
    expect(p1.numberPhases).toBe(3);
    expect(p2.numberPhases).toBe(3);

    // Cut to 3x13 A: 18 A of 3-phase minimums no longer fit; on one phase each (P1 on L1, P2 on L2) they do.
    const cutAt = Date.now();
    expect((await api('PATCH', `/installations/${inst}`, { fuse: { L1: 13, L2: 13, L3: 13 } })).status).toBe(200);
    await waitFor(() => (p1.numberPhases === 1 && p2.numberPhases === 1 ? true : undefined), 8_000, 'both on one phase');
    // The hold runs from when the platform planned the switch: judged on the platform's clock when it
    // sent each (a loaded machine delays one message more than another on the way), less the time a
    // send waits for its KV write.
    const switchedAt = Math.max(...log.filter((c) => c.numberPhases === 1 && c.answered === 'Accepted').map((c) => c.builtAt));
    // Q (priority, no flag) keeps three phases: L1 and L2 each carry Q and one 1-phase car within 13 A.
    await q.waitForLimit((l) => l === 7);
    await p1.waitForLimit((l) => l === 6);
    await p2.waitForLimit((l) => l === 6);
    const status = await waitFor(async () => {
      const body = (await (await api('GET', `/installations/${inst}/status`)).json()) as ChargerStatusBody;
      return body.chargers.find((c) => c.id === 'P1')?.phaseMode === 1 ? body : undefined;
    }, 5_000, 'status with the phase mode');
    expect(status.chargers.find((c) => c.id === 'P1')).toMatchObject({ phaseMode: 1, phaseSwitches: 1 });
    expect(status.chargers.find((c) => c.id === 'Q')).not.toHaveProperty('phaseMode');

    // Raised again at once: back on three phases only once the switch stood its hold.
    const raisedAt = Date.now();
    expect((await api('PATCH', `/installations/${inst}`, { fuse: { L1: 20, L2: 20, L3: 20 } })).status).toBe(200);
    await waitFor(() => (p1.numberPhases === 3 && p2.numberPhases === 3 ? true : undefined), 10_000, 'both on three phases');
    const backAt = Math.min(...log.filter((c) => c.numberPhases === 3 && c.builtAt > switchedAt && c.answered === 'Accepted').map((c) => c.builtAt));
    expect(backAt - switchedAt).toBeGreaterThanOrEqual(HOLD_MS - 50);
    await q.waitForLimit((l) => l === 8);
    const after = (await (await api('GET', `/installations/${inst}/status`)).json()) as ChargerStatusBody;
    expect(after.chargers.find((c) => c.id === 'P2')).toMatchObject({ phaseMode: 3, phaseSwitches: 2 });

    // The charger without the flag never got numberPhases; those with it always did.
    expect(log.filter((c) => c.chargerId === 'Q').every((c) => c.numberPhases === undefined)).toBe(true);
    expect(log.filter((c) => c.chargerId !== 'Q').every((c) => c.numberPhases === 1 || c.numberPhases === 3)).toBe(true);
    // Replay in arrival order: no accepted raise (a higher limit or more phases) left a phase over the
    // fuse in force then (13 A from the cut until it went up again, else 20 A).
    const applied = new Map<string, { limit: number; phases: number }>();
    for (const call of log.filter((c) => c.answered === 'Accepted')) {
      const before = applied.get(call.chargerId) ?? { limit: 0, phases: 3 };
      applied.set(call.chargerId, { limit: call.limit, phases: call.numberPhases ?? 3 });
      const raise = call.limit > before.limit || (call.numberPhases ?? 3) > before.phases;
      if (!raise) continue;
      const fuse = call.at >= cutAt && call.at < raisedAt ? 13 : 20;
      const load = { L1: 0, L2: 0, L3: 0 };
      for (const [id, a] of applied) {
        const first = id === 'P2' ? 'L2' : 'L1';
        if (a.phases === 1) load[first] += a.limit;
        else for (const p of ['L1', 'L2', 'L3'] as const) load[p] += a.limit;
      }
      for (const p of ['L1', 'L2', 'L3'] as const) expect(load[p], `${call.chargerId} at ${call.at}: ${p}`).toBeLessThanOrEqual(fuse + 1e-6);
    }
    for (const c of [p1, p2, q]) await c.close();
  });

  it('a new leader after a restart knows a charger is on one phase (the stored phase mode and count)', async () => {
    const inst = 'ps-restart';
    expect((await api('POST', '/installations', { id: inst, name: 'Restart', fuse: { L1: 10, L2: 10, L3: 10 }, chargerPassword: INITIAL_PASSWORD, balancer: BALANCER })).status).toBe(201);
    expect((await api('PUT', `/installations/${inst}/chargers/R1`, { phases: 3, maxCurrent: 16, phaseSwitching: true, phaseRotation: 'L1L2L3' })).status).toBe(201);
    expect((await api('PUT', `/installations/${inst}/chargers/R2`, { phases: 3, maxCurrent: 16, phaseSwitching: true, phaseRotation: 'L3L1L2' })).status).toBe(201);
    await waitFor(() => node.balancers.balancer(inst), 5_000, 'balancer');
    await waitFor(() => ['R1', 'R2'].every((id) => node.cache.chargers.has(id)) || undefined);
    const log: ProfileCall[] = [];
    const [r1, r2] = ['R1', 'R2'].map((id) => new TestCharger(id, () => node, log)) as [TestCharger, TestCharger];
    for (const c of [r1, r2]) c.drawsLimit = true;
    for (const c of [r1, r2]) await c.connect();
    for (const c of [r1, r2]) await c.plugIn();
    // 3x10 A: 2 x 3x6 A do not fit; one phase each (R1 on L1, R2 on L3) at 10 A.
    await waitFor(() => (r1.numberPhases === 1 && r2.numberPhases === 1 && r1.limit === 10 && r2.limit === 10 ? true : undefined), 8_000, 'both on one phase');
    for (const c of [r1, r2]) await c.close();
    await node.stop();
    node = await startTestNode(nats.url, NODE_ENV);
    const balancer = await waitFor(() => node.balancers.balancer(inst), 6_000, 'new leader');
    const status = await waitFor(() => (balancer.status().chargers.R1?.phaseMode === 1 ? balancer.status() : undefined), 3_000, 'stored phase mode');
    expect(status.chargers.R1).toMatchObject({ phaseMode: 1, phaseSwitches: 1, limit: 10 });
    expect(status.chargers.R2).toMatchObject({ phaseMode: 1, phaseSwitches: 1 });
  });
});
