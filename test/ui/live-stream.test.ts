import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorSchema } from '../../api/errors.js';
import { liveRoutes } from '../../api/routes/live.js';
import type { Sample } from '../../api/live-feed.js';
import type { MeterEvent } from '../../core/events.js';
import { publishChargerEvent } from '../../core/events.js';
import { aCharger, aLiveStatus, anInstallation, simulateCharger, startApi, type ApiHarness } from '../api/harness.js';
import { waitFor } from '../support/platform.js';
import { openSse, type SseEvent } from './sse-client.js';

let h: ApiHarness;
let fast: FastifyInstance;
let apiBase = '';
let fastBase = '';
let installerToken = '';
const measured = { t1: 4, t2: 5, t3: 6 };

type StatusData = { status: { installationId: string; phases: Record<string, { measured: number; fuse: number }>; chargers: { id: string }[] }; sample: Sample; wiring: Record<string, unknown> };

/** A charger's meter event on NATS, as the node holding its socket publishes it. */
function meterEvent(installationId: string, t1: number): void {
  measured.t1 = t1;
  const event: MeterEvent = { kind: 'meter', chargerId: 'LV-1', installationId, connectorId: 1, currents: { t1 }, timestamp: new Date().toISOString() };
  publishChargerEvent(h.bus.nc, event);
}

/** Meter events every 50 ms until `until` holds. */
async function pump(installationId: string, until: () => boolean): Promise<void> {
  let t1 = 1;
  await waitFor(async () => {
    if (until()) return true;
    meterEvent(installationId, t1++);
    await new Promise((r) => setTimeout(r, 50));
    return undefined;
  }, 5_000, 'events');
}

const statuses = (events: SseEvent[]) => events.filter((e) => e.event === 'status');
const historyOf = (events: SseEvent[]) => (events.find((e) => e.event === 'history')?.data as { samples: Sample[] } | undefined)?.samples;

beforeAll(async () => {
  h = await startApi();
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  apiBase = `http://127.0.0.1:${(h.app.server.address() as { port: number }).port}/api/v1`;
  for (const id of ['live-a', 'live-b', 'live-gone']) await h.call({ method: 'POST', url: '/api/v1/installations', payload: anInstallation({ id, fuse: { L1: 40, L2: 40, L3: 40 } }) });
  await h.call({ method: 'PUT', url: '/api/v1/installations/live-a/chargers/LV-1', payload: aCharger() });
  installerToken = (await h.call({ method: 'POST', url: '/api/v1/tokens', payload: { installations: ['live-a'] } })).json<{ token: string }>().token;
  simulateCharger(h.bus.nc, 'LV-1', () => ({ ok: true, response: aLiveStatus('LV-1', 'live-a', { measured }) }));
  await waitFor(() => h.deps.cache.chargers.get('LV-1'), 3_000, 'cache');

  // The same route with short timings, behind a stand-in for the auth hook.
  fast = Fastify();
  fast.addSchema(errorSchema);
  fast.addHook('onRequest', async (req) => {
    req.principal = { role: 'admin' };
  });
  // The refresh timer is far off: every update in these tests comes from a NATS event.
  await fast.register(liveRoutes(h.deps, { feed: { minIntervalMs: 20, refreshMs: 60_000, idleRefreshMs: 60_000, historyStepMs: 0 }, keepAliveMs: 100, maxStreamMs: 1_500 }), { prefix: '/api/v1' });
  await fast.listen({ port: 0, host: '127.0.0.1' });
  fastBase = `http://127.0.0.1:${(fast.server.address() as { port: number }).port}/api/v1`;
});

afterAll(async () => {
  await fast?.close();
  await h?.close();
});

describe('live status stream, scoped like the API', () => {
  it('401 without a token, 404 for an installation outside the token, and the same 404 as the status route', async () => {
    expect((await openSse(`${apiBase}/installations/live-a/live`)).status).toBe(401);
    const outside = await fetch(`${apiBase}/installations/live-b/live`, { headers: { authorization: `Bearer ${installerToken}` } });
    const status = await fetch(`${apiBase}/installations/live-b/status`, { headers: { authorization: `Bearer ${installerToken}` } });
    expect(outside.status).toBe(404);
    expect(await outside.json()).toEqual(await status.json());
  });

  it('streams history then the status of the installation in scope, as the status route computes it', async () => {
    const s = await openSse(`${apiBase}/installations/live-a/live`, { authorization: `Bearer ${installerToken}` });
    expect(s.status).toBe(200);
    await waitFor(() => statuses(s.events).length > 0 || undefined, 5_000, 'status event');
    s.close();
    expect(s.events[0]!.event).toBe('history');
    const first = statuses(s.events)[0]!;
    expect(first.id).toMatch(/^[0-9a-f]{8}:\d+$/);
    const data = first.data as StatusData;
    expect(data.status.installationId).toBe('live-a');
    expect(data.status.chargers.map((c) => c.id)).toEqual(['LV-1']);
    expect(data.status.phases.L1).toMatchObject({ fuse: 40, measured: 4 });
    expect(data.wiring['LV-1']).toEqual({ phases: 3, phaseRotation: 'L1L2L3', gridPhase: 'L1', minCurrent: 6, maxCurrent: 32 });
    // [t, measured L1..L3, allocated L1..L3 (no balancer here), limit L1..L3]
    expect(data.sample.slice(1)).toEqual([4, 5, 6, null, null, null, 40, 40, 40]);
  });
});

describe('live status stream, timings', () => {
  it("pushes the new status on the installation's NATS events (the timer is a minute away)", async () => {
    const s = await openSse(`${fastBase}/installations/live-a/live`);
    await waitFor(() => statuses(s.events).length > 0 || undefined, 3_000, 'first status');
    meterEvent('live-a', 9);
    await waitFor(() => statuses(s.events).some((e) => (e.data as StatusData).status.phases.L1!.measured === 9) || undefined, 3_000, 'pushed status');
    s.close();
  });

  it('serves every page watching an installation from one feed (same event ids)', async () => {
    const [a, b] = await Promise.all([openSse(`${fastBase}/installations/live-a/live`), openSse(`${fastBase}/installations/live-a/live`)]);
    await pump('live-a', () => statuses(a.events).length >= 4 && statuses(b.events).length >= 4);
    a.close();
    b.close();
    const ids = (s: typeof a) => statuses(s.events).map((e) => e.id);
    const shared = ids(a).filter((id) => ids(b).includes(id));
    expect(shared.length).toBeGreaterThanOrEqual(3);
  });

  it('resumes after a reconnect: with Last-Event-ID only the missed samples come, and the stream ends by itself', async () => {
    const first = await openSse(`${fastBase}/installations/live-a/live`);
    let ended = false;
    void first.ended.then(() => (ended = true));
    await pump('live-a', () => ended); // maxStreamMs: the server ends it, the page reconnects
    const seen = statuses(first.events);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    const last = seen[seen.length - 1]!;
    const lastT = (last.data as StatusData).sample[0];
    // The feed goes on without the page.
    for (const t1 of [20, 21, 22]) {
      meterEvent('live-a', t1);
      await new Promise((r) => setTimeout(r, 60));
    }
    const resumed = await openSse(`${fastBase}/installations/live-a/live`, { 'last-event-id': last.id! });
    await waitFor(() => historyOf(resumed.events), 3_000, 'history');
    const missed = historyOf(resumed.events)!;
    expect(missed.length).toBeGreaterThan(0);
    expect(missed.every((s) => s[0] > lastT)).toBe(true);
    expect(missed.some((s) => s[1] === 22)).toBe(true);

    const fresh = await openSse(`${fastBase}/installations/live-a/live`);
    await waitFor(() => historyOf(fresh.events), 3_000, 'history');
    // Without the header the whole history comes, including what the first stream saw.
    expect(historyOf(fresh.events)!.length).toBeGreaterThan(missed.length);
    expect(historyOf(fresh.events)!.some((s) => s[0] === lastT)).toBe(true);
    resumed.close();
    fresh.close();
  });

  it('tells the page when the installation is deleted, and ends the stream', async () => {
    const s = await openSse(`${fastBase}/installations/live-gone/live`);
    await waitFor(() => statuses(s.events).length > 0 || undefined, 3_000, 'status');
    await h.call({ method: 'DELETE', url: '/api/v1/installations/live-gone' });
    await s.ended;
    expect(s.events[s.events.length - 1]).toEqual({ event: 'gone', data: { installationId: 'live-gone' } });
  });
});
