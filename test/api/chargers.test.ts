import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRETS, aCharger, anInstallation, json, leakedSecrets, startApi, type ApiHarness } from './harness.js';

let h: ApiHarness;
const INST = '/api/v1/installations/site-1';
const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string; field?: string } }).error;

beforeAll(async () => {
  h = await startApi();
  for (const id of ['site-1', 'site-2']) expect((await h.call({ method: 'POST', url: '/api/v1/installations', payload: anInstallation({ id }) })).statusCode).toBe(201);
});
afterAll(async () => {
  await h?.close();
});

describe('chargers', () => {
  it('PUT creates with 201 and defaults, replaces with 200, never returns the password', async () => {
    const created = await h.call({
      method: 'PUT',
      url: `${INST}/chargers/CP-1`,
      payload: aCharger({ phaseRotation: 'L2L3L1', priority: 5, ocpp: { url: 'wss://partner.example/CP-1', password: SECRETS.chargerOcppPassword, webSocketPing: true } }),
    });
    expect(created.statusCode).toBe(201);
    expect(json(created)).toMatchObject({
      id: 'CP-1',
      installationId: 'site-1',
      serial: 'CP-1',
      phases: 3,
      phaseRotation: 'L2L3L1',
      gridPhase: 'L1',
      minCurrent: 6,
      maxCurrent: 32,
      priority: 5,
      profilePurpose: 'TxDefaultProfile',
      ocppValidation: 'strict',
      ocpp: { url: 'wss://partner.example/CP-1', webSocketPing: true, hasPassword: true },
    });
    expect(json<{ ocpp: object }>(created).ocpp).not.toHaveProperty('password');
    expect((await h.deps.credentials.chargerNorth('CP-1')).configured).toBe(SECRETS.chargerOcppPassword);

    const replaced = await h.call({ method: 'PUT', url: `${INST}/chargers/CP-1`, payload: aCharger({ phases: 1, gridPhase: 'L3', maxCurrent: '16 A', minCurrent: '6A', ocpp: { verboseLogging: true } }) });
    expect(replaced.statusCode).toBe(200);
    const body = json<{ maxCurrent: number; minCurrent: number; phases: number; gridPhase: string; ocpp: { verboseLoggingUntil?: string; hasPassword: boolean } }>(replaced);
    expect(body).toMatchObject({ phases: 1, gridPhase: 'L3', maxCurrent: 16, minCurrent: 6 });
    expect(Date.parse(body.ocpp.verboseLoggingUntil ?? '')).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect(body.ocpp.hasPassword).toBe(true);
  });

  it('gets one and lists the installation', async () => {
    expect((await h.call({ method: 'PUT', url: `${INST}/chargers/CP-2`, payload: aCharger() })).statusCode).toBe(201);
    const one = await h.call({ method: 'GET', url: `${INST}/chargers/CP-2` });
    expect(one.statusCode).toBe(200);
    expect(json(one)).toMatchObject({ id: 'CP-2', ocpp: { hasPassword: false, webSocketPing: false } });
    const list = await h.call({ method: 'GET', url: `${INST}/chargers` });
    expect(list.statusCode).toBe(200);
    expect(json<{ items: { id: string }[] }>(list).items.map((c) => c.id)).toEqual(['CP-1', 'CP-2']);
    expect(json<{ items: unknown[] }>(await h.call({ method: 'GET', url: '/api/v1/installations/site-2/chargers' })).items).toEqual([]);
  });

  it('rejects bad chargers with 400 naming the field, and stores nothing', async () => {
    const cases: [unknown, string, RegExp?][] = [
      [aCharger({ phases: 2 }), 'phases', /1, 3/],
      [aCharger({ phases: '3' }), 'phases', /integer/],
      [aCharger({ maxCurrent: '32' }), 'maxCurrent', /amperes/],
      [aCharger({ maxCurrent: '32 V' }), 'maxCurrent', /not V/],
      [aCharger({ maxCurrent: 0 }), 'maxCurrent'],
      [aCharger({ maxCurrent: 500 }), 'maxCurrent', /<= 80/],
      [aCharger({ maxCurrent: '0.5 kA' }), 'maxCurrent', /<= 80/],
      [aCharger({ minCurrent: -1 }), 'minCurrent'],
      [aCharger({ minCurrent: 20, maxCurrent: 10 }), 'minCurrent', /maxCurrent/],
      [aCharger({ phaseRotation: 'L1L1L1' }), 'phaseRotation'],
      [aCharger({ gridPhase: 'L4' }), 'gridPhase'],
      [aCharger({ priority: 1.5 }), 'priority'],
      [aCharger({ profilePurpose: 'TxMaxProfile' }), 'profilePurpose'],
      [aCharger({ resendProfileOnTransaction: 'yes' }), 'resendProfileOnTransaction', /boolean/],
      [aCharger({ ocppValidation: 'none' }), 'ocppValidation'],
      [aCharger({ ocpp: { url: 'https://partner.example/x' } }), 'ocpp.url', /ws:\/\/ or wss:\/\//],
      [aCharger({ ocpp: { webSocketPing: 30 } }), 'ocpp.webSocketPing', /boolean/],
      [aCharger({ ocpp: { password: '' } }), 'ocpp.password'],
      [aCharger({ ocpp: { ping: true } }), 'ocpp.ping', /unknown field/],
      [aCharger({ wattage: 11000 }), 'wattage', /unknown field/],
      [{ phases: 3 }, 'maxCurrent', /required/],
    ];
    for (const [body, field, reason] of cases) {
      const res = await h.call({ method: 'PUT', url: `${INST}/chargers/CP-BAD`, payload: body as object });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(errorOf(res).field, JSON.stringify(body)).toBe(field);
      if (reason) expect(errorOf(res).message, JSON.stringify(body)).toMatch(reason);
    }
    const badId = await h.call({ method: 'PUT', url: `${INST}/chargers/CP.BAD`, payload: aCharger() });
    expect(badId.statusCode).toBe(400);
    expect(errorOf(badId).field).toBe('chargerId');
    expect(await h.deps.chargers.get('CP-BAD')).toBeUndefined();
  });

  it('404 for unknown installations and chargers, 409 for a charger of another installation', async () => {
    expect((await h.call({ method: 'PUT', url: '/api/v1/installations/nope/chargers/CP-9', payload: aCharger() })).statusCode).toBe(404);
    expect((await h.call({ method: 'GET', url: `${INST}/chargers/CP-9` })).statusCode).toBe(404);
    expect((await h.call({ method: 'DELETE', url: `${INST}/chargers/CP-9` })).statusCode).toBe(404);
    // CP-1 exists, but not in site-2.
    expect((await h.call({ method: 'GET', url: '/api/v1/installations/site-2/chargers/CP-1' })).statusCode).toBe(404);
    const moved = await h.call({ method: 'PUT', url: '/api/v1/installations/site-2/chargers/CP-1', payload: aCharger() });
    expect(moved.statusCode).toBe(409);
    expect(errorOf(moved).code).toBe('CONFLICT');
  });

  it('deletes with 204, then 404', async () => {
    expect((await h.call({ method: 'DELETE', url: `${INST}/chargers/CP-2` })).statusCode).toBe(204);
    expect((await h.call({ method: 'GET', url: `${INST}/chargers/CP-2` })).statusCode).toBe(404);
    expect((await h.call({ method: 'DELETE', url: `${INST}/chargers/CP-2` })).statusCode).toBe(404);
  });

  it('never returned or logged a secret', () => {
    expect(leakedSecrets(h.seen)).toEqual([]);
  });
});
