import { describe, expect, it } from 'vitest';
import { ajvFormatsDateTime, commonDateTime, dateTimeFormat } from '../../ocpp/date-time-format.js';
import { validateRequest, validateResponse } from '../../ocpp/validator.js';

const SEEDS = [
  '2026-12-05T11:13:51.123Z',
  '2024-02-29T23:59:59+01:00',
  '2023-02-29T10:00:00Z',
  '2026-12-05T11:13:51Z',
  '2026-12-05t11:13:51.1z',
  '2026-12-31T23:59:60Z',
  '2026-06-30T22:59:60-01:00',
  '2026-12-05T24:00:00Z',
  '2026-13-05T11:13:51Z',
  '2026-12-05T11:13:51-23:59',
  '2026-12-05T11:13:51+24:00',
  '2026-12-05 11:13:51Z',
  '2026-12-05T11:13:51',
  '2026-12-05T11:13:51.Z',
  '2026-00-01T00:00:00Z',
  '2026-01-00T00:00:00Z',
  '1900-02-29T00:00:00Z',
  '2000-02-29T00:00:00Z',
  '2026-04-31T00:00:00Z',
  '2026-12-05T11:13:51+0100',
  '2026-12-05T11:13:51+01',
  '٢٠٢٦-12-05T11:13:51Z',
];

describe('date-time format', () => {
  it('takes the common shapes itself and leaves every other string to ajv-formats', () => {
    expect(commonDateTime('2026-12-05T11:13:51.123Z')).toBe(true);
    expect(commonDateTime('2024-02-29T23:59:59+01:00')).toBe(true);
    expect(commonDateTime('2026-12-05t11:13:51.1z')).toBe(true);
    // Valid, but for ajv-formats to judge: a leap second, a space, an offset without a colon.
    for (const s of ['2026-12-31T23:59:60Z', '2026-12-05 11:13:51Z', '2026-12-05T11:13:51+0100']) {
      expect(commonDateTime(s)).toBe(false);
      expect(dateTimeFormat.validate(s)).toBe(true);
    }
    for (const s of ['2023-02-29T10:00:00Z', '2026-04-31T00:00:00Z', '2026-12-05T24:00:00Z', '2026-12-05T11:13:51', '2026-12-05T11:13:51.Z', '1900-02-29T00:00:00Z']) {
      expect(dateTimeFormat.validate(s)).toBe(false);
    }
  });

  it('says what ajv-formats says on mutations of valid and invalid timestamps', () => {
    const alphabet = '0123456789-:.TtZz+ E/\n';
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let fast = 0;
    const wrong: string[] = [];
    const check = (s: string): void => {
      const expected = ajvFormatsDateTime.validate(s);
      if (commonDateTime(s)) {
        fast++;
        if (!expected) wrong.push(`fast path took ${JSON.stringify(s)}`);
      }
      if (dateTimeFormat.validate(s) !== expected) wrong.push(JSON.stringify(s));
    };
    for (const s of SEEDS) check(s);
    for (let k = 0; k < 200_000; k++) {
      const chars = SEEDS[rnd(SEEDS.length)]!.split('');
      for (let j = 1 + rnd(3); j > 0; j--) {
        const at = rnd(chars.length + 1);
        const op = rnd(3);
        if (op === 0) chars[at] = alphabet[rnd(alphabet.length)]!;
        else if (op === 1) chars.splice(at, 1);
        else chars.splice(at, 0, alphabet[rnd(alphabet.length)]!);
      }
      check(chars.join(''));
    }
    const p = (v: number, w = 2): string => String(v).padStart(w, '0');
    for (let y = 1896; y <= 2404; y += 1) {
      for (let m = 0; m <= 13; m++) {
        for (let d = 0; d <= 32; d++) check(`${p(y, 4)}-${p(m)}-${p(d)}T${p(rnd(25))}:${p(rnd(61))}:${p(rnd(62))}${rnd(2) ? '.5' : ''}${['Z', '+01:00', '-12:30', 'z'][rnd(4)]}`);
      }
    }
    expect(wrong).toEqual([]);
    // The fast path did the work for a good share of them.
    expect(fast).toBeGreaterThan(50_000);
  });

  it('is the format the OCPP validators use, in requests and responses', () => {
    const meter = (timestamp: string) => ({ connectorId: 1, meterValue: [{ timestamp, sampledValue: [{ value: '1' }] }] });
    expect(validateRequest('MeterValues', meter('2026-12-05T11:13:51.123Z'))).toBeUndefined();
    expect(validateRequest('MeterValues', meter('2026-12-31T23:59:60Z'))).toBeUndefined();
    expect(validateRequest('MeterValues', meter('2026-02-30T11:13:51Z'))?.code).toBe('PropertyConstraintViolation');
    expect(validateResponse('Heartbeat', { currentTime: '2026-12-05T11:13:51Z' })).toBeUndefined();
    expect(validateResponse('Heartbeat', { currentTime: '2026-12-05T11:13:51' })?.code).toBe('PropertyConstraintViolation');
  });
});
