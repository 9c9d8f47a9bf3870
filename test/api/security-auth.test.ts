import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aCharger, anInstallation, json, startApi, type ApiHarness } from './harness.js';

/**
 * Issue 16, availability of the API: failures from one address (or every client behind one proxy)
 * must not lock valid tokens out; failures are counted per client, IPv6 per /64, in a bounded table.
 */
const V1 = '/api/v1';
let h: ApiHarness;
let behindProxy: ApiHarness;
let base = '';
let installerToken = '';

beforeAll(async () => {
  h = await startApi({ authFailureLimit: { maxFailures: 3, windowMs: 60_000 } });
  expect((await h.call({ method: 'POST', url: `${V1}/installations`, payload: anInstallation({ id: 'lock-site' }) })).statusCode).toBe(201);
  expect((await h.call({ method: 'PUT', url: `${V1}/installations/lock-site/chargers/lock-cp`, payload: aCharger() })).statusCode).toBe(201);
  installerToken = json<{ token: string }>(await h.call({ method: 'POST', url: `${V1}/tokens`, payload: { installations: ['lock-site'] } })).token;
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  behindProxy = await startApi({ authFailureLimit: { maxFailures: 3, windowMs: 60_000 }, trustProxy: 1 });
});
afterAll(async () => {
  await h?.close();
  await behindProxy?.close();
});

const get = (path: string, token?: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } });

describe('failed-auth throttling over a real socket', () => {
  it('after an address is blocked, the admin, an installer and an energy manager from it still pass; failures get 429', async () => {
    for (let i = 0; i < 3; i++) expect((await get(`${V1}/installations`, `wrong-${i}`)).status).toBe(401);
    const blocked = await get(`${V1}/installations`, 'wrong-again');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await get(`${V1}/installations`)).status).toBe(429);

    expect((await get(`${V1}/installations`, h.adminToken)).status).toBe(200);
    expect((await get(`${V1}/installations/lock-site`, installerToken)).status).toBe(200);
    const limit = await fetch(`${base}${V1}/installations/lock-site/available-current`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${installerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ L1: 20, L2: 20, L3: 20, ttlSeconds: 60 }),
    });
    expect(limit.status).toBe(200);
    // Without TRUST_PROXY a forged X-Forwarded-For changes nothing: the socket's address is the client.
    expect((await get(`${V1}/installations`, 'wrong-x', { 'x-forwarded-for': '203.0.113.7' })).status).toBe(429);
  });
});

describe('behind a proxy (TRUST_PROXY=1)', () => {
  const viaProxy = (client: string, token: string | null) =>
    behindProxy.call({ method: 'GET', url: `${V1}/installations`, token, remoteAddress: '10.9.9.9', headers: { 'x-forwarded-for': client } });

  it('counts failures per forwarded client, not per proxy', async () => {
    for (let i = 0; i < 3; i++) expect((await viaProxy('198.51.100.1', `bad-${i}`)).statusCode).toBe(401);
    expect((await viaProxy('198.51.100.1', 'bad-3')).statusCode).toBe(429);
    expect((await viaProxy('198.51.100.2', 'bad-0')).statusCode).toBe(401);
    expect((await viaProxy('198.51.100.1', behindProxy.adminToken)).statusCode).toBe(200);
  });

  it('keys IPv6 clients by /64: rotating the interface id does not buy more guesses', async () => {
    for (let i = 1; i <= 3; i++) expect((await viaProxy(`2001:db8:1:2::${i}`, `bad-${i}`)).statusCode).toBe(401);
    expect((await viaProxy('2001:db8:1:2:ffff:ffff:ffff:ffff', 'bad-4')).statusCode).toBe(429);
    expect((await viaProxy('2001:db8:1:3::1', 'bad-5')).statusCode).toBe(401);
  });
});
