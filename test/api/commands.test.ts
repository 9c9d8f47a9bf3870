import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CENTRAL_SYSTEM_ACTIONS } from '../../ocpp/validator.js';
import { aCharger, anInstallation, json, leakedSecrets, simulateCharger, startApi, type ApiHarness } from './harness.js';

let h: ApiHarness;
const CMD = (chargerId: string, action: string, query = '') => `/api/v1/chargers/${chargerId}/commands/${action}${query}`;
const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string; field?: string; ocppCode?: string } }).error;
const settle = () => new Promise((r) => setTimeout(r, 100));

beforeAll(async () => {
  h = await startApi();
  expect((await h.call({ method: 'POST', url: '/api/v1/installations', payload: anInstallation({ id: 'cmd-site' }) })).statusCode).toBe(201);
  for (const id of ['CP-ON', 'CP-OFF', 'CP-HANG', 'CP-ERR']) {
    expect((await h.call({ method: 'PUT', url: `/api/v1/installations/cmd-site/chargers/${id}`, payload: aCharger() })).statusCode).toBe(201);
  }
});
afterAll(async () => {
  await h?.close();
});

describe('charger commands', () => {
  it('passes the payload through and returns the charger response with 200', async () => {
    const sim = simulateCharger(h.bus.nc, 'CP-ON', (cmd) =>
      cmd.action === 'GetConfiguration'
        ? { ok: true, response: { configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }], unknownKey: ['X'] } }
        : { ok: true, response: { status: 'Accepted' } },
    );
    const res = await h.call({ method: 'POST', url: CMD('CP-ON', 'GetConfiguration', '?timeoutMs=5000'), payload: { key: ['HeartbeatInterval', 'X'] } });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toEqual({ configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }], unknownKey: ['X'] });
    expect(sim.received).toEqual([{ action: 'GetConfiguration', payload: { key: ['HeartbeatInterval', 'X'] }, timeoutMs: 5000 }]);

    const change = await h.call({ method: 'POST', url: CMD('CP-ON', 'ChangeConfiguration'), payload: { key: 'HeartbeatInterval', value: '60' } });
    expect(change.statusCode).toBe(200);
    expect(json(change)).toEqual({ status: 'Accepted' });
    // Actions without a payload take an empty body.
    const clear = await h.call({ method: 'POST', url: CMD('CP-ON', 'ClearCache') });
    expect(clear.statusCode).toBe(200);
    expect(sim.received.at(-1)).toMatchObject({ action: 'ClearCache', payload: {} });
    sim.sub.unsubscribe();
  });

  it('validates against the OCPP 1.6 schema before sending: 400 with the field and the OCPP code, nothing published', async () => {
    const sim = simulateCharger(h.bus.nc, 'CP-ON', () => ({ ok: true, response: { status: 'Accepted' } }));
    const cases: [string, unknown, string, string][] = [
      ['ChangeConfiguration', { value: '60' }, 'key', 'OccurenceConstraintViolation'],
      ['ChangeConfiguration', { key: 'HeartbeatInterval', value: 60 }, 'value', 'TypeConstraintViolation'],
      ['ChangeConfiguration', { key: 'K'.repeat(51), value: '1' }, 'key', 'PropertyConstraintViolation'],
      ['Reset', { type: 'Medium' }, 'type', 'PropertyConstraintViolation'],
      ['RemoteStartTransaction', { idTag: 'X'.repeat(21) }, 'idTag', 'PropertyConstraintViolation'],
      ['UnlockConnector', { connectorId: '1' }, 'connectorId', 'TypeConstraintViolation'],
      ['ChangeAvailability', { connectorId: 0, type: 'Operative', extra: true }, 'extra', 'PropertyConstraintViolation'],
    ];
    for (const [action, payload, field, ocppCode] of cases) {
      const res = await h.call({ method: 'POST', url: CMD('CP-ON', action), payload: payload as object });
      expect(res.statusCode, `${action} ${JSON.stringify(payload)}`).toBe(400);
      const err = errorOf(res);
      expect(err, `${action} ${JSON.stringify(payload)}`).toMatchObject({ code: 'VALIDATION', field, ocppCode });
      expect(err.message).toContain(ocppCode);
    }
    const notObject = await h.call({ method: 'POST', url: CMD('CP-ON', 'Reset'), payload: '[1]', headers: { 'content-type': 'application/json' } });
    expect(notObject.statusCode).toBe(400);
    await settle();
    expect(sim.received).toEqual([]);
    sim.sub.unsubscribe();
  });

  it('accepts every Central System action and no other (400 naming Action)', async () => {
    const sim = simulateCharger(h.bus.nc, 'CP-ON', () => ({ ok: true, response: {} }));
    for (const action of ['BootNotification', 'Heartbeat', 'StartTransaction', '$status', 'Bogus', 'reset']) {
      const res = await h.call({ method: 'POST', url: CMD('CP-ON', encodeURIComponent(action)), payload: {} });
      expect(res.statusCode, action).toBe(400);
      expect(errorOf(res).field).toBe('Action');
    }
    // Every CS action is routed (an empty payload is either valid or a 400 from the OCPP schema, never a 404).
    for (const action of CENTRAL_SYSTEM_ACTIONS) {
      const res = await h.call({ method: 'POST', url: CMD('CP-ON', action), payload: {} });
      // ClearChargingProfile is refused whole (409 BALANCER_OWNS_PROFILES, see security-commands.test.ts).
      expect(action === 'ClearChargingProfile' ? [409] : [200, 400], action).toContain(res.statusCode);
      if (res.statusCode === 400) expect(errorOf(res).ocppCode, action).toBeDefined();
    }
    await settle();
    expect(sim.received.every((c) => CENTRAL_SYSTEM_ACTIONS.includes(c.action as (typeof CENTRAL_SYSTEM_ACTIONS)[number]))).toBe(true);
    sim.sub.unsubscribe();
  });

  it('409 when the charger is not connected (no responder)', async () => {
    const res = await h.call({ method: 'POST', url: CMD('CP-OFF', 'Reset'), payload: { type: 'Soft' } });
    expect(res.statusCode).toBe(409);
    expect(errorOf(res).code).toBe('NOT_CONNECTED');
  });

  it('504 when the charger never answers (short ?timeoutMs)', async () => {
    const sim = simulateCharger(h.bus.nc, 'CP-HANG', () => undefined);
    const started = Date.now();
    const res = await h.call({ method: 'POST', url: CMD('CP-HANG', 'Reset', '?timeoutMs=1'), payload: { type: 'Hard' } });
    expect(res.statusCode).toBe(504);
    expect(errorOf(res).code).toBe('CHARGER_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(sim.received).toHaveLength(1);
    for (const q of ['?timeoutMs=0', '?timeoutMs=60001', '?timeoutMs=soon', '?wait=1']) {
      const bad = await h.call({ method: 'POST', url: CMD('CP-HANG', 'Reset', q), payload: { type: 'Hard' } });
      expect(bad.statusCode, q).toBe(400);
      expect(errorOf(bad).field, q).toBe(q.slice(1).split('=')[0]);
    }
    sim.sub.unsubscribe();
  });

  it('502 with the OCPP code when the charger answers with a CallError; 400 when the node rejects the payload', async () => {
    const sim = simulateCharger(h.bus.nc, 'CP-ERR', (cmd) =>
      cmd.action === 'Reset'
        ? { ok: false, error: { code: 'CALL_ERROR', message: 'not today', ocppCode: 'NotSupported' } }
        : { ok: false, error: { code: 'INVALID', message: 'lenient check failed', ocppCode: 'FormationViolation' } },
    );
    const res = await h.call({ method: 'POST', url: CMD('CP-ERR', 'Reset'), payload: { type: 'Soft' } });
    expect(res.statusCode).toBe(502);
    expect(errorOf(res)).toMatchObject({ code: 'CHARGER_ERROR', ocppCode: 'NotSupported' });
    const invalid = await h.call({ method: 'POST', url: CMD('CP-ERR', 'ClearCache'), payload: {} });
    expect(invalid.statusCode).toBe(400);
    expect(errorOf(invalid)).toMatchObject({ code: 'VALIDATION', ocppCode: 'FormationViolation' });
    sim.sub.unsubscribe();
  });

  it('404 for a charger that is not configured', async () => {
    const res = await h.call({ method: 'POST', url: CMD('CP-GHOST', 'Reset'), payload: { type: 'Soft' } });
    expect(res.statusCode).toBe(404);
    expect(errorOf(res).code).toBe('NOT_FOUND');
  });

  it('never returned or logged a secret', () => {
    expect(leakedSecrets(h.seen)).toEqual([]);
  });
});
