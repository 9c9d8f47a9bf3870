import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aCharger, anInstallation, json, leakedSecrets, startApi, type ApiHarness } from './harness.js';

let h: ApiHarness;
const V1 = '/api/v1';
const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string; field?: string } }).error;
let tokenA = '';
let tokenB = '';
let tokenAId = '';

beforeAll(async () => {
  h = await startApi({ authFailureLimit: { maxFailures: 5, windowMs: 60_000 } });
  for (const id of ['alpha', 'beta', 'gamma']) {
    expect((await h.call({ method: 'POST', url: `${V1}/installations`, payload: anInstallation({ id }) })).statusCode).toBe(201);
    expect((await h.call({ method: 'PUT', url: `${V1}/installations/${id}/chargers/${id}-cp`, payload: aCharger() })).statusCode).toBe(201);
  }
});
afterAll(async () => {
  await h?.close();
});

describe('authentication', () => {
  it('401 without a token, with a wrong token and with a malformed header; health and metrics need none', async () => {
    const remoteAddress = '10.0.0.1';
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${h.adminToken}` }, { authorization: `Bearer ${h.adminToken}x` }]) {
      const res = await h.call({ method: 'GET', url: `${V1}/installations`, token: null, headers, remoteAddress });
      expect(res.statusCode, JSON.stringify(headers)).toBe(401);
      expect(errorOf(res).code).toBe('UNAUTHORIZED');
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
    expect((await h.call({ method: 'GET', url: '/health', token: null })).statusCode).toBe(200);
    expect((await h.call({ method: 'GET', url: '/metrics', token: null })).statusCode).toBe(200);
    // 401 comes before validation: nothing about the body is revealed.
    expect((await h.call({ method: 'POST', url: `${V1}/installations`, token: null, payload: { bad: 1 }, remoteAddress: '10.0.0.2' })).statusCode).toBe(401);
  });

  it('429 for further failures from one address, while valid tokens from it still pass; other addresses unaffected', async () => {
    const remoteAddress = '10.0.0.9';
    for (let i = 0; i < 5; i++) {
      expect((await h.call({ method: 'GET', url: `${V1}/installations`, token: `guess-${i}`, remoteAddress })).statusCode).toBe(401);
    }
    const blocked = await h.call({ method: 'GET', url: `${V1}/installations`, token: 'guess-5', remoteAddress });
    expect(blocked.statusCode).toBe(429);
    expect(errorOf(blocked).code).toBe('TOO_MANY_REQUESTS');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await h.call({ method: 'GET', url: `${V1}/installations`, token: null, remoteAddress })).statusCode).toBe(429);
    expect((await h.call({ method: 'GET', url: `${V1}/installations`, remoteAddress })).statusCode).toBe(200);
    expect((await h.call({ method: 'GET', url: `${V1}/installations`, remoteAddress: '10.0.0.10' })).statusCode).toBe(200);
    // Successful requests never count.
    for (let i = 0; i < 10; i++) expect((await h.call({ method: 'GET', url: `${V1}/tokens`, remoteAddress: '10.0.0.11' })).statusCode).toBe(200);
  });
});

describe('installer tokens', () => {
  it('admin creates tokens (shown once), lists them without the token', async () => {
    const a = await h.call({ method: 'POST', url: `${V1}/tokens`, payload: { installations: ['alpha'] } });
    expect(a.statusCode).toBe(201);
    const body = json<{ id: string; token: string; role: string; installations: string[] }>(a);
    expect(body).toMatchObject({ role: 'installer', installations: ['alpha'] });
    expect(body.token).toMatch(/^cpt_[A-Za-z0-9_-]{43}$/);
    tokenA = body.token;
    tokenAId = body.id;
    const b = await h.call({ method: 'POST', url: `${V1}/tokens`, payload: { installations: ['beta', 'gamma'] } });
    expect(b.statusCode).toBe(201);
    tokenB = json<{ token: string }>(b).token;

    const list = await h.call({ method: 'GET', url: `${V1}/tokens` });
    expect(list.statusCode).toBe(200);
    expect(json<{ items: { id: string }[] }>(list).items.map((t) => t.id)).toContain(tokenAId);
    expect(list.body).not.toContain(tokenA);
    expect(list.body).not.toContain(tokenB);
    // Only hashes are stored.
    const keys: string[] = [];
    for await (const k of await h.deps.bus.kv.tokens.keys()) keys.push(k);
    expect(keys.every((k) => /^[0-9a-f]{64}$/.test(k))).toBe(true);
  });

  it('rejects bad token requests with 400', async () => {
    const cases: [unknown, string][] = [
      [{}, 'installations'],
      [{ installations: [] }, 'installations'],
      [{ installations: 'alpha' }, 'installations'],
      [{ installations: ['alpha', 'alpha'] }, 'installations'],
      [{ installations: ['a.b'] }, 'installations.0'],
      [{ installations: ['alpha', 'nope'] }, 'installations.1'],
      [{ installations: ['alpha'], role: 'admin' }, 'role'],
    ];
    for (const [body, field] of cases) {
      const res = await h.call({ method: 'POST', url: `${V1}/tokens`, payload: body as object });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(errorOf(res).field, JSON.stringify(body)).toBe(field);
    }
  });

  it('each installer sees only its installations; the other one is 404 everywhere', async () => {
    const listA = json<{ items: { id: string }[] }>(await h.call({ method: 'GET', url: `${V1}/installations`, token: tokenA }));
    expect(listA.items.map((i) => i.id)).toEqual(['alpha']);
    const listB = json<{ items: { id: string }[] }>(await h.call({ method: 'GET', url: `${V1}/installations`, token: tokenB }));
    expect(listB.items.map((i) => i.id)).toEqual(['beta', 'gamma']);
    const pageB = json<{ items: { id: string }[]; next?: string }>(await h.call({ method: 'GET', url: `${V1}/installations?limit=1`, token: tokenB }));
    expect(pageB).toEqual({ items: [expect.objectContaining({ id: 'beta' })], next: 'beta' });

    expect((await h.call({ method: 'GET', url: `${V1}/installations/alpha`, token: tokenA })).statusCode).toBe(200);
    expect((await h.call({ method: 'PATCH', url: `${V1}/installations/alpha`, token: tokenA, payload: { fuse: { L1: 50 } } })).statusCode).toBe(200);
    expect((await h.call({ method: 'PUT', url: `${V1}/installations/alpha/chargers/alpha-cp2`, token: tokenA, payload: aCharger() })).statusCode).toBe(201);

    const foreign: [string, string, object?][] = [
      ['GET', `${V1}/installations/beta`],
      ['PATCH', `${V1}/installations/beta`, { fuse: { L1: 1 } }],
      ['DELETE', `${V1}/installations/beta`],
      ['GET', `${V1}/installations/beta/chargers`],
      ['GET', `${V1}/installations/beta/chargers/beta-cp`],
      ['PUT', `${V1}/installations/beta/chargers/beta-cp`, aCharger()],
      ['DELETE', `${V1}/installations/beta/chargers/beta-cp`],
      ['GET', `${V1}/installations/beta/status`],
      ['PUT', `${V1}/installations/beta/available-current`, { L1: 1, L2: 1, L3: 1 }],
      ['GET', `${V1}/installations/beta/available-current`],
      ['DELETE', `${V1}/installations/beta/available-current`],
      ['GET', `${V1}/installations/beta/transactions`],
      ['POST', `${V1}/chargers/beta-cp/commands/Reset`, { type: 'Soft' }],
      ['GET', `${V1}/chargers/beta-cp/transactions`],
      ['GET', `${V1}/chargers/beta-cp/ocpp-log`],
      // A foreign charger through one's own installation is not found either.
      ['GET', `${V1}/installations/alpha/chargers/beta-cp`],
    ];
    for (const [method, url, payload] of foreign) {
      const res = await h.call({ method: method as 'GET', url, token: tokenA, ...(payload ? { payload } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(errorOf(res).code).toBe('NOT_FOUND');
    }
    // The 404 for someone else's installation reads exactly like one for a missing installation.
    const foreignBody = (await h.call({ method: 'GET', url: `${V1}/installations/beta`, token: tokenA })).body;
    const missingBody = (await h.call({ method: 'GET', url: `${V1}/installations/zeta`, token: tokenA })).body.replace('zeta', 'beta');
    expect(foreignBody).toBe(missingBody);
    expect((await h.call({ method: 'GET', url: `${V1}/installations/beta` })).statusCode).toBe(200);
    expect(json<{ fuse: { L1: number } }>(await h.call({ method: 'GET', url: `${V1}/installations/beta` })).fuse.L1).toBe(63);
  });

  it('installers cannot create installations or manage tokens (404, as for anything outside their scope)', async () => {
    const adminOnly: [string, string, object?][] = [
      ['POST', `${V1}/installations`, anInstallation({ id: 'sneaky' })],
      ['POST', `${V1}/tokens`, { installations: ['beta'] }],
      ['GET', `${V1}/tokens`],
      ['DELETE', `${V1}/tokens/${tokenAId}`],
    ];
    for (const [method, url, payload] of adminOnly) {
      const res = await h.call({ method: method as 'GET', url, token: tokenA, ...(payload ? { payload } : {}) });
      expect(res.statusCode, `${method} ${url}`).toBe(404);
    }
    expect(await h.deps.installations.get('sneaky')).toBeUndefined();
  });

  it('a revoked token is 401', async () => {
    expect((await h.call({ method: 'DELETE', url: `${V1}/tokens/${tokenAId}` })).statusCode).toBe(204);
    expect((await h.call({ method: 'DELETE', url: `${V1}/tokens/${tokenAId}` })).statusCode).toBe(404);
    expect((await h.call({ method: 'GET', url: `${V1}/installations`, token: tokenA, remoteAddress: '10.0.0.20' })).statusCode).toBe(401);
    expect((await h.call({ method: 'GET', url: `${V1}/installations`, token: tokenB })).statusCode).toBe(200);
  });

  it('never returned or logged a secret, nor an installer token outside its creation response', () => {
    expect(leakedSecrets(h.seen)).toEqual([]);
    const withTokenA = h.seen.filter((s) => s.includes(tokenA));
    expect(withTokenA).toHaveLength(1);
    expect(h.seen.filter((s) => s.includes(h.adminToken))).toEqual([]);
  });
});
