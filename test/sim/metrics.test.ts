import { describe, expect, it } from 'vitest';
import { Scheduler, SimClock } from '../../sim/clock.js';
import { profilesPerHour } from '../../sim/metrics.js';
import { Random } from '../../sim/random.js';
import { Recorder } from '../../sim/recorder.js';
import { parseScenario } from '../../sim/scenario.js';
import { Site } from '../../sim/site.js';

const MIN = 60_000;
const every = (n: number, stepMs: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i * stepMs);

describe('profiles per charger-hour', () => {
  it('in a run of an hour or more: the most profiles in any one-hour window', () => {
    expect(profilesPerHour(every(40, MIN), 60 * MIN, 10)).toBe(40);
    // 30 early and 30 late, two hours apart: never more than 30 in one hour.
    expect(profilesPerHour([...every(30, 10_000), ...every(30, 10_000, 120 * MIN)], 180 * MIN, 10)).toBe(30);
    expect(profilesPerHour([...every(30, 10_000, 50 * MIN), ...every(31, 10_000, 70 * MIN)], 180 * MIN, 10)).toBe(61);
  });

  it('in a shorter run: the count, with only what is above the budget burst projected to the hour', () => {
    // The load run: a burst of 10 plus 40/h for 10 minutes is within the hourly line, not 102/h.
    expect(profilesPerHour(every(17, 30_000), 10 * MIN, 10)).toBeCloseTo(52, 6);
    expect(profilesPerHour(every(9, 30_000), 10 * MIN, 10)).toBe(9);
    // 20 in ten minutes is a platform that does not keep its budget.
    expect(profilesPerHour(every(20, 30_000), 10 * MIN, 10)).toBeGreaterThan(60);
  });
});

describe('energy manager in the simulator', () => {
  it('reports before the run, waits until the platform has the report, and counts it known from then', async () => {
    const scenario = parseScenario({
      name: 'unit',
      durationS: 600,
      installations: [{ id: 'u', fuse: { L1: 32, L2: 32, L3: 32 }, baseLoad: { L1: 5, L2: 7, L3: 0 }, chargers: [{ id: 'a', phases: 3, maxCurrent: 32 }] }],
    });
    const stored: unknown[] = [];
    let release: () => void = () => undefined;
    const site = new Site(scenario.installations[0]!, {
      scheduler: new Scheduler(new SimClock(1)),
      api: {
        putAvailableCurrent: (_id, available) => new Promise<void>((r) => (release = () => (stored.push(available), r()))),
        patchFuse: async () => undefined,
      },
      listener: new Recorder({ reclaimThresholdA: 3, reclaimHeadroomA: 2, graceMs: 1_000 }),
      rnd: new Random(1),
      initialPassword: 'unit-password',
      charger: { ocppBaseUrl: 'ws://127.0.0.1:1/ocpp', meterIntervalMs: 10_000, voltage: 230, callTimeoutRealMs: 1_000, log: () => undefined },
      log: () => undefined,
    });
    let done = false;
    const first = site.reportFirst(0).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    // Sent, not yet answered: the platform does not know it yet.
    expect(site.knownLimit()).toEqual({ L1: 32, L2: 32, L3: 32 });
    release();
    await first;
    expect(stored).toEqual([{ L1: 27, L2: 25, L3: 32 }]);
    expect(site.knownLimit()).toEqual({ L1: 27, L2: 25, L3: 32 });
  });
});
