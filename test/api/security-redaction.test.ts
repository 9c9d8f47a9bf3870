import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeJson } from '../../core/nats.js';
import { streams, subjects } from '../../core/subjects.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, newStrictClient, startTestNode, waitFor, type IncomingCall } from '../support/platform.js';

/**
 * Issue 16: a charger's AuthorizationKey read back with GetConfiguration reached the API answer and
 * the OCPP log in clear. A real node, a real charger (ocpp-rpc, strict), the real log stream.
 */
const ADMIN = 'test-admin-token-0123456789';
const CHARGER_SECRET = '6f6c642d736f7574682d6b6579';
let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url, { OCPP_LOG: 'all' });
  await node.stores.installations.create(anInstallation({ id: 'red-site' }));
  await node.stores.chargers.put('red-site', 'CP-RED', aCharger());
  await waitFor(() => node.cache.chargers.has('CP-RED') || undefined);
});
afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${node.apiPort}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } });
  return { status: res.status, body: await res.text() };
}

async function rawLog(chargerId: string): Promise<string[]> {
  const out: string[] = [];
  const info = await node.bus.jsm.streams.info(streams.ocppLog);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await node.bus.jsm.streams.getMessage(streams.ocppLog, { seq }).catch(() => null);
    if (m && m.subject === subjects.ocppLog(chargerId)) out.push(new TextDecoder().decode(m.data));
  }
  return out;
}

describe('AuthorizationKey in GetConfiguration answers', () => {
  it('is redacted in the API answer and never stored in the OCPP log', async () => {
    const client = newStrictClient(node, 'CP-RED', INITIAL_PASSWORD);
    let rotated = false;
    client.handle(async ({ method, params = {} }: IncomingCall) => {
      if (method === 'ChangeConfiguration') {
        rotated = params.key === 'AuthorizationKey';
        return { status: 'Accepted' };
      }
      if (method === 'GetConfiguration') {
        return { configurationKey: [{ key: 'AuthorizationKey', readonly: false, value: CHARGER_SECRET }, { key: 'HeartbeatInterval', readonly: false, value: '300' }] };
      }
      return {};
    });
    await client.connect();
    await waitFor(() => rotated || undefined, 5_000, 'the password rotation');

    const res = await api('/api/v1/chargers/CP-RED/commands/GetConfiguration', { method: 'POST', body: '{}' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({
      configurationKey: [
        { key: 'AuthorizationKey', readonly: false, value: '[redacted]' },
        { key: 'HeartbeatInterval', readonly: false, value: '300' },
      ],
    });
    const stored = await waitFor(async () => {
      const all = await rawLog('CP-RED');
      return all.some((e) => e.includes('HeartbeatInterval')) ? all : undefined;
    }, 5_000, 'the answer in the log');
    expect(stored.some((e) => e.includes(CHARGER_SECRET))).toBe(false);
    expect(stored.some((e) => e.includes('[redacted]'))).toBe(true);
    await client.close({ awaitPending: true });
  });

  it('entries stored in clear before this version are redacted when read', async () => {
    const entry = { chargerId: 'CP-RED', direction: 'in', type: 'CALLRESULT', id: 'old-1', payload: { configurationKey: [{ key: 'AUTHORIZATIONKEY', readonly: false, value: CHARGER_SECRET }] }, at: new Date().toISOString() };
    await node.bus.js.publish(subjects.ocppLog('CP-RED'), encodeJson(entry));
    const res = await api('/api/v1/chargers/CP-RED/ocpp-log?limit=1000');
    expect(res.status).toBe(200);
    expect(res.body).not.toContain(CHARGER_SECRET);
    const items = (JSON.parse(res.body) as { items: { id: string; payload: unknown }[] }).items;
    expect(items.find((i) => i.id === 'old-1')?.payload).toEqual({ configurationKey: [{ key: 'AUTHORIZATIONKEY', readonly: false, value: '[redacted]' }] });
  });
});
