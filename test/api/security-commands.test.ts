import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { aCharger, anInstallation, json, simulateCharger, startApi, type ApiHarness } from './harness.js';

/**
 * Issue 16: smart-charging commands from the API must not reach the charger over the balancer's
 * head, and AuthorizationKey values never come back in a command's answer.
 */
let h: ApiHarness;
const CMD = (chargerId: string, action: string) => `/api/v1/chargers/${chargerId}/commands/${action}`;
const errorOf = (res: { json: () => unknown }) => (res.json() as { error: { code: string; message: string } }).error;

const profile = {
  chargingProfileId: 9,
  stackLevel: 0,
  chargingProfilePurpose: 'TxDefaultProfile',
  chargingProfileKind: 'Absolute',
  chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 63 }] },
};

beforeAll(async () => {
  h = await startApi();
  expect((await h.call({ method: 'POST', url: '/api/v1/installations', payload: anInstallation({ id: 'sc-site' }) })).statusCode).toBe(201);
  expect((await h.call({ method: 'PUT', url: '/api/v1/installations/sc-site/chargers/CP-SC', payload: aCharger() })).statusCode).toBe(201);
});
afterAll(async () => {
  await h?.close();
});

describe('smart-charging commands', () => {
  it('refuses SetChargingProfile, ClearChargingProfile and RemoteStartTransaction with a profile: 409 BALANCER_OWNS_PROFILES, nothing sent', async () => {
    const sim = simulateCharger(h.bus.nc, 'CP-SC', () => ({ ok: true, response: { status: 'Accepted' } }));
    onTestFinished(() => sim.sub.unsubscribe());
    const refused: [string, Record<string, unknown>][] = [
      ['SetChargingProfile', { connectorId: 0, csChargingProfiles: { ...profile, chargingProfilePurpose: 'ChargePointMaxProfile' } }],
      ['SetChargingProfile', { connectorId: 1, csChargingProfiles: profile }],
      ['ClearChargingProfile', {}],
      ['ClearChargingProfile', { id: 1 }],
      ['ClearChargingProfile', { chargingProfilePurpose: 'TxDefaultProfile', stackLevel: 0 }],
      ['RemoteStartTransaction', { idTag: 'TAG', connectorId: 1, chargingProfile: { ...profile, chargingProfilePurpose: 'TxProfile' } }],
    ];
    for (const [action, payload] of refused) {
      const res = await h.call({ method: 'POST', url: CMD('CP-SC', action), payload });
      expect(res.statusCode, action).toBe(409);
      expect(errorOf(res).code, action).toBe('BALANCER_OWNS_PROFILES');
      expect(errorOf(res).message, action).toContain(action);
    }
    // A plain remote start is still the API's to send; it proves the responder was listening all along.
    const start = await h.call({ method: 'POST', url: CMD('CP-SC', 'RemoteStartTransaction'), payload: { idTag: 'TAG', connectorId: 1 } });
    expect(start.statusCode).toBe(200);
    expect(sim.received.map((c) => c.action)).toEqual(['RemoteStartTransaction']);
    expect(sim.received[0]!.payload).toEqual({ idTag: 'TAG', connectorId: 1 });
  });

  it('an invalid profile payload is still a 400 naming the field (validation comes first)', async () => {
    const res = await h.call({ method: 'POST', url: CMD('CP-SC', 'SetChargingProfile'), payload: { connectorId: 'one', csChargingProfiles: profile } });
    expect(res.statusCode).toBe(400);
    expect(errorOf(res).code).toBe('VALIDATION');
  });
});

describe('AuthorizationKey in answers', () => {
  it('redacts every AuthorizationKey value of a GetConfiguration answer, whatever its case', async () => {
    const sim = simulateCharger(h.bus.nc, 'CP-SC', () => ({
      ok: true,
      response: {
        configurationKey: [
          { key: 'AuthorizationKey', readonly: false, value: '736f7574682d70617373776f7264' },
          { key: 'authorizationkey', readonly: false, value: 'lower-case-secret' },
          { key: 'HeartbeatInterval', readonly: false, value: '300' },
        ],
      },
    }));
    onTestFinished(() => sim.sub.unsubscribe());
    const res = await h.call({ method: 'POST', url: CMD('CP-SC', 'GetConfiguration'), payload: {} });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toEqual({
      configurationKey: [
        { key: 'AuthorizationKey', readonly: false, value: '[redacted]' },
        { key: 'authorizationkey', readonly: false, value: '[redacted]' },
        { key: 'HeartbeatInterval', readonly: false, value: '300' },
      ],
    });
    expect(h.seen.some((s) => s.includes('736f7574682d70617373776f7264') || s.includes('lower-case-secret'))).toBe(false);
  });
});
