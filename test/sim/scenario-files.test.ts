import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadScenario, parseScenario } from '../../sim/scenario.js';
import { balancerSettings, platformEnv } from '../../sim/runner.js';

describe('scenario files', () => {
  it('every file in scenarios/ is valid, with defaults filled in', () => {
    const files = readdirSync('scenarios').filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const f of files) {
      const s = loadScenario(f.replace(/\.json$/, ''));
      expect(s.installations.length, f).toBeGreaterThan(0);
      for (const inst of s.installations) for (const car of inst.cars) expect(car.phases).toBeGreaterThanOrEqual(1);
    }
  });

  it('the load scenario expands to 200 installations of 10 chargers with cars coming and going', () => {
    const s = loadScenario('load-200x10');
    expect(s.installations).toHaveLength(200);
    expect(s.installations.reduce((n, i) => n + i.chargers.length, 0)).toBe(2000);
    const cars = s.installations.flatMap((i) => i.cars);
    expect(cars.filter((c) => c.arriveS > 0).length).toBeGreaterThan(100);
    expect(cars.filter((c) => c.departS !== undefined && c.departS < s.durationS).length).toBeGreaterThan(100);
  });

  it('rejects a bad scenario naming the field', () => {
    expect(() => parseScenario({ name: 'x', durationS: 60, installations: [{ id: 'a', fuse: { L1: 10, L2: 10 }, chargers: [] }] })).toThrow(/fuse/);
    expect(() => parseScenario({ name: 'x', durationS: 60, installations: [{ id: 'a', fuse: { L1: 10, L2: 10, L3: 10 }, chargers: [], cars: [{ charger: 'nope', arriveS: 0 }] }] })).toThrow(/unknown charger/);
  });

  it('compresses every platform duration by the same factor', () => {
    const s = loadScenario('s4-load-step');
    const { env, effective } = platformEnv(s, 60);
    expect(env.HEARTBEAT_INTERVAL_S).toBe('5');
    expect(env.BALANCER_RECLAIM_AFTER_MS).toBe('500');
    expect(env.METER_EVENT_MAX_AGE_MS).toBe('500');
    expect(effective.profileTimeoutMs).toBe(10_020);
    expect(balancerSettings(s.installations[0]!, 60)).toMatchObject({ settleMs: 83, minChangeIntervalMs: 167, rotationIntervalMs: 15_000, minRunMs: 5_000, minPauseMs: 2_000 });
  });
});
