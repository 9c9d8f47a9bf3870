/** The simulator honours 1/3-phase switching (issue 12): the profile's numberPhases and the car's draw. */
import { describe, expect, it } from 'vitest';
import { limitProfile } from '../../balancer/charging-profile.js';
import { compositeLimit, compositeNumberPhases, oneConnectorContext, setChargingProfile, type InstalledProfile } from '../../sim/charging-profiles.js';
import { SimClock, Scheduler } from '../../sim/clock.js';
import { Car } from '../../sim/ev.js';
import { Outlet } from '../../sim/outlet.js';
import { phaseSwitchSettings } from '../../sim/phase-switching.js';
import { Random } from '../../sim/random.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const ctx = oneConnectorContext({ maxStackLevel: 8, tx: { transactionId: 7, startedAtWall: T0 }, voltage: 230, phases: 3, maxCurrent: 32 });
const install = (profiles: readonly InstalledProfile[], req: ReturnType<typeof limitProfile>): readonly InstalledProfile[] => {
  const r = setChargingProfile(profiles, req, ctx);
  expect(r.status).toBe('Accepted');
  return r.profiles;
};

describe('simulator: numberPhases', () => {
  it('the profile in force says how many phases: none given is all of them; the fewer of the max and the transaction profile wins', () => {
    let profiles = install([], limitProfile('TxDefaultProfile', 10, T0));
    expect(compositeNumberPhases(profiles, 1, T0 + 1_000, ctx)).toBeUndefined();
    profiles = install(profiles, limitProfile('TxDefaultProfile', 10, T0, undefined, 1));
    expect(compositeNumberPhases(profiles, 1, T0 + 1_000, ctx)).toBe(1);
    expect(compositeLimit(profiles, 1, T0 + 1_000, ctx)).toBe(10);
    // A TxProfile of the running transaction overrides the default.
    profiles = install(profiles, limitProfile('TxProfile', 10, T0, { transactionId: 7, connectorId: 1 }, 3));
    expect(compositeNumberPhases(profiles, 1, T0 + 1_000, ctx)).toBe(3);
    profiles = install(profiles, limitProfile('ChargePointMaxProfile', 16, T0, undefined, 1));
    expect(compositeNumberPhases(profiles, 1, T0 + 1_000, ctx)).toBe(1);
  });

  it('a 3-phase car told one phase draws on terminal 1 only, after its response delay; told three again, on all three', () => {
    const scheduler = new Scheduler(new SimClock(1));
    const outlet = new Outlet(3, scheduler, 230, () => undefined);
    outlet.plug(0, new Car({ charger: 'x', arriveS: 0, phases: 3, maxA: 32, batteryKWh: 60, socStart: 0.2, socTarget: 1, taperFromSoc: 0.8, responseDelayS: 1, idTag: 'T' }, 3, new Random(1)));
    outlet.energise(0, 10);
    scheduler.advance(1_000);
    expect(outlet.draw).toEqual([10, 10, 10]);
    outlet.offer(2_000, 10, 1);
    expect(outlet.commandedPhases).toBe(1);
    scheduler.advance(2_500);
    expect(outlet.draw).toEqual([10, 10, 10]);
    scheduler.advance(3_000);
    expect(outlet.draw).toEqual([10, 0, 0]);
    outlet.offer(4_000, 16, 3);
    scheduler.advance(5_000);
    expect(outlet.draw).toEqual([16, 16, 16]);
  });

  it('compresses the hold like the other balancer timers; the count is not a duration', () => {
    expect(phaseSwitchSettings(undefined, 30)).toEqual({ phaseSwitchHoldMs: 10_000, maxPhaseSwitches: 5 });
    expect(phaseSwitchSettings({ phaseSwitchHoldMs: 60_000, maxPhaseSwitches: 2 }, 60)).toEqual({ phaseSwitchHoldMs: 1_000, maxPhaseSwitches: 2 });
  });
});
