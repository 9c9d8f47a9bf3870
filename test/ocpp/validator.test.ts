import * as schemas from 'typed-ocpp/dist/ocpp16/schemas.js';
import { describe, expect, it } from 'vitest';
import { ALL_ACTIONS, CENTRAL_SYSTEM_ACTIONS, CHARGER_INITIATED_ACTIONS, isKnownAction } from '../../ocpp/actions.js';
import { codeForKeyword, validateRequest, validateResponse } from '../../ocpp/validator.js';

const bootRequest = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  chargePointVendor: 'Acme',
  chargePointModel: 'Wallbox 22',
  ...over,
});

const profile = (limit: unknown): Record<string, unknown> => ({
  connectorId: 1,
  csChargingProfiles: {
    chargingProfileId: 7,
    stackLevel: 0,
    chargingProfilePurpose: 'TxDefaultProfile',
    chargingProfileKind: 'Absolute',
    chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }] },
  },
});

describe('action lists', () => {
  it('cover exactly the 1.6 actions typed-ocpp ships schemas for', () => {
    const fromSchemas = Object.keys(schemas)
      .filter((k) => k.endsWith('Request'))
      .map((k) => k.slice(0, -'Request'.length))
      .sort();
    expect([...ALL_ACTIONS].sort()).toEqual(fromSchemas);
    expect(ALL_ACTIONS).toHaveLength(39);
  });

  it('only DataTransfer goes both ways', () => {
    const both = CHARGER_INITIATED_ACTIONS.filter((a) => (CENTRAL_SYSTEM_ACTIONS as readonly string[]).includes(a));
    expect(both).toEqual(['DataTransfer']);
    expect(CENTRAL_SYSTEM_ACTIONS).toEqual(expect.arrayContaining(['SetChargingProfile', 'TriggerMessage', 'SendLocalList', 'ReserveNow', 'UpdateFirmware', 'GetDiagnostics']));
    expect(CHARGER_INITIATED_ACTIONS).toEqual(expect.arrayContaining(['BootNotification', 'StatusNotification', 'MeterValues', 'FirmwareStatusNotification']));
  });

  it('isKnownAction', () => {
    expect(isKnownAction('Heartbeat')).toBe(true);
    expect(isKnownAction('heartbeat')).toBe(false);
    expect(isKnownAction(42)).toBe(false);
  });
});

describe('validator', () => {
  it('compiles a request and a response validator for every action', () => {
    for (const action of ALL_ACTIONS) {
      // {} is valid for some and invalid for others; what matters is that nothing throws.
      expect(() => validateRequest(action, {})).not.toThrow();
      expect(() => validateResponse(action, {})).not.toThrow();
    }
  });

  it('accepts valid payloads', () => {
    expect(validateRequest('BootNotification', bootRequest())).toBeUndefined();
    expect(validateResponse('BootNotification', { status: 'Accepted', currentTime: new Date().toISOString(), interval: 60 })).toBeUndefined();
    expect(validateRequest('Heartbeat', {})).toBeUndefined();
    expect(validateRequest('SetChargingProfile', profile(16.3))).toBeUndefined(); // multipleOf 0.1 with float error
    expect(validateResponse('GetConfiguration', { configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }] })).toBeUndefined();
  });

  it('maps a missing required field to OccurenceConstraintViolation and names it', () => {
    const err = validateRequest('BootNotification', { chargePointModel: 'x' });
    expect(err?.code).toBe('OccurenceConstraintViolation');
    expect(err?.message).toContain('chargePointVendor');
    expect(err?.details).toMatchObject({ field: 'chargePointVendor', keyword: 'required' });
  });

  it('maps a wrong type to TypeConstraintViolation with the nested path', () => {
    const err = validateRequest('SetChargingProfile', profile('sixteen'));
    expect(err?.code).toBe('TypeConstraintViolation');
    expect(err?.message).toContain('csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit');
  });

  it('maps enum, maxLength, additionalProperties, format and multipleOf to PropertyConstraintViolation', () => {
    const cases: [string, ReturnType<typeof validateRequest>][] = [
      ['status', validateRequest('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Sleeping' })],
      ['chargePointVendor', validateRequest('BootNotification', bootRequest({ chargePointVendor: 'x'.repeat(21) }))],
      ['colour', validateRequest('BootNotification', bootRequest({ colour: 'red' }))],
      ['currentTime', validateResponse('Heartbeat', { currentTime: 'yesterday' })],
      ['limit', validateRequest('SetChargingProfile', profile(16.05))],
    ];
    for (const [field, err] of cases) {
      expect(err?.code, field).toBe('PropertyConstraintViolation');
      expect(err?.message, field).toContain(field);
    }
  });

  it('keyword table', () => {
    expect(codeForKeyword('type')).toBe('TypeConstraintViolation');
    expect(codeForKeyword('required')).toBe('OccurenceConstraintViolation');
    expect(codeForKeyword('dependencies')).toBe('OccurenceConstraintViolation');
    expect(codeForKeyword('dependentRequired')).toBe('OccurenceConstraintViolation');
    for (const k of ['maxLength', 'enum', 'pattern', 'format', 'minimum', 'maximum', 'additionalProperties', 'multipleOf']) {
      expect(codeForKeyword(k)).toBe('PropertyConstraintViolation');
    }
  });

  it('does not coerce or strip: the payload is left as sent', () => {
    const payload = bootRequest({ extra: 1 });
    validateRequest('BootNotification', payload);
    expect(payload).toHaveProperty('extra', 1);
    expect(validateRequest('ChangeAvailability', { connectorId: '1', type: 'Operative' })?.code).toBe('TypeConstraintViolation');
  });

  it('an unknown action is NotImplemented', () => {
    expect(validateRequest('FlyToTheMoon', {})?.code).toBe('NotImplemented');
  });
});
