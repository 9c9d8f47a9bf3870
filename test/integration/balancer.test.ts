import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Phase, PhaseCurrents } from '../../core/model.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, ocppCall, startTestNode, waitFor } from '../support/platform.js';
import { TestCharger, type ProfileCall } from '../support/sim-charger.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;

const fastBalancer = { settleMs: 300, minChangeIntervalMs: 0, deadbandA: 0.5, minRunMs: 0, minPauseMs: 0, rotationIntervalMs: 3_600_000 };

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url, { BALANCER_RETRY_MS: '500', BALANCER_PROFILE_TIMEOUT_MS: '1000', BALANCER_LEASE_TTL_MS: '1500' });
});
afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

/** Waits until the installation's balancer has decided `reason` for the charger (so it saw the event that leads there). */
function decided(installationId: string, chargerId: string, reason: string) {
  return waitFor(() => (node.balancers.balancer(installationId)?.status().chargers[chargerId]?.reason === reason ? true : undefined), 5_000, `${chargerId} ${reason}`);
}

/** Grid phases per charger, from the wiring the test configured. */
type Wiring = Record<string, Phase[]>;

/**
 * Replays the profile calls the chargers accepted, in arrival order, and checks that no accepted
 * increase ever left a phase above the limit then in force, and that every increase came after the
 * decreases that made room for it were accepted.
 */
function checkSafety(log: ProfileCall[], wiring: Wiring, limitAt: (t: number, call: ProfileCall) => PhaseCurrents, initial: Record<string, number> = {}) {
  const applied: Record<string, number> = { ...initial };
  const violations: string[] = [];
  for (const call of log) {
    if (call.answered !== 'Accepted') continue;
    const before = applied[call.chargerId] ?? 0;
    applied[call.chargerId] = call.limit;
    if (call.limit <= before) continue;
    const limits = limitAt(call.at, call);
    for (const p of ['L1', 'L2', 'L3'] as Phase[]) {
      const sum = Object.entries(applied).reduce((s, [id, v]) => s + (wiring[id]?.includes(p) ? v : 0), 0);
      if (sum > limits[p] + 1e-6) violations.push(`${call.chargerId} raised to ${call.limit}: ${p} at ${sum} > ${limits[p]}`);
    }
  }
  return { violations, applied };
}

async function setup(inst: string, ids: string[], fuse: number, over: Record<string, Record<string, unknown>> = {}) {
  await node.stores.installations.create(anInstallation({ id: inst, fuse: { L1: fuse, L2: fuse, L3: fuse }, balancer: fastBalancer }));
  for (const id of ids) await node.stores.chargers.put(inst, id, aCharger({ maxCurrent: 32, minCurrent: 6, ...over[id] }));
  await waitFor(() => ids.every((id) => node.cache.chargers.has(id)) || undefined);
  await waitFor(() => node.balancers.balancer(inst), 5_000, 'balancer');
  const log: ProfileCall[] = [];
  const chargers = ids.map((id) => new TestCharger(id, () => node, log));
  for (const c of chargers) await c.connect();
  // Every charger first gets a safe default: 0 A while no car wants energy.
  await Promise.all(chargers.map((c) => c.waitForLimit((l) => l === 0)));
  return { chargers, log };
}

describe('installation balancer with real chargers over real sockets', () => {
  it('lowers limits first when the fuse is lowered mid-charge, then never exceeds it', async () => {
    const { chargers, log } = await setup('bal-fuse', ['F1', 'F2'], 40);
    const [a, b] = chargers as [TestCharger, TestCharger];
    await a.plugIn();
    await b.plugIn();
    await a.waitForLimit((l) => l === 20);
    await b.waitForLimit((l) => l === 20);
    const changedAt = Date.now();
    await node.stores.installations.patch('bal-fuse', { fuse: { L1: 24, L2: 24, L3: 24 } });
    await a.waitForLimit((l) => l === 12);
    await b.waitForLimit((l) => l === 12);
    const wiring: Wiring = { F1: ['L1', 'L2', 'L3'], F2: ['L1', 'L2', 'L3'] };
    const limitAt = (t: number) => (t >= changedAt ? { L1: 24, L2: 24, L3: 24 } : { L1: 40, L2: 40, L3: 40 });
    expect(checkSafety(log, wiring, limitAt).violations).toEqual([]);
    const afterChange = log.filter((c) => c.at >= changedAt);
    expect(afterChange.every((c) => c.limit <= 20)).toBe(true);
    for (const c of chargers) await c.close();
  });

  it('pauses a car arriving when the minimums do not fit, and resumes it when room appears', async () => {
    const { chargers, log } = await setup('bal-short', ['S1', 'S2', 'S3'], 14);
    const [a, b, c] = chargers as [TestCharger, TestCharger, TestCharger];
    await a.plugIn();
    await a.waitForLimit((l) => l === 14);
    await b.plugIn();
    await b.waitForLimit((l) => l === 7);
    await a.waitForLimit((l) => l === 7);
    await c.plugIn();
    // 3 x 6 A > 14 A: the last to arrive waits at 0 and gets no offer in (0, 6).
    await decided('bal-short', 'S3', 'paused');
    expect(c.limit).toBe(0);
    expect(log.every((x) => x.limit === 0 || x.limit >= 6)).toBe(true);
    // The first car leaves: the waiting one is admitted, after the decrease that makes room.
    await ocppCall(a.client, 'StopTransaction', { transactionId: a.txId!, meterStop: 1000, timestamp: new Date().toISOString() });
    await ocppCall(a.client, 'StatusNotification', { connectorId: 1, status: 'Available', errorCode: 'NoError' });
    await c.waitForLimit((l) => l === 7);
    await b.waitForLimit((l) => l === 7);
    const wiring: Wiring = { S1: ['L1', 'L2', 'L3'], S2: ['L1', 'L2', 'L3'], S3: ['L1', 'L2', 'L3'] };
    expect(checkSafety(log, wiring, () => ({ L1: 14, L2: 14, L3: 14 })).violations).toEqual([]);
    const aToZero = log.findIndex((x) => x.chargerId === 'S1' && x.limit === 0 && log.indexOf(x) > 3);
    const cRaised = log.findIndex((x) => x.chargerId === 'S3' && x.limit > 0);
    expect(aToZero).toBeGreaterThanOrEqual(0);
    expect(cRaised).toBeGreaterThan(aToZero);
    for (const x of chargers) await x.close();
  });

  it('counts an offline charger at its last accepted limit, never zero', async () => {
    const { chargers, log } = await setup('bal-offline', ['O1', 'O2'], 32);
    const [a, b] = chargers as [TestCharger, TestCharger];
    await a.plugIn();
    await b.plugIn();
    await a.waitForLimit((l) => l === 16);
    await b.waitForLimit((l) => l === 16);
    await a.close();
    await decided('bal-offline', 'O1', 'offline');
    // O1 may still draw 16 A: O2 must not be raised into it.
    expect(b.limit).toBe(16);
    const status = node.balancers.balancer('bal-offline')!.status();
    expect(status.chargers.O1).toMatchObject({ limit: 16, online: false });
    expect(status.allocated.L1).toBe(32);
    expect(log.filter((x) => x.chargerId === 'O2').every((x) => x.limit <= 16)).toBe(true);
    await b.close();
  });

  it('counts a charger at its draw when it keeps drawing above a decrease it accepted (an unchanged reading still reaches the balancer)', async () => {
    const { chargers, log } = await setup('bal-ignores', ['I1', 'I2'], 32);
    const [a, b] = chargers as [TestCharger, TestCharger];
    await a.plugIn();
    await a.waitForLimit((l) => l === 32);
    await a.meter(32);
    await b.plugIn();
    await a.waitForLimit((l) => l === 16);
    const counted = (amps: number, because: string) =>
      waitFor(() => {
        const c = node.balancers.balancer('bal-ignores')?.status().chargers.I1;
        return c?.counted === amps && c.countedBecause === because ? c : undefined;
      }, 5_000, `I1 counted at ${amps} A: ${because}`);
    // The decrease settles by time (no reading showed it): counted at 16 A, I2 gets the room.
    await counted(16, 'limit');
    // I1 ignored it: its reading is the same 32 A as before, which alone would not be news.
    const profilesBefore = log.filter((x) => x.chargerId === 'I1').length;
    await a.meter(32);
    await counted(32, 'over limit: draw');
    // And it is told its limit again.
    await waitFor(() => (log.filter((x) => x.chargerId === 'I1' && x.limit === 16).length > 1 && log.filter((x) => x.chargerId === 'I1').length > profilesBefore) || undefined, 5_000, 'I1 profile sent again');
    for (const c of [a, b]) await c.close();
  });

  it('treats a rejected decrease as still in force and holds back the increase that depends on it', async () => {
    const { chargers, log } = await setup('bal-reject', ['R1', 'R2'], 32, { R2: { priority: 1 } });
    const [a, b] = chargers as [TestCharger, TestCharger];
    await a.plugIn();
    await a.waitForLimit((l) => l === 32);
    a.policy = 'reject';
    await b.plugIn();
    // R2 (higher priority) wants its share; R1 refuses to go down, so R2 must stay where it is safe.
    await waitFor(() => log.some((x) => x.chargerId === 'R1' && x.answered === 'Rejected') || undefined, 5_000, 'rejection');
    // The balancer handled the rejection: R1 is counted at its old limit until its retry.
    await decided('bal-reject', 'R1', 'offline');
    expect(b.limit ?? 0).toBe(0);
    const wiring: Wiring = { R1: ['L1', 'L2', 'L3'], R2: ['L1', 'L2', 'L3'] };
    expect(checkSafety(log, wiring, () => ({ L1: 32, L2: 32, L3: 32 })).violations).toEqual([]);
    // Once R1 accepts, R2 is raised, strictly after R1's accepted decrease.
    a.policy = 'accept';
    await b.waitForLimit((l) => l >= 6);
    const decrease = log.findIndex((x) => x.chargerId === 'R1' && x.answered === 'Accepted' && x.limit < 32);
    const raise = log.findIndex((x) => x.chargerId === 'R2' && x.limit > 0);
    expect(decrease).toBeGreaterThanOrEqual(0);
    expect(raise).toBeGreaterThan(decrease);
    expect(checkSafety(log, wiring, () => ({ L1: 32, L2: 32, L3: 32 })).violations).toEqual([]);
    for (const x of chargers) await x.close();
  });

  it('balances phase by phase: 1-phase chargers on different phases do not share', async () => {
    const { chargers, log } = await setup('bal-phase', ['P1', 'P2', 'P3'], 16, {
      P1: { phases: 1, gridPhase: 'L1' },
      P2: { phases: 1, gridPhase: 'L2' },
      P3: { phases: 1, gridPhase: 'L2' },
    });
    for (const c of chargers) await c.plugIn();
    await chargers[0]!.waitForLimit((l) => l === 16);
    await chargers[1]!.waitForLimit((l) => l === 8);
    await chargers[2]!.waitForLimit((l) => l === 8);
    const wiring: Wiring = { P1: ['L1'], P2: ['L2'], P3: ['L2'] };
    expect(checkSafety(log, wiring, () => ({ L1: 16, L2: 16, L3: 16 })).violations).toEqual([]);
    for (const c of chargers) await c.close();
  });

  it('a fuse change through the HTTP API lowers the limit a connected charger receives', async () => {
    const { chargers, log } = await setup('bal-api', ['A1'], 32);
    const [a] = chargers as [TestCharger];
    await a.plugIn();
    await a.waitForLimit((l) => l === 32);
    const res = await fetch(`http://127.0.0.1:${node.apiPort}/api/v1/installations/bal-api`, {
      method: 'PATCH',
      headers: { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify({ fuse: { L2: '20 A' } }),
    });
    expect(res.status).toBe(200);
    const limit = await a.waitForLimit((l) => l === 20);
    expect(limit).toBe(20);
    expect(log.at(-1)).toMatchObject({ chargerId: 'A1', limit: 20, answered: 'Accepted' });
    const status = (await (await fetch(`http://127.0.0.1:${node.apiPort}/api/v1/installations/bal-api/status`, { headers: { authorization: 'Bearer test-admin-token-0123456789' } })).json()) as Record<string, unknown>;
    expect(JSON.stringify(status)).toContain('"A1"');
    await a.close();
  });

  it('a new leader after a restart starts from the stored limits and raises nothing without fresh data', async () => {
    const { chargers } = await setup('bal-restart', ['X1', 'X2'], 32);
    const [a, b] = chargers as [TestCharger, TestCharger];
    await a.plugIn();
    await a.waitForLimit((l) => l === 32);
    await a.close();
    await b.close();
    await node.stop();
    node = await startTestNode(nats.url, { BALANCER_RETRY_MS: '500', BALANCER_PROFILE_TIMEOUT_MS: '1000', BALANCER_LEASE_TTL_MS: '1500' });
    const balancer = await waitFor(() => node.balancers.balancer('bal-restart'), 6_000, 'new leader');
    // X1 is offline: counted at its last accepted 32 A, so nothing is left for anyone else.
    await waitFor(() => (balancer.status().chargers.X1?.limit === 32 ? true : undefined), 3_000, 'stored limit');
    expect(balancer.status().allocated.L1).toBe(32);
    const log: ProfileCall[] = [];
    const b2 = new TestCharger('X2', () => node, log);
    b2.password = b.password;
    await b2.reconnect();
    await ocppCall(b2.client, 'StatusNotification', { connectorId: 1, status: 'Charging', errorCode: 'NoError' });
    // It wants energy now, and the balancer decided: nothing fits beside X1's stored 32 A.
    await decided('bal-restart', 'X2', 'paused');
    expect(log.every((x) => x.limit === 0)).toBe(true);
    await b2.close();
  });

  it('follows a dynamic available current and, when the energy manager goes silent, runs on the failsafe, not the fuse', async () => {
    const { chargers, log } = await setup('bal-dyn', ['D1'], 32);
    const [a] = chargers as [TestCharger];
    await a.plugIn();
    await a.waitForLimit((l) => l === 32);
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${node.apiPort}/api/v1/installations/bal-dyn${path}`, {
        method,
        headers: { authorization: 'Bearer test-admin-token-0123456789', ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    const res = await api('PUT', '/available-current', { L1: 32, L2: 10, L3: 32, ttlSeconds: 2 });
    expect(res.status).toBe(200);
    await a.waitForLimit((l) => l === 10, 'dynamic limit');
    // After the TTL the failsafe applies: the lowest dynamic limit of the last hour (10 A on L2).
    const status = await waitFor(async () => {
      const body = (await (await api('GET', '/status')).json()) as { failsafe: { inForce: boolean; since: string | null; source: string | null } | null };
      return body.failsafe?.inForce ? body : undefined;
    }, 6_000, 'failsafe in force');
    expect(status.failsafe).toMatchObject({ source: 'lowest dynamic limit of the last hour' });
    expect(Date.parse(status.failsafe!.since!)).toBeGreaterThan(0);
    const metrics = await (await fetch(`http://127.0.0.1:${node.apiPort}/metrics`)).text();
    expect(metrics).toMatch(/^cp_balancer_failsafe_installations 1$/m);
    expect(a.limit).toBe(10);
    expect(log.filter((x) => x.chargerId === 'D1').at(-1)?.limit).toBe(10);
    // The operator says nothing but the chargers hangs on this fuse: the bare fuse applies.
    expect((await api('PATCH', '', { balancer: { fuseDedicatedToChargers: true } })).status).toBe(200);
    await a.waitForLimit((l) => l === 32, 'fuse dedicated to chargers');
    // A configured failsafe current wins.
    expect((await api('PATCH', '', { balancer: { failsafeCurrent: { L1: 16, L2: 16, L3: 16 } } })).status).toBe(200);
    await a.waitForLimit((l) => l === 16, 'configured failsafe');
    await a.close();
  });

  it('keeps the garage charging when a paused charger drops off without a close frame (3x20 A, fuse cut to 3x12 A)', async () => {
    const ids = ['G1', 'G2', 'G3', 'G4'];
    const { chargers, log } = await setup('bal-garage', ids, 20);
    for (const c of chargers) await c.plugIn();
    // 4 x 6 A does not fit in 20 A: three charge, the last to arrive waits.
    const balancer = await waitFor(() => node.balancers.balancer('bal-garage'), 5_000, 'the balancer');
    // Settled: the balancer counts each charger at the limit it holds, and wants no change. The fuse
    // is cut only then, so no raise decided under the old fuse arrives after the cut.
    const settled = () => chargers.every((c) => balancer.status().chargers[c.id]?.limit === c.limit && balancer.status().chargers[c.id]?.target === c.limit);
    await waitFor(() => (chargers.filter((c) => (c.limit ?? 0) >= 6).length === 3 && settled() ? true : undefined), 8_000, 'three charging');
    await node.stores.installations.patch('bal-garage', { fuse: { L1: 12, L2: 12, L3: 12 } });
    // The balancer learns of the cut through its KV watch: a step it decided before (the waiting
    // charger's turn) may still arrive after the write. Profiles built once it had the cut are held to it.
    const cutAt = await waitFor(() => (balancer.status().limits.L1 === 12 ? Date.now() : undefined), 5_000, 'the balancer has the cut fuse');
    await waitFor(() => (chargers.filter((c) => c.limit === 6).length === 2 && chargers.filter((c) => c.limit === 0).length === 2 && settled() ? true : undefined), 8_000, 'two at 6 A');
    const paused = chargers.find((c) => c.limit === 0 && balancer.status().chargers[c.id]?.limit === 0)!;
    const running = chargers.filter((c) => c.limit === 6);
    const droppedAt = Date.now();
    // The socket dies without a close frame (cellular link, Wi-Fi, firmware).
    await paused.close();
    // Wait until the balancer saw the charger go and recomputed after that, then look at its state.
    const seen = await waitFor(() => {
      const st = balancer.status();
      return st.chargers[paused.id]?.online === false && (st.computedAt ?? 0) >= droppedAt ? st : undefined;
    }, 5_000, 'balancer saw the drop');
    expect(seen.chargers[paused.id]).toMatchObject({ counted: 0, countedBecause: 'offline: last limit' });
    for (const c of running) {
      expect(seen.chargers[c.id]).toMatchObject({ limit: 6, target: 6 });
      expect(c.limit).toBe(6);
    }
    // Binding phase at least 90 % used, never over the fuse.
    for (const p of ['L1', 'L2', 'L3'] as Phase[]) {
      expect(seen.allocated[p]).toBeGreaterThanOrEqual(0.9 * 12);
      expect(seen.allocated[p]).toBeLessThanOrEqual(12);
    }
    expect(log.filter((x) => x.at >= droppedAt && x.chargerId !== paused.id)).toEqual([]);
    const wiring: Wiring = Object.fromEntries(ids.map((id) => [id, ['L1', 'L2', 'L3'] as Phase[]]));
    expect(checkSafety(log, wiring, (_t, call) => (call.builtAt >= cutAt ? { L1: 12, L2: 12, L3: 12 } : { L1: 20, L2: 20, L3: 20 })).violations).toEqual([]);
    for (const c of chargers) if (c !== paused) await c.close();
  });
});
