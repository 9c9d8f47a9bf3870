import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../api/app.js';
import { encodeJson } from '../../core/nats.js';
import { subjects } from '../../core/subjects.js';
import { aCharger, anInstallation, json, startApi, type ApiHarness } from './harness.js';

/** Issue 16, what belongs to whom: deleted ids handed to a new owner, foreign ids, anonymous /metrics. */
const V1 = '/api/v1';
let h: ApiHarness;
const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string } }).error;
const createInstallation = async (id: string) => expect((await h.call({ method: 'POST', url: `${V1}/installations`, payload: anInstallation({ id }) })).statusCode).toBe(201);
const tokenFor = async (...installations: string[]) => json<{ token: string }>(await h.call({ method: 'POST', url: `${V1}/tokens`, payload: { installations } })).token;

beforeAll(async () => {
  h = await startApi();
});
afterAll(async () => {
  await h?.close();
});

describe('a deleted charger id created again elsewhere', () => {
  it("does not show the old owner's OCPP log (charger and partner sides)", async () => {
    await createInstallation('old-owner');
    await createInstallation('new-owner');
    expect((await h.call({ method: 'PUT', url: `${V1}/installations/old-owner/chargers/CP-MOVE`, payload: aCharger() })).statusCode).toBe(201);
    const entry = (id: string) => ({ chargerId: 'CP-MOVE', direction: 'in', type: 'CALL', id, action: 'Authorize', payload: { idTag: 'OLD-OWNER-TAG' }, at: new Date().toISOString() });
    await h.bus.js.publish(subjects.ocppLog('CP-MOVE'), encodeJson(entry('a')));
    await h.bus.js.publish(subjects.partnerOcppLog('CP-MOVE'), encodeJson({ ...entry('b'), side: 'partner' }));
    expect(json<{ items: unknown[] }>(await h.call({ method: 'GET', url: `${V1}/chargers/CP-MOVE/ocpp-log` })).items).toHaveLength(1);

    expect((await h.call({ method: 'DELETE', url: `${V1}/installations/old-owner/chargers/CP-MOVE` })).statusCode).toBe(204);
    expect((await h.call({ method: 'PUT', url: `${V1}/installations/new-owner/chargers/CP-MOVE`, payload: aCharger() })).statusCode).toBe(201);
    const newOwner = await tokenFor('new-owner');
    const log = await h.call({ method: 'GET', url: `${V1}/chargers/CP-MOVE/ocpp-log`, token: newOwner });
    expect(log.statusCode).toBe(200);
    expect(json<{ items: unknown[] }>(log).items).toEqual([]);
    const info = await h.bus.jsm.streams.info('OCPP_LOG', { subjects_filter: 'ocpplog.CP-MOVE.>' });
    expect(info.state.subjects ?? {}).toEqual({});
  });

  it('the same when the whole installation is deleted', async () => {
    await createInstallation('gone-site');
    expect((await h.call({ method: 'PUT', url: `${V1}/installations/gone-site/chargers/CP-GONE`, payload: aCharger() })).statusCode).toBe(201);
    await h.bus.js.publish(subjects.ocppLog('CP-GONE'), encodeJson({ chargerId: 'CP-GONE', direction: 'in', type: 'CALL', id: 'x', action: 'Authorize', payload: { idTag: 'T' }, at: new Date().toISOString() }));
    expect((await h.call({ method: 'DELETE', url: `${V1}/installations/gone-site?force=true` })).statusCode).toBe(204);
    expect(json<{ items: unknown[] }>(await h.call({ method: 'GET', url: `${V1}/chargers/CP-GONE/ocpp-log` })).items).toEqual([]);
  });
});

describe('a deleted installation id created again', () => {
  it("is not reachable with a token that was scoped to the old one; the token's scope no longer lists it", async () => {
    await createInstallation('reborn');
    await createInstallation('kept');
    const token = await tokenFor('reborn', 'kept');
    expect((await h.call({ method: 'GET', url: `${V1}/installations/reborn`, token })).statusCode).toBe(200);
    expect((await h.call({ method: 'DELETE', url: `${V1}/installations/reborn` })).statusCode).toBe(204);
    await createInstallation('reborn');
    expect((await h.call({ method: 'GET', url: `${V1}/installations/reborn`, token })).statusCode).toBe(404);
    expect((await h.call({ method: 'GET', url: `${V1}/installations/kept`, token })).statusCode).toBe(200);
    const scopes = json<{ items: { installations: string[] }[] }>(await h.call({ method: 'GET', url: `${V1}/tokens` })).items.map((t) => t.installations);
    expect(scopes).toContainEqual(['kept']);
    expect(scopes.flat()).not.toContain('reborn');
  });
});

describe('a PUT of a charger id held by another installation', () => {
  it('answers 404 to an installer who cannot see that installation, 409 to the admin', async () => {
    await createInstallation('holder');
    await createInstallation('prober');
    expect((await h.call({ method: 'PUT', url: `${V1}/installations/holder/chargers/CP-HELD`, payload: aCharger() })).statusCode).toBe(201);
    const prober = await tokenFor('prober');
    const res = await h.call({ method: 'PUT', url: `${V1}/installations/prober/chargers/CP-HELD`, payload: aCharger(), token: prober });
    expect(res.statusCode).toBe(404);
    expect(errorOf(res)).toEqual({ code: 'NOT_FOUND', message: 'Charger CP-HELD not found' });
    expect(res.body).not.toContain('holder');
    expect((await h.call({ method: 'PUT', url: `${V1}/installations/prober/chargers/CP-HELD`, payload: aCharger() })).statusCode).toBe(409);
    // The record is unchanged.
    expect(json<{ installationId: string }>(await h.call({ method: 'GET', url: `${V1}/installations/holder/chargers/CP-HELD` })).installationId).toBe('holder');
  });
});

describe('unauthenticated /metrics', () => {
  it('does not list installation ids unless the operator enables the label', async () => {
    h.deps.metrics.balancerRecomputes.inc({ installation: 'secret-site-a' }, 2);
    h.deps.metrics.balancerRecomputes.inc({ installation: 'secret-site-b' }, 3);
    h.deps.metrics.phaseAllocation.set({ installation: 'secret-site-a', phase: 'L1' }, 10);
    h.deps.metrics.phaseAllocation.set({ installation: 'secret-site-b', phase: 'L1' }, 6);
    const res = await h.call({ method: 'GET', url: '/metrics', token: null });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('secret-site');
    expect(res.body).toMatch(/^cp_balancer_recomputes_total 5$/m);
    expect(res.body).toMatch(/^cp_phase_allocated_amperes\{phase="L1"\} 16$/m);

    const labelled = await build(h.deps, { metricsInstallationLabels: true });
    const withLabels = await labelled.inject({ method: 'GET', url: '/metrics' });
    expect(withLabels.body).toMatch(/^cp_balancer_recomputes_total\{installation="secret-site-a"\} 2$/m);
    await labelled.close();
  });
});
