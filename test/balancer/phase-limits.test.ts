import { describe, expect, it } from 'vitest';
import { phaseLimitsAt } from '../../balancer/phase-limits.js';
import { foldLows, LOWS_SLOT_MS, lowestDynamic, type AvailableCurrent } from '../../core/available-current-store.js';
import type { BalancerSettings, Installation, PhaseCurrents } from '../../core/model.js';

const T0 = Date.parse('2026-01-01T12:00:00.000Z');
const MIN = 60_000;

function anInstallation(balancer: Partial<BalancerSettings> = {}, fuse: PhaseCurrents = { L1: 63, L2: 63, L3: 63 }): Installation {
  return {
    id: 'i',
    name: 'i',
    fuse,
    authorization: { required: false, idTags: [] },
    ocpp: { partnerEnabled: false },
    balancer: {
      safetyMarginA: 0,
      settleMs: 5_000,
      deadbandA: 1,
      minChangeIntervalMs: 10_000,
      rotationIntervalMs: 900_000,
      minRunMs: 300_000,
      minPauseMs: 120_000,
      admissionWindowMs: 120_000,
      changesPerHour: 40,
      changeBurst: 10,
      idleAfterMs: 180_000,
      wakeProbeIntervalMs: 900_000,
      wakeProbeMs: 60_000,
      fuseDedicatedToChargers: false,
      ...balancer,
    },
    createdAt: '',
    updatedAt: '',
  };
}

/** The records an energy manager leaves by writing `values` one minute apart, starting at T0. */
function written(values: PhaseCurrents[], ttlMs = 30_000): AvailableCurrent {
  let record: AvailableCurrent | undefined;
  values.forEach((v, i) => {
    const at = T0 + i * MIN;
    record = { installationId: 'i', ...v, setAt: new Date(at).toISOString(), expiresAt: new Date(at + ttlMs).toISOString(), lows: foldLows(record, v, at) };
  });
  return record!;
}

const all = (a: number): PhaseCurrents => ({ L1: a, L2: a, L3: a });

describe('phase limits and the failsafe', () => {
  it('uses fuse minus margin without a dynamic limit, and the lower of both while one lives', () => {
    const inst = anInstallation({ safetyMarginA: 3 });
    expect(phaseLimitsAt(inst, undefined, T0)).toEqual({ limits: all(60) });
    const live = written([{ L1: 40, L2: 70, L3: 0 }]);
    expect(phaseLimitsAt(inst, live, T0 + 1_000)).toEqual({ limits: { L1: 40, L2: 60, L3: 0 } });
  });

  it('falls back to the lowest dynamic limit of the last hour when the energy manager goes silent, not to the fuse', () => {
    // A base-load peak had left 20 A; the last value before silence was 45 A.
    const record = written([all(50), all(20), all(45)]);
    const expiry = Date.parse(record.expiresAt);
    expect(phaseLimitsAt(anInstallation(), record, expiry - 1).limits).toEqual(all(45));
    expect(phaseLimitsAt(anInstallation(), record, expiry)).toEqual({
      limits: all(20),
      failsafe: { since: expiry, source: 'lowest dynamic limit of the last hour', current: all(20) },
    });
    // Hours later it still does not hand out the fuse.
    expect(phaseLimitsAt(anInstallation(), record, expiry + 5 * 3_600_000).limits).toEqual(all(20));
  });

  it('uses the configured failsafeCurrent, capped by the fuse, and the bare fuse only when it is dedicated to the chargers', () => {
    const record = written([all(30)]);
    const after = Date.parse(record.expiresAt) + 1;
    expect(phaseLimitsAt(anInstallation({ failsafeCurrent: { L1: 16, L2: 100, L3: 0 } }), record, after)).toMatchObject({
      limits: { L1: 16, L2: 63, L3: 0 },
      failsafe: { source: 'configured' },
    });
    expect(phaseLimitsAt(anInstallation({ fuseDedicatedToChargers: true, safetyMarginA: 2 }), record, after)).toMatchObject({
      limits: all(61),
      failsafe: { source: 'fuse dedicated to chargers' },
    });
    // An explicit failsafe wins over the dedicated fuse.
    expect(phaseLimitsAt(anInstallation({ fuseDedicatedToChargers: true, failsafeCurrent: all(25) }), record, after).limits).toEqual(all(25));
  });

  it('treats an unreadable expiry as expired: the failsafe, never the bare fuse', () => {
    const record = { ...written([all(30)]), expiresAt: 'garbage' };
    expect(phaseLimitsAt(anInstallation(), record, T0)).toMatchObject({ limits: all(30), failsafe: { since: 0 } });
  });

  it('keeps the lows in 5-minute slots over the last hour only', () => {
    let lows = foldLows(undefined, all(10), T0);
    lows = foldLows({ installationId: 'i', ...all(10), setAt: '', expiresAt: '', lows }, all(40), T0 + LOWS_SLOT_MS);
    expect(lows.map((l) => l.L1)).toEqual([10, 40]);
    const record = { installationId: 'i', ...all(40), setAt: '', expiresAt: '', lows };
    expect(lowestDynamic(record)).toEqual(all(10));
    // 65 minutes later the 10 A slot has left the window.
    const later = foldLows(record, all(50), T0 + 65 * MIN);
    expect(lowestDynamic({ ...record, ...all(50), lows: later })).toEqual(all(40));
    expect(later.length).toBeLessThanOrEqual(14);
  });
});
