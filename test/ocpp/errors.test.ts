import { describe, expect, it } from 'vitest';
import {
  CALL_ERROR_CLASSES,
  CALL_ERROR_CODES,
  createCallError,
  GenericError,
  OccurenceConstraintViolationError,
  OcppCallError,
  OcppClosedError,
  OcppRemoteError,
  OcppTimeoutError,
} from '../../ocpp/errors.js';

/** OCPP-J 1.6, section 4.2.3 "CallError", table of valid error codes, spelled as the 1.6 text spells them. */
const SPEC_1_6_CODES = [
  'NotImplemented',
  'NotSupported',
  'InternalError',
  'ProtocolError',
  'SecurityError',
  'FormationViolation',
  'PropertyConstraintViolation',
  'OccurenceConstraintViolation',
  'TypeConstraintViolation',
  'GenericError',
];

describe('OCPP 1.6 CallError codes', () => {
  it('are unique and exactly the ten codes of OCPP-J 1.6, with its spelling', () => {
    expect(new Set(CALL_ERROR_CODES).size).toBe(CALL_ERROR_CODES.length);
    expect([...CALL_ERROR_CODES].sort()).toEqual([...SPEC_1_6_CODES].sort());
    expect(CALL_ERROR_CODES).toContain('OccurenceConstraintViolation');
    expect(CALL_ERROR_CODES).not.toContain('OccurrenceConstraintViolation');
  });

  it('have one class each, carrying its own code', () => {
    const classes = Object.values(CALL_ERROR_CLASSES);
    expect(new Set(classes).size).toBe(CALL_ERROR_CODES.length);
    for (const code of CALL_ERROR_CODES) {
      const err = new CALL_ERROR_CLASSES[code]();
      expect(err).toBeInstanceOf(OcppCallError);
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(code);
      expect(err.message.length).toBeGreaterThan(0);
      expect(err.details).toEqual({});
    }
  });

  it('the factory builds the right class and falls back to GenericError', () => {
    const err = createCallError('OccurenceConstraintViolation', 'idTag is required', { details: { field: 'idTag' } });
    expect(err).toBeInstanceOf(OccurenceConstraintViolationError);
    expect(err.message).toBe('idTag is required');
    expect(err.details).toEqual({ field: 'idTag' });
    expect(createCallError('NoSuchCode')).toBeInstanceOf(GenericError);
  });

  it('transport errors carry what a caller needs', () => {
    const remote = new OcppRemoteError('Reset', 'NotSupported', 'no', { a: 1 });
    expect([remote.action, remote.code, remote.description, remote.details]).toEqual(['Reset', 'NotSupported', 'no', { a: 1 }]);
    expect(new OcppTimeoutError('Reset', 100).timeoutMs).toBe(100);
    expect(new OcppClosedError('Reset').message).toContain('closed');
    const cause = new Error('root');
    expect(new OcppCallError('InternalError', 'x', { cause }).cause).toBe(cause);
  });
});
