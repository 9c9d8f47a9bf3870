import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRETS, aCharger, aLiveStatus, anInstallation, json, leakedSecrets, simulateCharger, startApi, type ApiHarness } from './harness.js';

let h: ApiHarness;
const BASE = '/api/v1/installations';

beforeAll(async () => {
  h = await startApi();
});
afterAll(async () => {
  await h?.close();
});

const create = (body: unknown) => h.call({ method: 'POST', url: BASE, payload: body as object });
const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string; field?: string } }).error;

describe('installations', () => {
  it('creates with 201, returns the record without secrets, and gets it', async () => {
    const res = await create(
      anInstallation({
        id: 'inst-a',
        chargerPassword: SECRETS.chargerPassword,
        ocpp: { partnerEnabled: true, url: 'wss://partner.example/ocpp/{deviceId}', initialPassword: SECRETS.initialPassword, defaultIdTag: 'FREE' },
        authorization: { required: true, idTags: ['TAG1'] },
      }),
    );
    expect(res.statusCode).toBe(201);
    const body = json(res);
    expect(body).toMatchObject({
      id: 'inst-a',
      name: 'Garage',
      fuse: { L1: 63, L2: 63, L3: 63 },
      ocpp: { partnerEnabled: true, url: 'wss://partner.example/ocpp/{deviceId}', defaultIdTag: 'FREE', hasInitialPassword: true },
      authorization: { required: true, idTags: ['TAG1'] },
      balancer: { deadbandA: 1 },
    });
    expect(body).not.toHaveProperty('chargerPassword');
    expect(body.ocpp).not.toHaveProperty('initialPassword');
    const got = await h.call({ method: 'GET', url: `${BASE}/inst-a` });
    expect(got.statusCode).toBe(200);
    expect(json(got)).toEqual(body);
    // The secrets are stored where the OCPP side finds them.
    expect(await h.deps.credentials.installationNorthPassword('inst-a')).toBe(SECRETS.initialPassword);
    expect(await h.deps.credentials.verifySouth('any', 'inst-a', SECRETS.chargerPassword)).toBe('initial');
  });

  it('accepts fuse currents with units and converts them to amperes', async () => {
    const res = await create(anInstallation({ id: 'inst-units', fuse: { L1: '63 A', L2: '0.063 kA', L3: '40000 mA' } }));
    expect(res.statusCode).toBe(201);
    expect(json(res).fuse).toEqual({ L1: 63, L2: 63, L3: 40 });
  });

  it('generates an id when none is given and refuses a duplicate with 409', async () => {
    const res = await create(anInstallation());
    expect(res.statusCode).toBe(201);
    expect(json(res).id).toMatch(/^inst-/);
    const dup = await create(anInstallation({ id: 'inst-a' }));
    expect(dup.statusCode).toBe(409);
    expect(errorOf(dup).code).toBe('ALREADY_EXISTS');
  });

  it('rejects bad input with 400 naming the field and the reason, and creates nothing', async () => {
    const before = json<{ items: unknown[] }>(await h.call({ method: 'GET', url: `${BASE}?limit=1000` })).items.length;
    const cases: [unknown, string, RegExp?][] = [
      [anInstallation({ fuse: { L1: '32', L2: 10, L3: 10 } }), 'fuse.L1', /ampere/],
      [anInstallation({ fuse: { L1: '63 V', L2: 10, L3: 10 } }), 'fuse.L1', /amperes.*not V/],
      [anInstallation({ fuse: { L1: 'lots', L2: 10, L3: 10 } }), 'fuse.L1'],
      [anInstallation({ fuse: { L1: true, L2: 10, L3: 10 } }), 'fuse.L1', /number or string/],
      [anInstallation({ fuse: { L1: -1, L2: 10, L3: 10 } }), 'fuse.L1', /> 0/],
      [anInstallation({ fuse: { L1: 0, L2: 10, L3: 10 } }), 'fuse.L1'],
      [anInstallation({ fuse: { L1: 10, L2: 100_000, L3: 10 } }), 'fuse.L2', /<= 4000/],
      [anInstallation({ fuse: { L1: 10, L2: '5 kA', L3: 10 } }), 'fuse.L2', /4000/],
      [anInstallation({ fuse: { L1: 10, L2: '-3 A', L3: 10 } }), 'fuse.L2'],
      [anInstallation({ fuse: { L1: 10, L2: 10 } }), 'fuse.L3', /required/],
      [anInstallation({ fuse: { L1: 10, L2: 10, L3: 10, L4: 10 } }), 'fuse.L4', /unknown field/],
      [anInstallation({ color: 'red' }), 'color', /unknown field/],
      [anInstallation({ name: 42 }), 'name', /string/],
      [anInstallation({ name: '' }), 'name'],
      [{ fuse: { L1: 10, L2: 10, L3: 10 } }, 'name', /required/],
      [anInstallation({ id: 'has.dot' }), 'id'],
      [anInstallation({ ocpp: { url: 'http://partner.example/{deviceId}' } }), 'ocpp.url', /ws:\/\/ or wss:\/\/ URL template containing \{deviceId\}/],
      [anInstallation({ ocpp: { url: 'wss://partner.example/ocpp' } }), 'ocpp.url', /\{deviceId\}/],
      [anInstallation({ ocpp: { url: 'wss://partner example/{deviceId}' } }), 'ocpp.url'],
      [anInstallation({ ocpp: { defaultIdTag: 'X'.repeat(21) } }), 'ocpp.defaultIdTag', /20/],
      [anInstallation({ ocpp: { partnerEnabled: 'yes' } }), 'ocpp.partnerEnabled', /boolean/],
      [anInstallation({ ocpp: { secret: 'x' } }), 'ocpp.secret', /unknown field/],
      [anInstallation({ authorization: { idTags: ['X'.repeat(21)] } }), 'authorization.idTags.0'],
      [anInstallation({ authorization: { required: 'true' } }), 'authorization.required'],
      [anInstallation({ chargerPassword: 'short' }), 'chargerPassword'],
      [anInstallation({ balancer: { deadbandA: '1' } }), 'balancer.deadbandA'],
      [[1, 2], '(body)'],
    ];
    for (const [body, field, reason] of cases) {
      const res = await create(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      const err = errorOf(res);
      expect(err.code).toBe('VALIDATION');
      expect(err.field, JSON.stringify(body)).toBe(field);
      expect(err.message).toContain(field);
      if (reason) expect(err.message, JSON.stringify(body)).toMatch(reason);
    }
    const bad = await h.call({ method: 'POST', url: BASE, payload: '{"name":', headers: { 'content-type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(errorOf(bad).field).toBe('(body)');
    const after = json<{ items: unknown[] }>(await h.call({ method: 'GET', url: `${BASE}?limit=1000` })).items.length;
    expect(after).toBe(before);
  });

  it('patches one fuse phase with a merge patch (units too), and null removes an optional field', async () => {
    const res = await h.call({ method: 'PATCH', url: `${BASE}/inst-a`, payload: { fuse: { L1: 40 } } });
    expect(res.statusCode).toBe(200);
    expect(json(res).fuse).toEqual({ L1: 40, L2: 63, L3: 63 });
    const withUnits = await h.call({
      method: 'PATCH',
      url: `${BASE}/inst-a`,
      payload: JSON.stringify({ fuse: { L3: '0.05 kA' }, ocpp: { defaultIdTag: null } }),
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(withUnits.statusCode).toBe(200);
    expect(json(withUnits).fuse).toEqual({ L1: 40, L2: 63, L3: 50 });
    expect(json<{ ocpp: object }>(withUnits).ocpp).not.toHaveProperty('defaultIdTag');
    expect(json<{ ocpp: object }>(withUnits).ocpp).toMatchObject({ partnerEnabled: true, url: 'wss://partner.example/ocpp/{deviceId}' });
  });

  it('rejects a bad patch with 400 and changes nothing', async () => {
    const before = json(await h.call({ method: 'GET', url: `${BASE}/inst-a` }));
    const cases: [unknown, string][] = [
      [{ fuse: { L2: 0 } }, 'fuse.L2'],
      [{ fuse: { L2: -5 } }, 'fuse.L2'],
      [{ fuse: { L2: 999_999 } }, 'fuse.L2'],
      [{ fuse: { L2: '63 V' } }, 'fuse.L2'],
      [{ fuse: { L2: '63' } }, 'fuse.L2'],
      [{ fuse: { L2: null } }, 'fuse.L2'],
      [{ fuse: null }, 'fuse'],
      [{ name: null }, 'name'],
      [{ ocpp: { url: 'ws://no-template.example' } }, 'ocpp.url'],
      [{ ocpp: { defaultIdTag: 'X'.repeat(21) } }, 'ocpp.defaultIdTag'],
      [{ nickname: 'x' }, 'nickname'],
      [{ id: 'other' }, 'id'],
    ];
    for (const [body, field] of cases) {
      const res = await h.call({ method: 'PATCH', url: `${BASE}/inst-a`, payload: body as object });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(errorOf(res).field, JSON.stringify(body)).toBe(field);
    }
    expect(json(await h.call({ method: 'GET', url: `${BASE}/inst-a` }))).toEqual(before);
  });

  it('answers 404 for unknown installations and 400 for malformed ids', async () => {
    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      const res = await h.call({ method, url: `${BASE}/nope`, ...(method === 'PATCH' ? { payload: { name: 'x' } } : {}) });
      expect(res.statusCode, method).toBe(404);
      expect(errorOf(res).code).toBe('NOT_FOUND');
    }
    const bad = await h.call({ method: 'GET', url: `${BASE}/${'x'.repeat(49)}` });
    expect(bad.statusCode).toBe(400);
    expect(errorOf(bad).field).toBe('id');
  });

  it('paginates the list with limit and an after cursor', async () => {
    for (const n of [1, 2, 3, 4, 5]) expect((await create(anInstallation({ id: `page-${n}` }))).statusCode).toBe(201);
    const all = json<{ items: { id: string }[] }>(await h.call({ method: 'GET', url: `${BASE}?limit=1000` })).items.map((i) => i.id);
    expect(all).toEqual([...all].sort());
    const pages: string[][] = [];
    let after: string | undefined;
    do {
      const res = await h.call({ method: 'GET', url: `${BASE}?limit=2${after ? `&after=${after}` : ''}` });
      expect(res.statusCode).toBe(200);
      const body = json<{ items: { id: string }[]; next?: string }>(res);
      pages.push(body.items.map((i) => i.id));
      after = body.next;
    } while (after);
    expect(pages.flat()).toEqual(all);
    expect(pages.slice(0, -1).every((p) => p.length === 2)).toBe(true);
    for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'after=a.b', 'sort=name']) {
      const res = await h.call({ method: 'GET', url: `${BASE}?${q}` });
      expect(res.statusCode, q).toBe(400);
      expect(errorOf(res).field, q).toBe(q.split('=')[0]);
    }
  });

  it('refuses to delete with 409 while a charger is connected, deletes with force or once it is gone', async () => {
    expect((await create(anInstallation({ id: 'inst-del' }))).statusCode).toBe(201);
    for (const id of ['DEL-1', 'DEL-2']) {
      expect((await h.call({ method: 'PUT', url: `${BASE}/inst-del/chargers/${id}`, payload: aCharger() })).statusCode).toBe(201);
    }
    const sim = simulateCharger(h.bus.nc, 'DEL-2', (cmd) => (cmd.action === '$status' ? { ok: true, response: aLiveStatus('DEL-2', 'inst-del') } : undefined));
    const refused = await h.call({ method: 'DELETE', url: `${BASE}/inst-del` });
    expect(refused.statusCode).toBe(409);
    expect(errorOf(refused)).toMatchObject({ code: 'HAS_CONNECTED_CHARGERS' });
    expect(errorOf(refused).message).toContain('DEL-2');
    expect(errorOf(refused).message).not.toContain('DEL-1');
    expect(sim.received.map((c) => c.action)).toEqual(['$status']);
    expect((await h.call({ method: 'GET', url: `${BASE}/inst-del` })).statusCode).toBe(200);
    expect(await h.deps.chargers.get('DEL-1')).toBeDefined();

    sim.sub.unsubscribe();
    await h.bus.nc.flush();
    const ok = await h.call({ method: 'DELETE', url: `${BASE}/inst-del` });
    expect(ok.statusCode).toBe(204);
    expect(ok.body).toBe('');
    expect((await h.call({ method: 'GET', url: `${BASE}/inst-del` })).statusCode).toBe(404);
    expect(await h.deps.chargers.get('DEL-1')).toBeUndefined();
    expect(await h.deps.chargers.get('DEL-2')).toBeUndefined();
  });

  it('deletes with ?force=true even while a charger is connected', async () => {
    expect((await create(anInstallation({ id: 'inst-force' }))).statusCode).toBe(201);
    expect((await h.call({ method: 'PUT', url: `${BASE}/inst-force/chargers/F-1`, payload: aCharger() })).statusCode).toBe(201);
    const sim = simulateCharger(h.bus.nc, 'F-1', () => ({ ok: true, response: aLiveStatus('F-1', 'inst-force') }));
    expect((await h.call({ method: 'DELETE', url: `${BASE}/inst-force` })).statusCode).toBe(409);
    expect((await h.call({ method: 'DELETE', url: `${BASE}/inst-force?force=maybe` })).statusCode).toBe(400);
    expect((await h.call({ method: 'DELETE', url: `${BASE}/inst-force?force=true` })).statusCode).toBe(204);
    expect(await h.deps.chargers.get('F-1')).toBeUndefined();
    sim.sub.unsubscribe();
  });

  it('answers unknown routes with the same error shape', async () => {
    const res = await h.call({ method: 'GET', url: '/api/v1/nothing-here' });
    expect(res.statusCode).toBe(404);
    expect(errorOf(res).code).toBe('NOT_FOUND');
  });

  it('never returned or logged a secret', () => {
    expect(h.seen.length).toBeGreaterThan(50);
    expect(leakedSecrets(h.seen)).toEqual([]);
  });
});
