import { describe, expect, it } from 'vitest';
import { meterEventDue, profileLimitA, readMeterValues } from '../../south/meter-values.js';
import { limitProfile } from '../../balancer/charging-profile.js';

const mv = (timestamp: string, sampledValue: Record<string, string>[]) => ({ timestamp, sampledValue }) as never;

describe('readMeterValues', () => {
  it('reads per-phase currents, normalises kWh and kW, ignores EV-side and signed values', () => {
    const r = readMeterValues(
      [
        mv('2026-01-01T00:00:00Z', [
          { value: '16', measurand: 'Current.Import', phase: 'L1-N', unit: 'A' },
          { value: '15', measurand: 'Current.Import', phase: 'L2' },
          { value: '1.5', measurand: 'Energy.Active.Import.Register', unit: 'kWh' },
          { value: '11', measurand: 'Power.Active.Import', unit: 'kW' },
          { value: '99', measurand: 'Current.Import', phase: 'L3', location: 'EV' },
          { value: 'abc', measurand: 'Current.Import', phase: 'L3', format: 'SignedData' },
          { value: '32', measurand: 'Current.Offered' },
          { value: '14', measurand: 'Current.Import', phase: 'L3-N' },
          // The neutral and line-to-line phases are no charger terminal.
          { value: '3', measurand: 'Current.Import', phase: 'N' },
          { value: '7', measurand: 'Current.Import', phase: 'L1-L2' },
        ]),
      ],
      3,
    );
    expect(r).toEqual({ currents: { t1: 16, t2: 15, t3: 14 }, energyWh: 1500, powerW: 11000, offered: 32, timestamp: '2026-01-01T00:00:00Z' });
  });

  it('defaults to the energy register in Wh, takes the newest sample, and maps a phaseless current', () => {
    const r = readMeterValues([mv('2026-01-01T00:00:00Z', [{ value: '100' }]), mv('2026-01-01T00:01:00Z', [{ value: '200' }, { value: '8', measurand: 'Current.Import' }])], 1);
    expect(r).toMatchObject({ energyWh: 200, currents: { t1: 8 }, timestamp: '2026-01-01T00:01:00Z' });
    const three = readMeterValues([mv('2026-01-01T00:00:00Z', [{ value: '8', measurand: 'Current.Import' }])], 3);
    expect(three?.currents).toEqual({ t1: 8, t2: 8, t3: 8 });
  });

  it('ignores unknown units rather than guessing', () => {
    const r = readMeterValues([mv('2026-01-01T00:00:00Z', [{ value: '5', measurand: 'Energy.Active.Import.Register', unit: 'varh' }])], 3);
    expect(r?.energyWh).toBeUndefined();
  });
});

describe('meterEventDue', () => {
  const o = { deltaA: 0.5, maxAgeMs: 30_000, overLimitRepeatMs: 1_000 };
  const at = (t: number, t1: number, transactionId?: number) => ({ currents: { t1, t2: t1, t3: 0 }, transactionId, at: t });
  it('publishes changes, transaction switches and a refresh, not repeats', () => {
    expect(meterEventDue(undefined, at(0, 10), o)).toBe(true);
    expect(meterEventDue(at(0, 10), at(1_000, 10.3), o)).toBe(false);
    expect(meterEventDue(at(0, 10), at(1_000, 10.5), o)).toBe(true);
    expect(meterEventDue(at(0, 10), at(1_000, 10, 7), o)).toBe(true);
    expect(meterEventDue(at(0, 10), at(30_000, 10), o)).toBe(true);
    expect(meterEventDue(at(0, 10), { currents: { t1: 10, t2: 10 }, transactionId: undefined, at: 1 }, o)).toBe(true);
  });
  it('publishes an unchanged reading above the limit the charger accepted (it ignores its limit)', () => {
    // 10 A both times: a repeat, unless the charger was told 6.7 A since.
    expect(meterEventDue(at(0, 10), at(10_000, 10), o, { a: 16, at: 0 })).toBe(false);
    expect(meterEventDue(at(0, 10), at(10_000, 10), o, { a: 6.7, at: 0 })).toBe(true);
    // Within deltaA of the limit: a car at its limit, not news.
    expect(meterEventDue(at(0, 7), at(10_000, 7), o, { a: 6.7, at: 0 })).toBe(false);
  });
  it('publishes the first reading above a limit after each accept at once, repeats at most every overLimitRepeatMs', () => {
    // Published at 5 s; the charger accepted 6.7 A at 5.1 s: the reading at 5.2 s is news.
    expect(meterEventDue(at(5_000, 10), at(5_200, 10), o, { a: 6.7, at: 5_100 })).toBe(true);
    // Accepted before the last event: the same reading again within the repeat interval is not.
    expect(meterEventDue(at(5_200, 10), at(5_400, 10), o, { a: 6.7, at: 5_100 })).toBe(false);
    expect(meterEventDue(at(5_200, 10), at(5_200 + o.overLimitRepeatMs - 1, 10), o, { a: 6.7, at: 5_100 })).toBe(false);
    expect(meterEventDue(at(5_200, 10), at(5_200 + o.overLimitRepeatMs, 10), o, { a: 6.7, at: 5_100 })).toBe(true);
    // The same limit accepted again (the balancer re-sent it): news again at once.
    expect(meterEventDue(at(5_200, 10), at(5_400, 10), o, { a: 6.7, at: 5_300 })).toBe(true);
  });
});

describe('profileLimitA', () => {
  it('reads the highest period of a profile in A, nothing from one in W', () => {
    expect(profileLimitA(limitProfile('TxDefaultProfile', 6.7, Date.parse('2026-01-01T00:00:00Z')))).toBe(6.7);
    const p = limitProfile('TxDefaultProfile', 6, 0);
    const multi = { ...p, csChargingProfiles: { ...p.csChargingProfiles, chargingSchedule: { ...p.csChargingProfiles.chargingSchedule, chargingSchedulePeriod: [{ startPeriod: 0, limit: 6 }, { startPeriod: 600, limit: 16 }] } } };
    expect(profileLimitA(multi)).toBe(16);
    const watts = { ...p, csChargingProfiles: { ...p.csChargingProfiles, chargingSchedule: { ...p.csChargingProfiles.chargingSchedule, chargingRateUnit: 'W' as const } } };
    expect(profileLimitA(watts)).toBeUndefined();
  });
});
