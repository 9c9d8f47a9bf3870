import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type PlatformHandle } from '../../sim/platform.js';
import { PASS_LINES } from '../../sim/metrics.js';
import { writeReport } from '../../sim/report.js';
import { platformEnv, prepareScenario, type PreparedScenario, type RunResult } from '../../sim/runner.js';
import { loadScenario, type Scenario } from '../../sim/scenario.js';

/**
 * Issue 6's eight scenarios (and X1, a regression the load scenario found), compressed, against
 * platform nodes in this process, each judged by the pass lines. S1 and S2 (2 h, rotation) share a node at 60x; S3-S8 (1 h, fast transients) share
 * another at 30x (with X1), where the 10 s transient window is ~330 ms of real time: enough margin for a
 * shared 2-core machine, where 60x made the timing-dependent lines flaky. Every scenario is
 * prepared first (chargers connected and provisioned) and then all run together: about 2 minutes.
 * Reports go to reports/sim-tests/<scenario>/index.html.
 */
const GROUPS = [
  { compression: 60, files: ['s1-rotation-maze', 's2-too-many-cars'] },
  {
    compression: 30,
    files: ['s3-under-drawing-cars', 's4-load-step', 's5-communication-loss', 's6-swinging-base-load', 's7-lopsided-phases', 's8-misbehaving-chargers', 'x1-phases-change-between-sessions'],
  },
];

const platforms: PlatformHandle[] = [];
const prepared: PreparedScenario[] = [];
const results = new Map<string, RunResult>();

beforeAll(async () => {
  const runs: { file: string; scenario: Scenario; compression: number; platform: PlatformHandle }[] = [];
  for (const group of GROUPS) {
    const scenarios = group.files.map((f) => ({ file: f, scenario: loadScenario(f) }));
    const env = platformEnv(scenarios[0]!.scenario, group.compression).env;
    // One node serves the group, so its scenarios must want the same platform settings.
    for (const s of scenarios) expect(platformEnv(s.scenario, group.compression).env, s.file).toEqual(env);
    const platform = await startPlatform({ mode: 'in-process', env });
    platforms.push(platform);
    for (const s of scenarios) runs.push({ ...s, compression: group.compression, platform });
  }
  for (const r of runs) prepared.push(await prepareScenario(r.scenario, { compression: r.compression, platform: r.platform }));
  const done = await Promise.all(prepared.map((p) => p.run()));
  runs.forEach((r, i) => {
    results.set(r.file, done[i]!);
    writeReport(done[i]!, join('reports', 'sim-tests', r.file));
  });
}, 400_000);

afterAll(async () => {
  await Promise.all(prepared.map((p) => p.dispose()));
  // One after the other: two in-process nodes stopped concurrently have been seen to hang.
  for (const p of platforms) await p.stop();
}, 60_000);

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
  for (const file of GROUPS.flatMap((g) => g.files)) {
    it(`${file} meets every pass line`, () => {
      expect(failedLines(file)).toEqual([]);
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
});
