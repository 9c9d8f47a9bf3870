/** Damping a swinging limit (admission under the recent lows, change budgets) and sleeping or probing cars. */
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { aCharger, anInstallation, byId, limits, MIN, NOW } from './allocate-fixtures.js';

describe('allocate: damping a swinging limit and sleeping cars', () => {
  it('admits a waiting session only if its minimum fits under the recent lows; running sessions keep their place', () => {
    const running = [1, 2, 3].map((i) => aCharger({ id: `r${i}`, currentLimit: 6, runningSince: NOW - MIN, arrivedAt: i }));
    const waiting = aCharger({ id: 'w', arrivedAt: 10 });
    const input = { ...anInstallation([...running, waiting], { L1: 28, L2: 28, L3: 28 }), admissionLimits: { L1: 20, L2: 20, L3: 20 } };
    const result = byId(allocate(input));
    expect(result.w).toMatchObject({ limit: 0, reason: 'paused' });
    // The running sessions share the 20 A of the lows fairly; the 8 A above them goes to one session
    // (the least served), so only that one follows the swing.
    expect(limits(allocate(input))).toEqual({ r1: 6.7, r2: 6.7, r3: 14.6, w: 0 });
    expect(allocate(input).phaseLoad.L1).toBeLessThanOrEqual(28 + 1e-9);
    // Without the lows it would have been admitted.
    expect(byId(allocate({ ...input, admissionLimits: { L1: 28, L2: 28, L3: 28 } })).w?.limit).toBe(7);
  });

  it('gives the surplus above the lows to the session steady longest, and leaves it there while it lasts', () => {
    const running = [1, 2, 3].map((i) => aCharger({ id: `r${i}`, currentLimit: 6, runningSince: NOW - 10 * MIN, lastChangeAt: NOW - (i === 2 ? 5 : 3) * MIN }));
    const input = { ...anInstallation(running, { L1: 28, L2: 28, L3: 28 }), admissionLimits: { L1: 20, L2: 20, L3: 20 } };
    expect(limits(allocate(input))).toEqual({ r1: 6.7, r2: 14.7, r3: 6.6 });
    // r2 took it just now: it keeps it rather than the role hopping to the now steadiest r1 or r3.
    const next = running.map((c) => (c.id === 'r2' ? { ...c, currentLimit: 14.7, lastChangeAt: NOW } : c));
    expect(limits(allocate({ ...input, chargers: next }))).toEqual({ r1: 6.7, r2: 14.7, r3: 6.6 });
    // Once the limit came down again, the next swing goes to the steadiest other session.
    const after = running.map((c) => (c.id === 'r2' ? { ...c, lastChangeAt: NOW } : c));
    expect(limits(allocate({ ...input, chargers: after }))).toEqual({ r1: 6.7, r2: 6.7, r3: 14.6 });
  });

  it('names the change budget when it holds an increase', () => {
    const result = allocate(anInstallation([aCharger({ id: 'a', currentLimit: 8, raiseHeldUntil: NOW + 1 })]));
    expect(result.allocations[0]).toMatchObject({ limit: 8, held: 'changeBudget' });
    expect(allocate(anInstallation([aCharger({ id: 'a', currentLimit: 8, raiseHeldUntil: NOW })])).allocations[0]?.limit).toBe(16);
    const paused = allocate(anInstallation([aCharger({ id: 'a', raiseHeldUntil: NOW + 1 })]));
    expect(paused.allocations[0]).toMatchObject({ limit: 0, held: 'changeBudget' });
  });

  it('offers a sleeping car nothing and reserves nothing for it; a probing car waits behind running sessions', () => {
    const sleeping = allocate(anInstallation([aCharger({ id: 'a', currentLimit: 6, asleep: 'sleeping' }), aCharger({ id: 'b', maxCurrent: 32 })], { L1: 30, L2: 30, L3: 30 }));
    expect(byId(sleeping).a).toMatchObject({ limit: 0, reason: 'asleep' });
    expect(byId(sleeping).b?.limit).toBe(30);
    // Only one minimum fits: the probe does not displace the session that has run for an hour.
    const probing = allocate(
      anInstallation(
        [aCharger({ id: 'a', asleep: 'probing', pausedSince: NOW - 60 * MIN, arrivedAt: 0 }), aCharger({ id: 'b', currentLimit: 10, runningSince: NOW - 60 * MIN, arrivedAt: 1 })],
        { L1: 10, L2: 10, L3: 10 },
      ),
    );
    expect(limits(probing)).toEqual({ a: 0, b: 10 });
    const room = allocate(anInstallation([aCharger({ id: 'a', asleep: 'probing', pausedSince: NOW - 60 * MIN })], { L1: 10, L2: 10, L3: 10 }));
    // A probe is offered its minimum only, however much room there is.
    expect(limits(room)).toEqual({ a: 6 });
  });
});
