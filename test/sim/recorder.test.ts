import { describe, expect, it } from 'vitest';
import type { SimCharger } from '../../sim/charger.js';
import { Scheduler, SimClock } from '../../sim/clock.js';
import { Car } from '../../sim/ev.js';
import { computeMetrics } from '../../sim/metrics.js';
import { Random } from '../../sim/random.js';
import { Recorder } from '../../sim/recorder.js';
import { parseScenario } from '../../sim/scenario.js';
import { Site } from '../../sim/site.js';

/** A site that is never connected: the test moves limits and draws by hand, as the platform and the cars would. */
function aSite(fuse = 32) {
  const scenario = parseScenario({
    name: 'unit',
    durationS: 600,
    installations: [
      {
        id: 'u',
        fuse: { L1: fuse, L2: fuse, L3: fuse },
        energyManager: { enabled: false },
        chargers: [
          { id: 'a', phases: 3, maxCurrent: 32 },
          { id: 'b', phases: 3, maxCurrent: 32 },
        ],
      },
    ],
  });
  const recorder = new Recorder({ reclaimThresholdA: 3, reclaimHeadroomA: 2, graceMs: 1_000 });
  const site = new Site(scenario.installations[0]!, {
    scheduler: new Scheduler(new SimClock(1)),
    api: { putAvailableCurrent: async () => undefined, patchFuse: async () => undefined },
    listener: recorder,
    rnd: new Random(1),
    initialPassword: 'unit-password',
    charger: { ocppBaseUrl: 'ws://127.0.0.1:1/ocpp', meterIntervalMs: 10_000, voltage: 230, callTimeoutRealMs: 1_000, log: () => undefined },
    log: () => undefined,
  });
  const [a, b] = site.chargers as [SimCharger, SimCharger];
  const carSpec = scenario.installations[0]!.cars[0] ?? { charger: 'a', arriveS: 0, phases: 3, maxA: 32, batteryKWh: 60, socStart: 0.2, socTarget: 1, taperFromSoc: 0.8, responseDelayS: 1, idTag: 'T' };
  for (const c of [a, b]) c.car = new Car({ ...carSpec, phases: 3 }, 3, new Random(2));
  recorder.begin(0, [site]);
  /** The charger accepted `limit` from the platform at `t`. */
  const accept = (c: SimCharger, t: number, limit: number): void => {
    const before = c.commandedA;
    c.commandedA = limit;
    recorder.commandedChanged(c, t, before, limit, true);
  };
  const draw = (c: SimCharger, t: number, amps: number): void => {
    c.outlet.draw[0] = c.outlet.draw[1] = c.outlet.draw[2] = amps;
    site.changed(t);
  };
  return { site, recorder, a, b, accept, draw };
}

describe('metrics recorder', () => {
  it('flags an increase accepted while the decrease it depends on is not, and blames the overshoot on the platform', () => {
    const { recorder, a, b, accept, draw } = aSite(32);
    accept(a, 0, 20);
    accept(b, 0, 12);
    draw(a, 1_000, 20);
    draw(b, 1_000, 12);
    expect(recorder.orderingViolations).toEqual([]);
    // The platform raises b to 16 before a has accepted its decrease to 16.
    accept(b, 10_000, 16);
    draw(b, 12_000, 16);
    accept(a, 20_000, 16);
    draw(a, 22_000, 16);
    recorder.finish(30_000);
    expect(recorder.orderingViolations.map((v) => [v.charger, v.phase, v.sum])).toEqual([
      ['b', 'L1', 36],
      ['b', 'L2', 36],
      ['b', 'L3', 36],
    ]);
    const m = computeMetrics(recorder, { scenario: 'unit', durationS: 30, compression: 1 });
    // 4 A over the fuse from 12 s (b draws 16) to 22 s (a draws 16): 40 A*s per phase, all the platform's.
    expect(m.overshoot.platformAs).toBeCloseTo(120, 6);
    expect(m.overshoot.transientAs).toBeCloseTo(0, 6);
    expect(m.pass.find((p) => p.name.startsWith('ordering'))?.pass).toBe(false);
  });

  it('judges a raise against a rise the energy manager reported and the platform has not answered yet (it may act on it), not beyond', async () => {
    const scenario = parseScenario({
      name: 'unit',
      durationS: 600,
      installations: [
        {
          id: 'u',
          fuse: { L1: 32, L2: 32, L3: 32 },
          baseLoad: { L1: 12, L2: 12, L3: 12 },
          energyManager: { enabled: true, intervalS: 10, deadbandA: 1 },
          chargers: [{ id: 'a', phases: 3, maxCurrent: 32 }],
          events: [{ atS: 5, type: 'baseLoad', set: { L1: 6, L2: 6, L3: 6 } }],
        },
      ],
    });
    const answers: (() => void)[] = [];
    const recorder = new Recorder({ reclaimThresholdA: 3, reclaimHeadroomA: 2, graceMs: 1_000 });
    const scheduler = new Scheduler(new SimClock(1));
    const site = new Site(scenario.installations[0]!, {
      scheduler,
      api: { putAvailableCurrent: () => new Promise<void>((resolve) => answers.push(resolve)), patchFuse: async () => undefined },
      listener: recorder,
      rnd: new Random(1),
      initialPassword: 'unit-password',
      charger: { ocppBaseUrl: 'ws://127.0.0.1:1/ocpp', meterIntervalMs: 10_000, voltage: 230, callTimeoutRealMs: 1_000, log: () => undefined },
      log: () => undefined,
    });
    const a = site.chargers[0]!;
    a.car = new Car({ charger: 'a', arriveS: 0, phases: 3, maxA: 32, batteryKWh: 60, socStart: 0.2, socTarget: 1, taperFromSoc: 0.8, responseDelayS: 1, idTag: 'T' }, 3, new Random(2));
    recorder.begin(0, [site]);
    site.start(0);
    const accept = (t: number, limit: number): void => {
      const before = a.commandedA;
      a.commandedA = limit;
      recorder.commandedChanged(a, t, before, limit, true);
    };
    const answered = async (): Promise<void> => {
      answers.shift()!();
      await new Promise((r) => setImmediate(r));
    };
    // First report: 20 A (32 - 12), answered.
    scheduler.advance(0);
    await answered();
    expect(site.knownLimit().L1).toBe(20);
    accept(1_000, 20);
    // The base load drops to 6 A; at 10 s the energy manager reports 26 A, not yet answered.
    scheduler.advance(10_000);
    expect(site.knownLimit().L1).toBe(20);
    expect(site.pendingLimit().L1).toBe(26);
    accept(10_000, 26);
    expect(recorder.orderingViolations).toEqual([]);
    accept(10_000, 28);
    expect(recorder.orderingViolations.map((v) => [v.phase, v.sum, v.known])).toEqual([
      ['L1', 28, 26],
      ['L2', 28, 26],
      ['L3', 28, 26],
    ]);
    await answered();
    expect(site.knownLimit().L1).toBe(26);
    expect(site.pendingLimit().L1).toBe(26);
    site.stop();
    scheduler.stop();
  });

  it('reports a car that lags a decrease as a transient, with the time it took to get under the fuse', () => {
    const { recorder, a, b, accept, draw } = aSite(32);
    accept(a, 0, 16);
    accept(b, 0, 16);
    draw(a, 1_000, 16);
    draw(b, 1_000, 16);
    // The fuse is fine, but a's car ignores its limit for 4 s (draws 20 while allowed 16).
    draw(a, 10_000, 20);
    draw(a, 14_000, 16);
    recorder.finish(20_000);
    const m = computeMetrics(recorder, { scenario: 'unit', durationS: 20, compression: 1 });
    expect(m.overshoot.platformAs).toBe(0);
    expect(m.overshoot.transientAs).toBeCloseTo(3 * 4 * 4, 6);
    expect(m.overshoot.longestTransientS).toBeCloseTo(4, 6);
    expect(m.orderingViolations).toBe(0);
  });

  it('counts offers between 0 and the minimum, pauses and profiles', () => {
    const { recorder, a, accept } = aSite(32);
    recorder.sessionChanged(a, 0, 'arrived');
    recorder.sessionChanged(a, 0, 'started');
    accept(a, 1_000, 10);
    accept(a, 2_000, 0);
    accept(a, 3_000, 4);
    recorder.profileReceived(a, 3_000, 4);
    recorder.finish(3_600_000);
    const m = computeMetrics(recorder, { scenario: 'unit', durationS: 3600, compression: 1 });
    expect(m.offersInGap).toBe(2);
    expect(m.pausesPerChargerHour).toBe(1);
    expect(m.profilesPerChargerHour.max).toBe(1);
  });

  it('judges fairness between steps of a car\'s own demand: a car drawing its own cap is not short-changed', () => {
    const { recorder, a, b, draw } = aSite(32);
    a.car = new Car({ ...a.car!.spec, capA: 10, capUntilS: 1_200 }, 3, new Random(2));
    for (const c of [a, b]) {
      recorder.sessionChanged(c, 0, 'arrived');
      recorder.sessionChanged(c, 0, 'started');
    }
    draw(a, 1_000, 10);
    draw(b, 1_000, 22);
    draw(a, 1_200_000, 16);
    draw(b, 1_200_000, 16);
    recorder.finish(2_400_000);
    const m = computeMetrics(recorder, { scenario: 'unit', durationS: 2400, compression: 1 });
    // Over the whole 40 minutes the capped car got 13 A against 19 A (Jain 0.966); it only competed for the last 20.
    expect(m.jain.epochs.map((e) => [e.fromS, e.toS, e.sessions.length])).toEqual([[1200, 2400, 2]]);
    expect(m.jain.weighted).toBe(1);
  });
});

describe('site wiring', () => {
  it('maps charger terminals to grid phases through phaseRotation, and 1-phase chargers to their grid phase', () => {
    const scenario = parseScenario({
      name: 'wiring',
      durationS: 60,
      installations: [
        {
          id: 'w',
          fuse: { L1: 63, L2: 63, L3: 63 },
          baseLoad: { L1: 1, L2: 2, L3: 3 },
          chargers: [
            { id: 'rot', phases: 3, phaseRotation: 'L2L3L1', maxCurrent: 32 },
            { id: 'two', phases: 3, phaseRotation: 'L3L1L2', maxCurrent: 32 },
            { id: 'one', phases: 1, gridPhase: 'L3', maxCurrent: 32 },
          ],
        },
      ],
    });
    const site = new Site(scenario.installations[0]!, {
      scheduler: new Scheduler(new SimClock(1)),
      api: { putAvailableCurrent: async () => undefined, patchFuse: async () => undefined },
      listener: new Recorder({ reclaimThresholdA: 3, reclaimHeadroomA: 2, graceMs: 1_000 }),
      rnd: new Random(1),
      initialPassword: 'unit-password',
      charger: { ocppBaseUrl: 'ws://127.0.0.1:1/ocpp', meterIntervalMs: 10_000, voltage: 230, callTimeoutRealMs: 1_000, log: () => undefined },
      log: () => undefined,
    });
    const [rot, two, one] = site.chargers as [SimCharger, SimCharger, SimCharger];
    const spec = { charger: 'rot', arriveS: 0, phases: 1 as const, maxA: 32, batteryKWh: 60, socStart: 0.2, socTarget: 1, taperFromSoc: 0.8, responseDelayS: 1, idTag: 'T' };
    rot.car = new Car(spec, 1, new Random(1));
    two.car = new Car({ ...spec, phases: 2 }, 2, new Random(1));
    one.car = new Car(spec, 1, new Random(1));
    rot.outlet.draw[0] = 10; // a 1-phase car on terminal 1 = L2
    two.outlet.draw[0] = two.outlet.draw[1] = 7; // terminals 1, 2 = L3, L1
    one.outlet.draw[0] = 5; // L3
    expect(rot.carPhases()).toEqual(['L2']);
    expect(two.carPhases()).toEqual(['L3', 'L1']);
    expect(site.gridCurrents()).toEqual({ L1: 1 + 7, L2: 2 + 10, L3: 3 + 7 + 5 });
  });
});
