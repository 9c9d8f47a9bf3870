import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type PlatformHandle } from '../../sim/platform.js';
import { integrateSeries, PASS_LINES } from '../../sim/metrics.js';
import { writeReport } from '../../sim/report.js';
import { platformEnv, prepareScenario, type PreparedScenario, type RunResult } from '../../sim/runner.js';
import { loadScenario, type Scenario } from '../../sim/scenario.js';

/**
 * Issue 6's eight scenarios (and X1, a regression the load scenario found; S9-S11, issue 11's faults), compressed, against
 * platform nodes in this process, each judged by the pass lines. S1 and S2 (2 h, rotation) share a node at 60x; S3-S8 (1 h, fast transients) share
 * another at 30x (with X1), where the 10 s transient window is ~330 ms of real time: enough margin for a
 * shared 2-core machine, where 60x made the timing-dependent lines flaky. Every scenario is
 * prepared first (chargers connected and provisioned) and then all run together: about 2 minutes.
 * Reports go to reports/sim-tests/<scenario>/index.html.
 */
const GROUPS: { compression: number; files: string[]; after?: boolean }[] = [
  { compression: 60, files: ['s1-rotation-maze', 's2-too-many-cars'] },
  {
    compression: 30,
    files: [
      's3-under-drawing-cars',
      's4-load-step',
      's5-communication-loss',
      's6-swinging-base-load',
      's7-lopsided-phases',
      's8-misbehaving-chargers',
      'x1-phases-change-between-sessions',
    ],
  },
  // Issue 11's faults run once the others are done, on the 30x node, so they add no load to the
  // timing-dependent lines of S3-S8 (about a minute and a half more).
  { compression: 30, files: ['s9-charger-drop-off', 's10-reboot-loses-profile', 's11-silent-energy-manager', 's12-metered-board'], after: true },
];

/**
 * Scenarios judged by lines of their own: S12's binding limit is a sub-board, so the installation-wide
 * utilisation and fairness lines (which measure against the main fuse) do not apply; the others do.
 */
const OWN_LINES: Record<string, readonly string[]> = {
  's12-metered-board': ['utilisation', "Jain's fairness where sessions overlap"],
};

const platforms: PlatformHandle[] = [];
const prepared: PreparedScenario[] = [];
const results = new Map<string, RunResult>();

function result(file: string): RunResult {
  const r = results.get(file);
  if (!r) throw new Error(`${file} did not run`);
  return r;
}

/** Failed pass lines as readable strings, so a failure names the line and the value. */
function failedLines(file: string): string[] {
  return result(file)
    .metrics.pass.filter((p) => !p.pass)
    .map((p) => `${p.name}: ${p.value} (must be ${p.limit})`);
}

const chargers = (file: string) => [...result(file).recorder.chargers.values()];

describe('simulation: balancing under load (issue 6)', () => {
  // Inside the describe, so a run filtered to S13 (`-t S13`) does not start these scenarios.
  beforeAll(async () => {
    const runs: { file: string; scenario: Scenario; compression: number; platform: PlatformHandle; after: boolean }[] = [];
    const byEnv = new Map<string, PlatformHandle>();
    for (const group of GROUPS) {
      const scenarios = group.files.map((f) => ({ file: f, scenario: loadScenario(f) }));
      const env = platformEnv(scenarios[0]!.scenario, group.compression).env;
      // One node serves the group, so its scenarios must want the same platform settings.
      for (const s of scenarios) expect(platformEnv(s.scenario, group.compression).env, s.file).toEqual(env);
      let platform = byEnv.get(JSON.stringify(env));
      if (!platform) {
        platform = await startPlatform({ mode: 'in-process', env });
        platforms.push(platform);
        byEnv.set(JSON.stringify(env), platform);
      }
      for (const s of scenarios) runs.push({ ...s, compression: group.compression, platform, after: group.after === true });
    }
    for (const wave of [runs.filter((r) => !r.after), runs.filter((r) => r.after)]) {
      const ready: PreparedScenario[] = [];
      for (const r of wave) ready.push(await prepareScenario(r.scenario, { compression: r.compression, platform: r.platform }));
      prepared.push(...ready);
      const done = await Promise.all(ready.map((p) => p.run()));
      wave.forEach((r, i) => {
        results.set(r.file, done[i]!);
        writeReport(done[i]!, join('reports', 'sim-tests', r.file));
      });
    }
  }, 500_000);

  afterAll(async () => {
    await Promise.all(prepared.map((p) => p.dispose()));
    // One after the other: two in-process nodes stopped concurrently have been seen to hang.
    for (const p of platforms) await p.stop();
  }, 60_000);

  for (const file of GROUPS.flatMap((g) => g.files)) {
    it(`${file} meets every pass line`, () => {
      const own = OWN_LINES[file] ?? [];
      expect(failedLines(file).filter((line) => !own.some((name) => line.startsWith(`${name}:`)))).toEqual([]);
      // Every line is judged: one per entry of PASS_LINES.
      expect(result(file).metrics.pass).toHaveLength(Object.keys(PASS_LINES).length);
    });
  }

  it('S1 rotates the three L2 sessions and keeps L1 and L3 shared', () => {
    const l2 = chargers('s1-rotation-maze').filter((c) => ['s1-l2a', 's1-l2b', 's1-rot'].includes(c.id));
    for (const c of l2) expect(c.resumes, c.id).toBeGreaterThanOrEqual(1);
    expect(result('s1-rotation-maze').metrics.timeToFirstEnergyS.neverCharged).toBe(0);
  });

  it('S2 serves all eight cars although only five minimums fit', () => {
    const m = result('s2-too-many-cars').metrics;
    expect(m.timeToFirstEnergyS.neverCharged).toBe(0);
    expect(m.longestQueueWaitS).toBeGreaterThan(60);
  });

  it('S3 sees under-drawing cars and reclaims their current', () => {
    expect(result('s3-under-drawing-cars').metrics.reclaim.episodes).toBeGreaterThanOrEqual(1);
  });

  it('S4 and S6 see the base load push a phase over the fuse (a transient, not the platform)', () => {
    for (const file of ['s4-load-step', 's6-swinging-base-load']) {
      const m = result(file).metrics;
      expect(m.overshoot.transientEpisodes, file).toBeGreaterThanOrEqual(1);
      expect(m.overshoot.platformAs, file).toBe(0);
    }
  });

  it('S5 keeps the silent charger counted: nothing is raised into its share while it is away', () => {
    const r = result('s5-communication-loss');
    const c2 = r.recorder.chargers.get('s5-c2')!;
    // s5-c3's car leaves at 20 min, while s5-lost is away (15-25 min).
    const raised = c2.profileLog.filter((p) => p.t > 900_000 && p.t < 1_500_000 && (p.limit ?? 0) > 0);
    expect(raised.length).toBeGreaterThanOrEqual(1);
    expect(r.metrics.orderingViolations).toBe(0);
  });

  it('S7 never offers a 3-phase car the 4 A left on L1', () => {
    for (const c of chargers('s7-lopsided-phases').filter((x) => ['s7-3a', 's7-3b', 's7-l1'].includes(x.id))) {
      expect(c.profileLog.every((p) => (p.limit ?? 0) === 0), c.id).toBe(true);
    }
  });

  it('S8 exercises every misbehaviour', () => {
    const r = result('s8-misbehaving-chargers');
    const byId = new Map(chargers('s8-misbehaving-chargers').map((c) => [c.id, c]));
    expect(byId.get('s8-ignores')!.pauses).toBeGreaterThanOrEqual(1);
    expect(byId.get('s8-ignores')!.resumes).toBeGreaterThanOrEqual(1);
    // After its reboot (25 min, 60 s) the charger gets its limit again.
    expect(byId.get('s8-reboot')!.profileLog.some((p) => p.t > 1_560_000 && p.t < 1_620_000)).toBe(true);
    // The charger that starts at full current pushes the phases over the fuse when its car arrives (15 min).
    expect(r.metrics.episodes.some((e) => e.startS >= 900 && e.startS < 930)).toBe(true);
  });

  /** Mean current (A) the given chargers drew together over [fromS, toS) of scenario time. */
  const meanDraw = (file: string, ids: string[], fromS: number, toS: number): number =>
    ids.reduce((sum, id) => sum + integrateSeries(result(file).recorder.chargers.get(id)!.draw, fromS * 1000, toS * 1000), 0) / ((toS - fromS) * 1000);

  it('S9 keeps the others charging while a paused and then a charging charger are offline (>= 90 % of what is left)', () => {
    // The paused charger (0 A) is away at 5-15 min: the three others keep the whole 20 A.
    expect(meanDraw('s9-charger-drop-off', ['s9-c1', 's9-c2', 's9-c3'], 360, 900)).toBeGreaterThanOrEqual(0.9 * 20);
    // s9-c1 (6.7 A, still drawing it) is away at 20-30 min: the other two keep what is left.
    const c1 = meanDraw('s9-charger-drop-off', ['s9-c1'], 1260, 1800);
    expect(c1).toBeGreaterThan(6);
    expect(meanDraw('s9-charger-drop-off', ['s9-c2', 's9-c3'], 1260, 1800)).toBeGreaterThanOrEqual(0.9 * (20 - c1));
  });

  it('S10 never exceeds the fuse when a charger that drops its profiles reboots (offlineCurrent: max)', () => {
    const m = result('s10-reboot-loses-profile').metrics;
    expect(m.episodes).toEqual([]);
    // It did come back at its maximum (16 A) before it had a profile: the others had made room.
    const draw = result('s10-reboot-loses-profile').recorder.chargers.get('s10-reboot')!.draw;
    expect(draw.v.some((v, i) => draw.t[i]! >= 660_000 && draw.t[i]! < 700_000 && v >= 15.9)).toBe(true);
  });

  it('S11 runs on the failsafe once the silent energy manager\'s report expires: never over the fuse after that', () => {
    const r = result('s11-silent-energy-manager');
    // Silent from 16 min; the report lives 60 s. Nothing above the fuse from then on.
    expect(r.metrics.episodes.filter((e) => e.startS >= 960)).toEqual([]);
    // The chargers stayed at the failsafe (18 A left during the peak), not at the bare fuse.
    expect(meanDraw('s11-silent-energy-manager', ['s11-c1', 's11-c2', 's11-c3'], 1080, 1440)).toBeLessThanOrEqual(18 + 1e-6);
    expect(meanDraw('s11-silent-energy-manager', ['s11-c1', 's11-c2', 's11-c3'], 1080, 1440)).toBeGreaterThanOrEqual(0.9 * 18);
    expect(r.metrics.utilisation).not.toBeNull();
  });

  it('S12 follows a metered sub-board: over its fuse only until the next reading, never on the failsafe, and its chargers use what the own load leaves', () => {
    const r = result('s12-metered-board');
    const board = r.circuits!.get('s12')!;
    const report = board.report(r.scenario.durationS * 1000).find((c) => c.circuitId === 'board')!;
    // The meter reported every 10 s except while silent (30-35 min).
    expect(report.readings).toBeGreaterThanOrEqual(200);
    // A swing of the board's own load puts it over its fuse until the next reading lowers the chargers.
    expect(report.excursions.length).toBeGreaterThanOrEqual(1);
    expect(Math.max(...report.excursions.map((e) => e.durationS))).toBeLessThanOrEqual(20);
    // Silent from 30 min: once its maxAgeS (60 s) passed, on the failsafe (18 A), never over the fuse.
    expect(report.excursions.filter((e) => e.startS >= 1860 && e.startS < 2100)).toEqual([]);
    const boardIds = ['s12-b1', 's12-b2', 's12-b3'];
    // From the failsafe's start plus the 10 s a transient may take (the general line): at 30x a
    // second of simulated time is 33 ms of real time, and one that late read 18.02 A over the window.
    expect(meanDraw('s12-metered-board', boardIds, 1870, 2100)).toBeLessThanOrEqual(18 + 1e-6);
    expect(meanDraw('s12-metered-board', boardIds, 1870, 2100)).toBeGreaterThanOrEqual(0.9 * 18);
    // While the meter speaks (10-30 min): the own load is 6 A, or 12 A half the time: 23 A left on
    // average. 98.9 % of it used in the runs seen since a one-reading step of the derived own load
    // (a charger's draw changed since its last sample) is no longer taken; 54-78 % before.
    expect(meanDraw('s12-metered-board', boardIds, 600, 1800)).toBeGreaterThanOrEqual(0.85 * 23);
    // The charger on the main fuse is not held by the board.
    expect(meanDraw('s12-metered-board', ['s12-m1'], 600, 1800)).toBeGreaterThanOrEqual(15.9);
  });
});

/**
 * Issue 12's 1/3-phase switching: S13 (3x20 A, six 3-phase cars, only three 3x6 A minimums fit) run
 * twice on one node at 60x, as written (every charger with `phaseSwitching`) and with switching off,
 * so the pass lines compare what switching buys against pausing. Its own platform, so `-t S13` runs
 * only this (about a minute and a half).
 */
describe('simulation: 1/3-phase switching (S13, issue 12)', () => {
  const FILE = 's13-phase-switching';
  const COMPRESSION = 60;
  const runs = new Map<'on' | 'off', RunResult>();
  const ready: PreparedScenario[] = [];
  let platform: PlatformHandle | undefined;
  // Judged from 10 min (every car has arrived by 5 min) to the end.
  const FROM_S = 600;

  beforeAll(async () => {
    const on = loadScenario(FILE);
    const off: Scenario = { ...on, installations: on.installations.map((i) => ({ ...i, chargers: i.chargers.map((c) => ({ ...c, phaseSwitching: false })) })) };
    platform = await startPlatform({ mode: 'in-process', env: platformEnv(on, COMPRESSION).env });
    ready.push(await prepareScenario(on, { compression: COMPRESSION, platform }), await prepareScenario(off, { compression: COMPRESSION, platform, idPrefix: 'off-' }));
    const [a, b] = await Promise.all(ready.map((p) => p.run()));
    runs.set('on', a!).set('off', b!);
    writeReport(a!, join('reports', 'sim-tests', FILE));
    writeReport(b!, join('reports', 'sim-tests', `${FILE}-off`));
    for (const [name, r] of runs) {
      const m = r.metrics;
      console.log(`S13 switching ${name}: cars charging (mean) ${carsCharging(r).toFixed(2)}, utilisation ${m.utilisation}, pauses per charger-hour ${m.pausesPerChargerHour} (all cars together ${totalPauses(r)}), switches per session ${JSON.stringify(switchesPerSession(r))}, ordering violations ${m.orderingViolations}, platform overshoot ${m.overshoot.platformAs} A·s, failed general lines ${JSON.stringify(m.pass.filter((p) => !p.pass).map((p) => `${p.name}=${p.value}`))}`);
    }
  }, 400_000);

  afterAll(async () => {
    await Promise.all(ready.map((p) => p.dispose()));
    await platform?.stop();
  }, 60_000);

  const run = (name: 'on' | 'off'): RunResult => {
    const r = runs.get(name);
    if (!r) throw new Error(`S13 (switching ${name}) did not run`);
    return r;
  };
  /** Time-weighted mean number of cars drawing (>= 1 A on a phase) from FROM_S to the end. */
  const carsCharging = (r: RunResult): number => {
    const toMs = r.scenario.durationS * 1000;
    const drawing = [...r.recorder.chargers.values()].reduce((sum, c) => sum + integrateSeries({ t: c.draw.t, v: c.draw.v.map((v) => (v >= 1 ? 1 : 0)) }, FROM_S * 1000, toMs), 0);
    return drawing / (toMs - FROM_S * 1000);
  };
  const switchesPerSession = (r: RunResult): number[] => [...r.recorder.chargers.values()].flatMap((c) => c.sessions.map((s) => s.phaseSwitches));
  /** Pauses of all six cars together (a running car told less than 6 A). */
  const totalPauses = (r: RunResult): number => [...r.recorder.chargers.values()].reduce((sum, c) => sum + c.pauses, 0);

  it('S13 with switching meets the general pass lines but fairness (a car on one phase and a car on three are not comparable per phase)', () => {
    const failed = run('on').metrics.pass.filter((p) => !p.pass && p.name !== "Jain's fairness where sessions overlap");
    expect(failed.map((p) => `${p.name}: ${p.value} (must be ${p.limit})`)).toEqual([]);
    expect(run('on').metrics.utilisation).toBeGreaterThanOrEqual(0.95);
    expect(run('on').metrics.overshoot.platformAs).toBe(0);
    expect(run('on').metrics.orderingViolations).toBe(0);
  });

  it('S13 keeps all six cars charging with switching, where pausing keeps three (and rotates them)', () => {
    expect(carsCharging(run('on'))).toBeGreaterThanOrEqual(5.5);
    expect(carsCharging(run('off'))).toBeLessThanOrEqual(3.5);
    expect(carsCharging(run('on'))).toBeGreaterThanOrEqual(carsCharging(run('off')) + 2);
    // Pauses of all cars together: without switching the three waiting cars rotate in (9 in every run
    // seen); with it 0 to 5 over six runs (a car held on three phases by its hold can lose its
    // minimum when the others take theirs on one phase first).
    expect(totalPauses(run('off'))).toBeGreaterThanOrEqual(8);
    expect(totalPauses(run('on'))).toBeLessThanOrEqual(6);
    expect(totalPauses(run('on'))).toBeLessThan(totalPauses(run('off')));
    expect(run('on').metrics.pausesPerChargerHour).toBeLessThanOrEqual(2);
  });

  it('S13 switches at most maxPhaseSwitches (5) times a session; chargers without the flag never switch', () => {
    const on = switchesPerSession(run('on'));
    expect(Math.max(...on)).toBeLessThanOrEqual(5);
    expect(on.filter((n) => n >= 1).length).toBeGreaterThanOrEqual(3);
    expect(switchesPerSession(run('off')).every((n) => n === 0)).toBe(true);
  });
});
