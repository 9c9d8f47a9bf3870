import { compileErrors, validate } from '@readme/openapi-parser';
import type { RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRETS, aCharger, anInstallation, json, leakedSecrets, startApi, type ApiHarness } from './harness.js';

let h: ApiHarness;
const routes: RouteOptions[] = [];

beforeAll(async () => {
  h = await startApi({ onRoute: (r) => routes.push(r) });
});
afterAll(async () => {
  await h?.close();
});

type OpenApiDoc = { openapi: string; paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown>; requestBody?: unknown }>> };

/** Routes that belong in the document: everything except HEAD twins and the hidden Swagger UI routes. */
function documentedRoutes(): string[] {
  const out = new Set<string>();
  for (const r of routes) {
    const schema = r.schema as { hide?: boolean } | undefined;
    if (schema?.hide) continue;
    for (const m of [r.method].flat()) {
      if (m === 'HEAD') continue;
      out.add(`${m.toLowerCase()} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    }
  }
  return [...out].sort();
}

describe('OpenAPI document', () => {
  it('is served at /docs/json and validates as OpenAPI 3.1', async () => {
    const res = await h.call({ method: 'GET', url: '/docs/json', token: null });
    expect(res.statusCode).toBe(200);
    const doc = json<OpenApiDoc>(res);
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid, result.valid ? '' : compileErrors(result)).toBe(true);
  });

  it('lists every registered route, and every route has request and response schemas', async () => {
    const doc = json<OpenApiDoc>(await h.call({ method: 'GET', url: '/docs/json', token: null }));
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
      .sort();
    expect(documented).toEqual(documentedRoutes());
    expect(documented).toEqual(
      [
        'delete /api/v1/installations/{id}',
        'delete /api/v1/installations/{id}/available-current',
        'delete /api/v1/installations/{id}/chargers/{chargerId}',
        'delete /api/v1/installations/{id}/circuits/{circuitId}',
        'get /api/v1/installations/{id}/circuits',
        'get /api/v1/installations/{id}/circuits/{circuitId}',
        'put /api/v1/installations/{id}/circuits/{circuitId}',
        'put /api/v1/installations/{id}/circuits/{circuitId}/meter',
        'delete /api/v1/tokens/{tokenId}',
        'get /api/v1/chargers/{chargerId}/ocpp-log',
        'get /api/v1/chargers/{chargerId}/transactions',
        'get /api/v1/installations',
        'get /api/v1/installations/{id}',
        'get /api/v1/installations/{id}/available-current',
        'get /api/v1/installations/{id}/chargers',
        'get /api/v1/installations/{id}/chargers/{chargerId}',
        'get /api/v1/installations/{id}/live',
        'get /api/v1/installations/{id}/status',
        'get /api/v1/installations/{id}/transactions',
        'get /api/v1/tokens',
        'get /health',
        'get /metrics',
        'patch /api/v1/installations/{id}',
        'post /api/v1/chargers/{chargerId}/commands/{Action}',
        'post /api/v1/installations',
        'post /api/v1/tokens',
        'put /api/v1/installations/{id}/available-current',
        'put /api/v1/installations/{id}/chargers/{chargerId}',
      ].sort(),
    );
    for (const r of routes.filter((r) => r.url.startsWith('/api/v1') || r.url === '/health' || r.url === '/metrics')) {
      const schema = r.schema as { response?: Record<string, unknown>; body?: unknown } | undefined;
      expect(schema?.response, `${String(r.method)} ${r.url}`).toBeDefined();
      if ([r.method].flat().some((m) => ['POST', 'PUT', 'PATCH'].includes(m))) expect(schema?.body, `${String(r.method)} ${r.url}`).toBeDefined();
    }
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (path.startsWith('/api/v1')) {
          expect(op.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
          expect(Object.keys(op.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['401', '429']));
        }
      }
    }
  });

  it('documents secrets as write-only and never in responses', async () => {
    const doc = json<{ components: unknown; paths: Record<string, Record<string, { responses: unknown; requestBody?: unknown }>> }>(
      await h.call({ method: 'GET', url: '/docs/json', token: null }),
    );
    const responses = JSON.stringify(Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.responses)));
    for (const secret of ['"chargerPassword":', '"initialPassword":', '"password":']) expect(responses).not.toContain(secret);
    const put = doc.paths['/api/v1/installations/{id}/chargers/{chargerId}']?.put?.requestBody;
    expect(JSON.stringify(put)).toMatch(/"password":\{[^}]*"writeOnly":true/);
  });

  it('serves the Swagger UI at /docs', async () => {
    const res = await h.call({ method: 'GET', url: '/docs', token: null });
    expect([200, 302]).toContain(res.statusCode);
    const page = res.statusCode === 302 ? await h.call({ method: 'GET', url: String(res.headers.location), token: null }) : res;
    expect(page.body).toContain('swagger');
  });
});

describe('over a real port', () => {
  let base = '';
  beforeAll(async () => {
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = h.app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });

  const call = async (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const token = init.token === undefined ? h.adminToken : init.token;
    const res = await fetch(base + path, {
      ...init,
      headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) },
    });
    const text = await res.text();
    h.record(text);
    return { status: res.status, text, headers: res.headers };
  };

  it('health, metrics and the OpenAPI document without auth', async () => {
    const health = await call('/health', { token: null });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toEqual({ status: 'ok', nats: true, nodeId: 'node-test' });
    h.deps.metrics.connectedChargers.set(3);
    const metrics = await call('/metrics', { token: null });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(metrics.text).toContain('cp_connected_chargers 3');
    expect((await call('/docs/json', { token: null })).status).toBe(200);
  });

  it('creates, patches and reads an installation and a charger end to end', async () => {
    const created = await call('/api/v1/installations', { method: 'POST', body: JSON.stringify(anInstallation({ id: 'real-1', fuse: { L1: '32 A', L2: 32, L3: 32 }, chargerPassword: SECRETS.chargerPassword })) });
    expect(created.status).toBe(201);
    expect(JSON.parse(created.text).fuse).toEqual({ L1: 32, L2: 32, L3: 32 });
    const patched = await call('/api/v1/installations/real-1', { method: 'PATCH', body: JSON.stringify({ fuse: { L2: '25 A' } }) });
    expect(patched.status).toBe(200);
    expect(JSON.parse(patched.text).fuse).toEqual({ L1: 32, L2: 25, L3: 32 });
    expect((await call('/api/v1/installations/real-1/chargers/R-1', { method: 'PUT', body: JSON.stringify(aCharger()) })).status).toBe(201);
    expect((await call('/api/v1/installations/real-1/chargers/R-1', { method: 'PUT', body: JSON.stringify(aCharger()) })).status).toBe(200);
    const status = await call('/api/v1/installations/real-1/status');
    expect(status.status).toBe(200);
    expect(JSON.parse(status.text).phases.L2).toEqual({ fuse: 25, dynamicLimit: null, allocated: null, measured: 0 });
  });

  it('400 for a string where a number is required, 401 without a token', async () => {
    const bad = await call('/api/v1/installations/real-1/chargers/R-2', { method: 'PUT', body: JSON.stringify(aCharger({ maxCurrent: '32' })) });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error).toMatchObject({ code: 'VALIDATION', field: 'maxCurrent' });
    const unauth = await call('/api/v1/installations', { token: null });
    expect(unauth.status).toBe(401);
    expect(JSON.parse(unauth.text)).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Missing bearer token' } });
  });

  it('never returned or logged a secret', () => {
    expect(leakedSecrets(h.seen)).toEqual([]);
  });
});

describe('health', () => {
  it('reports NATS as unreachable with 503 once the connection is closed', async () => {
    await h.bus.nc.close();
    const res = await h.call({ method: 'GET', url: '/health', token: null });
    expect(res.statusCode).toBe(503);
    expect(json(res)).toEqual({ status: 'degraded', nats: false, nodeId: 'node-test' });
  });
});
