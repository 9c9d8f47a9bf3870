import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limitProfile } from '../../balancer/charging-profile.js';
import type { RequestOf } from '../../ocpp/actions.js';
import {
  clearChargingProfile,
  compositeLimit,
  compositeSchedule,
  endTransaction,
  setChargingProfile,
  type ChargingProfile,
  type InstalledProfile,
  type ProfileContext,
} from '../../sim/charging-profiles.js';

const T0 = Date.parse('2026-01-05T08:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

const ctx = (over: Partial<ProfileContext> = {}): ProfileContext => ({
  connectors: 1,
  maxStackLevel: 8,
  transactions: new Map(),
  voltage: 230,
  phases: 3,
  maxCurrent: 32,
  allowedUnits: ['A', 'W'],
  ...over,
});
const withTx = ctx({ transactions: new Map([[1, { transactionId: 42, startedAt: T0 }]]) });

/** A builder: one period at `limit` A from T0, absolute, on connector 0 as TxDefaultProfile. */
function aProfile(over: Partial<ChargingProfile> & { limit?: number; periods?: { startPeriod: number; limit: number }[] } = {}): ChargingProfile {
  const { limit = 16, periods, ...rest } = over;
  return {
    chargingProfileId: 1,
    stackLevel: 0,
    chargingProfilePurpose: 'TxDefaultProfile',
    chargingProfileKind: 'Absolute',
    chargingSchedule: { startSchedule: iso(T0), chargingRateUnit: 'A', chargingSchedulePeriod: periods ?? [{ startPeriod: 0, limit }] },
    ...rest,
  };
}

function install(profiles: readonly InstalledProfile[], p: ChargingProfile, connectorId = 0, c = ctx()): readonly InstalledProfile[] {
  const r = setChargingProfile(profiles, { connectorId, csChargingProfiles: p }, c);
  expect(r.status).toBe('Accepted');
  return r.profiles;
}

describe('OCPP 1.6 charging profile composition', () => {
  it('applies a TxDefaultProfile set on connector 0 to connector 1, and the hardware limit without profiles', () => {
    expect(compositeLimit([], 1, T0, ctx())).toBeUndefined();
    expect(compositeLimit(install([], aProfile({ limit: 13 })), 1, T0 + 1000, ctx())).toBe(13);
  });

  it('takes the highest stack level that has a period now, and falls back when its duration ends', () => {
    let ps = install([], aProfile({ chargingProfileId: 1, stackLevel: 0, limit: 20 }));
    ps = install(ps, aProfile({ chargingProfileId: 2, stackLevel: 3, limit: 8, chargingSchedule: { startSchedule: iso(T0), duration: 600, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 8 }] } }));
    expect(compositeLimit(ps, 1, T0 + 10_000, ctx())).toBe(8);
    expect(compositeLimit(ps, 1, T0 + 600_000, ctx())).toBe(20);
    // Before its start, an absolute schedule has no period at all.
    expect(compositeLimit(ps, 1, T0 - 1, ctx())).toBeUndefined();
  });

  it('follows the periods of a schedule and the validity window', () => {
    const p = aProfile({ periods: [{ startPeriod: 0, limit: 10 }, { startPeriod: 60, limit: 20 }], validTo: iso(T0 + 120_000) });
    const ps = install([], p);
    expect(compositeLimit(ps, 1, T0 + 59_000, ctx())).toBe(10);
    expect(compositeLimit(ps, 1, T0 + 60_000, ctx())).toBe(20);
    expect(compositeLimit(ps, 1, T0 + 120_000, ctx())).toBeUndefined();
  });

  it('lets a TxProfile override the TxDefaultProfile during its transaction only', () => {
    let ps = install([], aProfile({ chargingProfileId: 1, stackLevel: 5, limit: 6 }), 0, withTx);
    const tx = aProfile({ chargingProfileId: 2, stackLevel: 0, chargingProfilePurpose: 'TxProfile', transactionId: 42, limit: 25 });
    expect(setChargingProfile(ps, { connectorId: 1, csChargingProfiles: tx }, ctx()).status).toBe('Rejected');
    expect(setChargingProfile(ps, { connectorId: 1, csChargingProfiles: { ...tx, transactionId: 7 } }, withTx).status).toBe('Rejected');
    expect(setChargingProfile(ps, { connectorId: 0, csChargingProfiles: tx }, withTx).status).toBe('Rejected');
    ps = install(ps, tx, 1, withTx);
    expect(compositeLimit(ps, 1, T0 + 1000, withTx)).toBe(25);
    ps = endTransaction(ps, 1);
    expect(compositeLimit(ps, 1, T0 + 1000, ctx())).toBe(6);
  });

  it('caps everything with the ChargePointMaxProfile, which only connector 0 may carry', () => {
    const max = aProfile({ chargingProfileId: 9, chargingProfilePurpose: 'ChargePointMaxProfile', limit: 10 });
    expect(setChargingProfile([], { connectorId: 1, csChargingProfiles: max }, ctx()).status).toBe('Rejected');
    let ps = install([], max);
    expect(compositeLimit(ps, 1, T0, ctx())).toBe(10);
    ps = install(ps, aProfile({ chargingProfileId: 1, limit: 16 }));
    expect(compositeLimit(ps, 1, T0, ctx())).toBe(10);
    ps = install(ps, aProfile({ chargingProfileId: 1, limit: 7 }));
    expect(compositeLimit(ps, 1, T0, ctx())).toBe(7);
    expect(compositeLimit(ps, 0, T0, ctx())).toBe(10);
  });

  it('replaces a profile with the same id, and one with the same stack level and purpose on the connector', () => {
    let ps = install([], aProfile({ chargingProfileId: 1, stackLevel: 1, limit: 16 }));
    ps = install(ps, aProfile({ chargingProfileId: 1, stackLevel: 2, limit: 12 }));
    expect(ps).toHaveLength(1);
    ps = install(ps, aProfile({ chargingProfileId: 3, stackLevel: 2, limit: 9 }));
    expect(ps).toHaveLength(1);
    expect(compositeLimit(ps, 1, T0, ctx())).toBe(9);
  });

  it('rejects stack levels above ChargeProfileMaxStackLevel, bad periods and disallowed units', () => {
    expect(setChargingProfile([], { connectorId: 0, csChargingProfiles: aProfile({ stackLevel: 9 }) }, ctx()).status).toBe('Rejected');
    expect(setChargingProfile([], { connectorId: 0, csChargingProfiles: aProfile({ periods: [{ startPeriod: 10, limit: 6 }] }) }, ctx()).status).toBe('Rejected');
    expect(setChargingProfile([], { connectorId: 0, csChargingProfiles: aProfile() }, ctx({ allowedUnits: ['W'] })).status).toBe('Rejected');
    expect(setChargingProfile([], { connectorId: 2, csChargingProfiles: aProfile() }, ctx()).status).toBe('Rejected');
  });

  it('converts W schedules to A per phase', () => {
    const w = aProfile({ chargingSchedule: { startSchedule: iso(T0), chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 11_040 }] } });
    expect(compositeLimit(install([], w), 1, T0, ctx())).toBeCloseTo(16, 6);
    const onePhase = aProfile({ chargingSchedule: { startSchedule: iso(T0), chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 3680, numberPhases: 1 }] } });
    expect(compositeLimit(install([], onePhase), 1, T0, ctx())).toBeCloseTo(16, 6);
  });

  it('repeats a daily recurring profile and starts a relative one with the transaction', () => {
    const daily = aProfile({ chargingProfileKind: 'Recurring', recurrencyKind: 'Daily', chargingSchedule: { startSchedule: iso(T0), duration: 3600, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6 }] } });
    const ps = install([], daily);
    expect(compositeLimit(ps, 1, T0 + 86_400_000 + 1000, ctx())).toBe(6);
    expect(compositeLimit(ps, 1, T0 + 86_400_000 + 3_600_000, ctx())).toBeUndefined();
    const relative = aProfile({ chargingProfileKind: 'Relative', periods: [{ startPeriod: 0, limit: 6 }, { startPeriod: 600, limit: 32 }], chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6 }, { startPeriod: 600, limit: 32 }] } });
    const rs = install([], relative, 0, withTx);
    expect(compositeLimit(rs, 1, T0 + 599_000, withTx)).toBe(6);
    expect(compositeLimit(rs, 1, T0 + 600_000, withTx)).toBe(32);
  });

  it('clears by id, by criteria, and answers Unknown when nothing matched', () => {
    let ps = install([], aProfile({ chargingProfileId: 1, stackLevel: 1 }));
    ps = install(ps, aProfile({ chargingProfileId: 2, stackLevel: 2, chargingProfilePurpose: 'ChargePointMaxProfile' }));
    expect(clearChargingProfile(ps, { id: 99 }).status).toBe('Unknown');
    expect(clearChargingProfile(ps, { id: 1 }).profiles).toHaveLength(1);
    expect(clearChargingProfile(ps, { chargingProfilePurpose: 'ChargePointMaxProfile' }).profiles.map((x) => x.profile.chargingProfileId)).toEqual([1]);
    expect(clearChargingProfile(ps, {}).profiles).toEqual([]);
  });

  it('reports the composite schedule as periods', () => {
    let ps = install([], aProfile({ chargingProfileId: 1, limit: 20 }));
    ps = install(ps, aProfile({ chargingProfileId: 2, stackLevel: 2, chargingSchedule: { startSchedule: iso(T0 + 60_000), duration: 120, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 8 }] } }));
    const r = compositeSchedule(ps, { connectorId: 1, duration: 600 }, T0, ctx());
    expect(r.status).toBe('Accepted');
    expect(r.chargingSchedule?.chargingSchedulePeriod).toEqual([
      { startPeriod: 0, limit: 20 },
      { startPeriod: 60, limit: 8 },
      { startPeriod: 180, limit: 20 },
    ]);
    const none = compositeSchedule([], { connectorId: 1, duration: 60, chargingRateUnit: 'W' }, T0, ctx());
    expect(none.chargingSchedule?.chargingSchedulePeriod).toEqual([{ startPeriod: 0, limit: 32 * 230 * 3 }]);
  });

  it('applies exactly the limit the platform balancer sends, for every purpose it uses', () => {
    for (const purpose of ['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile'] as const) {
      for (const limit of [0, 6, 13.7, 32]) {
        const req: RequestOf<'SetChargingProfile'> = limitProfile(purpose, limit, T0, { transactionId: 42, connectorId: 1 });
        const r = setChargingProfile([], req, withTx);
        expect(r.status).toBe('Accepted');
        expect(compositeLimit(r.profiles, 1, T0 + 5_000, withTx)).toBe(limit);
      }
    }
  });

  it('keeps the composite schedule and the limit at an instant consistent (property)', () => {
    const period = fc.record({ startPeriod: fc.integer({ min: 1, max: 3000 }), limit: fc.integer({ min: 0, max: 64 }) });
    const profile = fc.record({
      id: fc.integer({ min: 1, max: 6 }),
      stackLevel: fc.integer({ min: 0, max: 4 }),
      purpose: fc.constantFrom('ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile'),
      offsetS: fc.integer({ min: -600, max: 1800 }),
      duration: fc.option(fc.integer({ min: 60, max: 3000 }), { nil: undefined }),
      first: fc.integer({ min: 0, max: 64 }),
      more: fc.array(period, { maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(profile, { maxLength: 6 }), fc.integer({ min: 0, max: 3599 }), (specs, atS) => {
        let ps: readonly InstalledProfile[] = [];
        for (const s of specs) {
          const starts = [...new Set(s.more.map((m) => m.startPeriod))].sort((a, b) => a - b);
          const periods = [{ startPeriod: 0, limit: s.first }, ...starts.map((sp) => ({ startPeriod: sp, limit: s.more.find((m) => m.startPeriod === sp)!.limit }))];
          const p: ChargingProfile = {
            chargingProfileId: s.id,
            stackLevel: s.stackLevel,
            chargingProfilePurpose: s.purpose as ChargingProfile['chargingProfilePurpose'],
            chargingProfileKind: 'Absolute',
            chargingSchedule: { startSchedule: iso(T0 + s.offsetS * 1000), ...(s.duration ? { duration: s.duration } : {}), chargingRateUnit: 'A', chargingSchedulePeriod: periods },
          };
          ps = setChargingProfile(ps, { connectorId: s.purpose === 'TxDefaultProfile' ? 0 : s.purpose === 'TxProfile' ? 1 : 0, csChargingProfiles: p }, withTx).profiles;
        }
        const schedule = compositeSchedule(ps, { connectorId: 1, duration: 3600 }, T0, withTx).chargingSchedule!.chargingSchedulePeriod;
        const fromSchedule = [...schedule].reverse().find((x) => x.startPeriod <= atS)!.limit;
        const direct = Math.min(32, compositeLimit(ps, 1, T0 + atS * 1000, withTx) ?? 32);
        expect(fromSchedule).toBeCloseTo(direct, 6);
      }),
      { numRuns: 300 },
    );
  });
});
