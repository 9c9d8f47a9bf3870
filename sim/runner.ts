import type { CircuitMeters } from './circuit-meters.js';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../core/config.js';
import { balancerSettingsSchema } from '../core/schemas.js';
import { SimClock, Scheduler } from './clock.js';
import { computeMetrics, type ScenarioMetrics } from './metrics.js';
import { processUsage, startPlatform, type PlatformHandle } from './platform.js';
import { Random } from './random.js';
import { Recorder } from './recorder.js';
import type { InstallationSpec, Scenario } from './scenario.js';
import { Site } from './site.js';
import { phaseSwitchSettings } from './phase-switching.js';

/** Platform defaults in scenario time, before compression: read from the platform itself. */
const nodeDefaults = loadConfig({});
type NumericSetting = Exclude<keyof typeof balancerSettingsSchema.properties, 'failsafeCurrent' | 'fuseDedicatedToChargers'>;
const schemaDefault = (k: NumericSetting): number => balancerSettingsSchema.properties[k].default;
const DEFAULTS = {
  heartbeatIntervalS: nodeDefaults.heartbeatIntervalS,
  callTimeoutMs: nodeDefaults.callTimeoutMs,
  pingIntervalMs: nodeDefaults.pingIntervalMs,
  pendingIntervalS: nodeDefaults.pendingIntervalS,
  livenessGraceS: nodeDefaults.livenessGraceS,
  meterEventMaxAgeMs: nodeDefaults.meterEventMaxAgeMs,
  coalesceMs: nodeDefaults.balancer.coalesceMs,
  profileTimeoutMs: nodeDefaults.balancer.profileTimeoutMs,
  lateAfterMs: nodeDefaults.balancer.lateAfterMs,
  retryMs: nodeDefaults.balancer.retryMs,
  reclaimAfterMs: nodeDefaults.balancer.reclaimAfterMs,
  reclaimHeadroomA: nodeDefaults.balancer.reclaimHeadroomA,
  reclaimThresholdA: nodeDefaults.balancer.reclaimThresholdA,
  settleMs: schemaDefault('settleMs'),
  deadbandA: schemaDefault('deadbandA'),
  minChangeIntervalMs: schemaDefault('minChangeIntervalMs'),
  rotationIntervalMs: schemaDefault('rotationIntervalMs'),
  minRunMs: schemaDefault('minRunMs'),
  minPauseMs: schemaDefault('minPauseMs'),
  admissionWindowMs: schemaDefault('admissionWindowMs'),
  changesPerHour: schemaDefault('changesPerHour'),
  changeBurst: schemaDefault('changeBurst'),
  idleAfterMs: schemaDefault('idleAfterMs'),
  wakeProbeIntervalMs: schemaDefault('wakeProbeIntervalMs'),
  wakeProbeMs: schemaDefault('wakeProbeMs'),
};

/**
 * Floors (real ms) below which a compressed duration would measure the machine rather than the
 * platform: a call timeout shorter than a GC pause, a ping storm. Reported with the effective values.
 */
const REAL_FLOORS = { callTimeoutMs: 1_000, pingIntervalMs: 1_000, profileTimeoutMs: 100, lateAfterMs: 50, coalesceMs: 1, retryMs: 10 } as const;

export const INITIAL_PASSWORD = 'sim-initial-password';

export interface PlatformTiming {
  /** The env the platform got (real time). */
  env: Record<string, string>;
  /** Every platform duration as the scenario sees it (scenario ms after the floors). */
  effective: Record<string, number>;
}

/** Every platform duration of the scenario, compressed by `k`, as env for the node. */
export function platformEnv(s: Scenario, k: number): PlatformTiming {
  const knobs = { ...DEFAULTS, ...s.platform };
  const scale = (ms: number, floor = 0): number => Math.max(floor, Math.round(ms / k));
  const env: Record<string, string> = {
    HEARTBEAT_INTERVAL_S: String(Math.max(1, Math.round(knobs.heartbeatIntervalS / k))),
    OCPP_CALL_TIMEOUT_MS: String(scale(knobs.callTimeoutMs, REAL_FLOORS.callTimeoutMs)),
    OCPP_PING_INTERVAL_MS: String(scale(knobs.pingIntervalMs, REAL_FLOORS.pingIntervalMs)),
    BALANCER_COALESCE_MS: String(scale(knobs.coalesceMs, REAL_FLOORS.coalesceMs)),
    BALANCER_PROFILE_TIMEOUT_MS: String(scale(knobs.profileTimeoutMs, REAL_FLOORS.profileTimeoutMs)),
    BALANCER_LATE_AFTER_MS: String(scale(knobs.lateAfterMs, REAL_FLOORS.lateAfterMs)),
    BALANCER_RETRY_MS: String(scale(knobs.retryMs, REAL_FLOORS.retryMs)),
    BALANCER_RECLAIM_AFTER_MS: String(scale(knobs.reclaimAfterMs)),
    BALANCER_RECLAIM_HEADROOM_A: String(knobs.reclaimHeadroomA),
    BALANCER_RECLAIM_THRESHOLD_A: String(knobs.reclaimThresholdA),
    BOOT_PENDING_INTERVAL_S: String(Math.max(1, Math.round(knobs.pendingIntervalS / k))),
    LIVENESS_GRACE_S: String(Math.round(knobs.livenessGraceS / k)),
    METER_EVENT_MAX_AGE_MS: String(scale(knobs.meterEventMaxAgeMs)),
    METER_EVENT_OVER_LIMIT_REPEAT_MS: String(scale(nodeDefaults.meterEventOverLimitRepeatMs)),
    OCPP_LOG: 'off',
  };
  const effective: Record<string, number> = {
    heartbeatIntervalS: Number(env.HEARTBEAT_INTERVAL_S) * k,
    callTimeoutMs: Number(env.OCPP_CALL_TIMEOUT_MS) * k,
    pingIntervalMs: Number(env.OCPP_PING_INTERVAL_MS) * k,
    coalesceMs: Number(env.BALANCER_COALESCE_MS) * k,
    profileTimeoutMs: Number(env.BALANCER_PROFILE_TIMEOUT_MS) * k,
    lateAfterMs: Number(env.BALANCER_LATE_AFTER_MS) * k,
    retryMs: Number(env.BALANCER_RETRY_MS) * k,
    reclaimAfterMs: Number(env.BALANCER_RECLAIM_AFTER_MS) * k,
    meterEventMaxAgeMs: Number(env.METER_EVENT_MAX_AGE_MS) * k,
    meterEventOverLimitRepeatMs: Number(env.METER_EVENT_OVER_LIMIT_REPEAT_MS) * k,
  };
  return { env, effective };
}

/** The installation's balancer settings for the API, compressed. */
export function balancerSettings(spec: InstallationSpec, k: number): Record<string, unknown> {
  const b = { ...DEFAULTS, ...spec.balancer };
  return {
    ...(spec.balancer?.failsafeCurrent ? { failsafeCurrent: spec.balancer.failsafeCurrent } : {}),
    ...(spec.balancer?.fuseDedicatedToChargers !== undefined ? { fuseDedicatedToChargers: spec.balancer.fuseDedicatedToChargers } : {}),
    safetyMarginA: spec.safetyMarginA ?? 0,
    deadbandA: b.deadbandA,
    settleMs: Math.round(b.settleMs / k),
    minChangeIntervalMs: Math.round(b.minChangeIntervalMs / k),
    rotationIntervalMs: Math.round(b.rotationIntervalMs / k),
    minRunMs: Math.round(b.minRunMs / k),
    minPauseMs: Math.round(b.minPauseMs / k),
    admissionWindowMs: Math.round(b.admissionWindowMs / k),
    // A rate: compressed time makes it faster.
    changesPerHour: b.changesPerHour * k,
    changeBurst: b.changeBurst,
    idleAfterMs: Math.round(b.idleAfterMs / k),
    wakeProbeIntervalMs: Math.round(b.wakeProbeIntervalMs / k),
    wakeProbeMs: Math.round(b.wakeProbeMs / k),
    ...phaseSwitchSettings(spec.balancer, k),
  };
}

/** Default compression: the scenario runs in about a minute of real time (at most 240x). */
export function defaultCompression(s: Scenario): number {
  return s.compression ?? Math.max(1, Math.min(240, Math.round(s.durationS / 60)));
}

export interface RunOptions {
  compression?: number;
  mode?: 'in-process' | 'child';
  /** Use this platform instead of starting one (its env must match `platformEnv`). */
  platform?: PlatformHandle;
  /** Prefix for installation and charger ids, so several runs can share one platform. */
  idPrefix?: string;
  platformLogFile?: string;
  onProgress?: (p: Progress) => void;
  log?: (line: string) => void;
  /** Seconds between samples of the balancer's own view (scenario time). */
  allocationSampleS?: number;
  /** Charger connections opened in parallel during setup. */
  connectBatch?: number;
}

export interface Progress {
  phase: 'setup' | 'running' | 'done';
  simS: number;
  totalS: number;
  realS: number;
  detail?: string;
}

export interface RunResult {
  scenario: Scenario;
  metrics: ScenarioMetrics;
  recorder: Recorder;
  /** Per installation with circuits: its boards, their meters and recorded currents (sim/circuit-meters.ts). */
  circuits?: ReadonlyMap<string, CircuitMeters>;
  timing: PlatformTiming;
  run: {
    compression: number;
    setupRealS: number;
    runRealS: number;
    schedulerLagMaxMs: number;
    schedulerLagP99Ms: number;
    simulatorCpuS: number;
    platform?: { mode: string; cpuS: number; cpuPct: number; rssMiB: number; peakRssMiB: number; natsCpuS?: number; natsRssMiB?: number; samples: { realS: number; cpuPct: number; rssMiB: number }[] };
  };
  logs: string[];
}

function withPrefix(s: Scenario, prefix: string): Scenario {
  if (!prefix) return s;
  const id = (x: string): string => `${prefix}${x}`;
  return {
    ...s,
    installations: s.installations.map((inst) => ({
      ...inst,
      id: id(inst.id),
      chargers: inst.chargers.map((c) => ({ ...c, id: id(c.id) })),
      cars: inst.cars.map((c) => ({ ...c, charger: id(c.charger) })),
      events: inst.events.map((e) => ('charger' in e ? { ...e, charger: id(e.charger) } : e)),
    })),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A scenario set up against a platform: installations created, chargers connected and provisioned. */
export interface PreparedScenario {
  readonly scenario: Scenario;
  /** Runs the scenario from time 0 to its end and returns its metrics. */
  run(): Promise<RunResult>;
  /** Disconnects the chargers and stops the platform when this run started it. */
  dispose(): Promise<void>;
}

/** Runs a scenario against a platform node and returns its metrics. */
export async function runScenario(input: Scenario, opts: RunOptions = {}): Promise<RunResult> {
  const prepared = await prepareScenario(input, opts);
  try {
    return await prepared.run();
  } finally {
    await prepared.dispose();
  }
}

/**
 * Sets a scenario up: starts a platform (unless one is given), creates the installations and
 * chargers through the API, connects every simulated charger and waits until each is registered,
 * provisioned with its own password and holding the platform's first limit. Several scenarios can
 * be prepared first and then run together, so no run overlaps another's connection storm.
 */
/** Charger settings a scenario may set, passed to the platform's API as they are. */
const OPTIONAL_CHARGER_SETTINGS = ['minCurrent', 'priority', 'profilePurpose', 'offlineCurrent', 'circuitId', 'phaseSwitching', 'resendProfileOnTransaction'] as const;

export async function prepareScenario(input: Scenario, opts: RunOptions = {}): Promise<PreparedScenario> {
  const scenario = withPrefix(input, opts.idPrefix ?? '');
  const k = opts.compression ?? defaultCompression(scenario);
  const timing = platformEnv(scenario, k);
  const logs: string[] = [];
  const log = (line: string): void => {
    if (logs.length < 5_000) logs.push(line);
    opts.log?.(line);
  };
  const realStart = performance.now();
  const progress = (p: Omit<Progress, 'realS' | 'totalS'>): void => opts.onProgress?.({ ...p, totalS: scenario.durationS, realS: (performance.now() - realStart) / 1000 });
  progress({ phase: 'setup', simS: 0, detail: 'starting the platform' });
  const platform = opts.platform ?? (await startPlatform({ mode: opts.mode ?? 'in-process', env: timing.env, ...(opts.platformLogFile ? { logFile: opts.platformLogFile } : {}) }));
  const clock = new SimClock(k);
  const scheduler = new Scheduler(clock);
  const knobs = { ...DEFAULTS, ...scenario.platform };
  const recorder = new Recorder({
    reclaimThresholdA: knobs.reclaimThresholdA,
    reclaimHeadroomA: knobs.reclaimHeadroomA,
    // A SetChargingProfile decided just before the platform learnt of a lower limit may still be on the wire.
    graceMs: Math.max(1_000, clock.toSim(150)),
  });
  const rnd = new Random(scenario.seed);
  const sites: Site[] = [];
  const dispose = async (): Promise<void> => {
    scheduler.stop();
    for (const s of sites) s.stop();
    if (!opts.platform) await platform.stop();
  };
  try {
    progress({ phase: 'setup', simS: 0, detail: 'creating installations and chargers' });
    for (const inst of scenario.installations) {
      await platform.api.createInstallation({ id: inst.id, name: `Simulated ${inst.id}`, fuse: inst.fuse, chargerPassword: INITIAL_PASSWORD, balancer: balancerSettings(inst, k) });
      for (const c of inst.circuits ?? []) {
        // A meter's silence is judged on the platform's clock: its maxAgeS in real seconds (at least 1).
        const meter = c.meter ? { maxAgeS: Math.max(1, Math.round(c.meter.maxAgeS / k)), ...(c.meter.failsafeCurrent ? { failsafeCurrent: c.meter.failsafeCurrent } : {}) } : undefined;
        await platform.api.request('PUT', `/installations/${inst.id}/circuits/${c.id}`, { name: c.id, limits: c.limits, ...(c.parentId ? { parentId: c.parentId } : {}), ...(meter ? { meter } : {}) });
      }
      for (const c of inst.chargers) {
        await platform.api.putCharger(inst.id, c.id, {
          phases: c.phases,
          ...(c.phases === 3 ? { phaseRotation: c.phaseRotation ?? 'L1L2L3' } : { gridPhase: c.gridPhase ?? 'L1' }),
          maxCurrent: c.maxCurrent,
          ...Object.fromEntries(OPTIONAL_CHARGER_SETTINGS.filter((key) => c[key] !== undefined).map((key) => [key, c[key]])),
        });
      }
    }
    for (const inst of scenario.installations) {
      const until = performance.now() + 20_000;
      while (!(await platform.api.balancerStatus(inst.id, 500))) {
        if (performance.now() > until) throw new Error(`no balancer for ${inst.id}`);
        await sleep(50);
      }
    }
    for (const inst of scenario.installations) {
      sites.push(
        new Site(inst, {
          scheduler,
          api: platform.api,
          listener: recorder,
          rnd,
          initialPassword: INITIAL_PASSWORD,
          compression: k,
          meters: platform.api,
          charger: {
            ocppBaseUrl: platform.ocppBaseUrl,
            meterIntervalMs: scenario.meterIntervalS * 1000,
            voltage: scenario.voltage,
            callTimeoutRealMs: 15_000,
            log: (id, m) => log(`${id}: ${m}`),
          },
          log,
        }),
      );
    }
    // The clock runs during setup too, so chargers' timers (heartbeats, a late answer) work.
    clock.start();
    scheduler.start();
    const all = sites.flatMap((s) => s.chargers);
    const batch = opts.connectBatch ?? 50;
    for (let i = 0; i < all.length; i += batch) {
      progress({ phase: 'setup', simS: 0, detail: `connecting chargers ${i}/${all.length}` });
      await Promise.all(all.slice(i, i + batch).map((c) => c.connect(true).catch((e: unknown) => log(`${c.id}: connect failed: ${String(e)}`))));
    }
    // Registered, provisioned (own password) and holding the platform's first limit.
    const until = performance.now() + 30_000;
    while (all.some((c) => c.registration !== 'Accepted' || c.commandedA === c.spec.maxCurrent)) {
      if (performance.now() > until) {
        log(`setup: ${all.filter((c) => c.registration !== 'Accepted').length} chargers not registered, ${all.filter((c) => c.commandedA === c.spec.maxCurrent).length} without a first profile`);
        break;
      }
      await sleep(20);
    }
    // The energy managers report before the run, as on a real site where the meter runs before the
    // first car arrives: the measured window starts with the platform knowing each site's limit.
    // (Reported at time 0 instead, every raise for the cars plugged in at time 0 raced the reports of
    // 200 sites, and the load run counted the raises that won as ordering violations.)
    progress({ phase: 'setup', simS: 0, detail: 'first energy-manager reports' });
    await Promise.all(sites.map((s) => s.reportFirst(clock.now())));
  } catch (err) {
    await dispose();
    throw err;
  }
  const setupRealS = (performance.now() - realStart) / 1000;

  const run = async (): Promise<RunResult> => {
    const usageStart = platform.pid ? processUsage(platform.pid) : undefined;
    const natsStart = platform.natsPid ? processUsage(platform.natsPid) : undefined;
    const simCpuStart = process.cpuUsage();
    const runStart = performance.now();
    const samples: { realS: number; cpuPct: number; rssMiB: number }[] = [];
    let lastUsage = usageStart;
    let lastSampleAt = runStart;
    scheduler.advance();
    const t0 = Math.max(scheduler.time, clock.now());
    recorder.begin(t0, sites);
    for (const s of sites) s.start(t0);
    const sampleMs = (opts.allocationSampleS ?? Math.max(5, Math.min(60, scenario.durationS / 400))) * 1000;
    const sampleAllocations = (t: number): void => {
      void Promise.all(
        sites.map(async (s) => {
          const st = await platform.api.balancerStatus(s.id);
          if (st) scheduler.external((tt) => recorder.allocationSample(s.id, tt, st.allocated));
        }),
      );
      scheduler.at(t + sampleMs, sampleAllocations);
    };
    scheduler.at(t0, sampleAllocations);
    const ticker = setInterval(() => {
      progress({ phase: 'running', simS: Math.min(scenario.durationS, (clock.now() - t0) / 1000) });
      if (!platform.pid) return;
      const u = processUsage(platform.pid);
      const now = performance.now();
      if (u && lastUsage && now - lastSampleAt >= 1_000) {
        samples.push({ realS: round((now - runStart) / 1000), cpuPct: round((100 * (u.cpuS - lastUsage.cpuS)) / ((now - lastSampleAt) / 1000)), rssMiB: Math.round(u.rssMiB) });
        lastUsage = u;
        lastSampleAt = now;
      }
    }, 250);
    await new Promise<void>((resolve) => scheduler.at(t0 + scenario.durationS * 1000, () => resolve()));
    clearInterval(ticker);
    recorder.finish(scenario.durationS * 1000);
    const runRealS = (performance.now() - runStart) / 1000;
    const simCpu = process.cpuUsage(simCpuStart);
    const usageEnd = platform.pid ? processUsage(platform.pid) : undefined;
    const natsEnd = platform.natsPid ? processUsage(platform.natsPid) : undefined;
    scheduler.stop();
    for (const s of sites) s.stop();
    progress({ phase: 'done', simS: scenario.durationS });
    const changeBurst = Math.max(...scenario.installations.map((i) => i.balancer?.changeBurst ?? DEFAULTS.changeBurst));
    const metrics = computeMetrics(recorder, { scenario: scenario.name, durationS: scenario.durationS, compression: k, changeBurst });
    const circuitMeters = new Map(sites.flatMap((s) => (s.circuits ? [[s.id, s.circuits] as const] : [])));
    return {
      scenario,
      metrics,
      recorder,
      ...(circuitMeters.size > 0 ? { circuits: circuitMeters } : {}),
      timing,
      run: {
        compression: k,
        setupRealS: round(setupRealS),
        runRealS: round(runRealS),
        schedulerLagMaxMs: round(scheduler.maxLagRealMs),
        schedulerLagP99Ms: round(scheduler.lagPercentile(0.99)),
        simulatorCpuS: round((simCpu.user + simCpu.system) / 1e6),
        ...(usageStart && usageEnd
          ? {
              platform: {
                mode: platform.mode,
                cpuS: round(usageEnd.cpuS - usageStart.cpuS),
                cpuPct: round((100 * (usageEnd.cpuS - usageStart.cpuS)) / runRealS),
                rssMiB: round(usageEnd.rssMiB),
                peakRssMiB: round(usageEnd.hwmMiB),
                ...(natsStart && natsEnd ? { natsCpuS: round(natsEnd.cpuS - natsStart.cpuS), natsRssMiB: round(natsEnd.rssMiB) } : {}),
                samples,
              },
            }
          : {}),
      },
      logs,
    };
  };
  return { scenario, run, dispose };
}

const round = (v: number): number => Math.round(v * 100) / 100;
