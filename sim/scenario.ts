import { readFileSync, existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { BalancerSettings, OfflineCurrent, Phase, PhaseCurrents, PhaseRotation, ProfilePurpose } from '../core/model.js';
import { PHASES } from '../core/model.js';
import { validateWith } from '../core/validate.js';
import { Random, seedOf } from './random.js';
import { scenarioSchema } from './scenario-schema.js';

/**
 * A scenario as data (JSON in `scenarios/`): installations with their fuse, chargers and wiring,
 * the cars that arrive and leave, the non-charger base load, and events. Every time is in scenario
 * seconds (S) or milliseconds (Ms); the runner compresses them all by one factor.
 */
export interface Scenario {
  name: string;
  description: string;
  durationS: number;
  seed: number;
  /** Compression for `npm run sim` when none is given; default: the duration runs in about a minute. */
  compression?: number;
  meterIntervalS: number;
  voltage: number;
  /** Platform knobs in scenario time; anything not given keeps the platform's default. */
  platform: PlatformKnobs;
  installations: InstallationSpec[];
  /** Expands into installations (the load scenario). */
  generate?: GenerateSpec;
}

export interface PlatformKnobs {
  heartbeatIntervalS?: number;
  callTimeoutMs?: number;
  pingIntervalMs?: number;
  coalesceMs?: number;
  profileTimeoutMs?: number;
  lateAfterMs?: number;
  retryMs?: number;
  reclaimAfterMs?: number;
  reclaimHeadroomA?: number;
  reclaimThresholdA?: number;
}

export interface InstallationSpec {
  id: string;
  fuse: PhaseCurrents;
  safetyMarginA?: number;
  /** Balancer settings in scenario ms; unset ones keep the platform's defaults. */
  balancer?: Partial<Omit<BalancerSettings, 'safetyMarginA'>>;
  baseLoad: BaseLoadSpec;
  /**
   * The site's energy manager: measures the non-charger load and reports the available current.
   * With `ttlS` its reports expire after that long (scenario s) and it repeats them at least every
   * third of it; without, they live a day.
   */
  energyManager: { enabled: boolean; intervalS: number; deadbandA: number; ttlS?: number };
  chargers: ChargerSpec[];
  cars: CarSpec[];
  events: EventSpec[];
  /** Circuits below the fuse (sub-distribution boards), parents first; see sim/circuit-meters.ts. */
  circuits?: CircuitSpec[];
}

/** A sub-distribution board: its fuse, the non-charger load on it, and the grid meter that measures it. */
export interface CircuitSpec {
  id: string;
  parentId?: string;
  limits: Partial<PhaseCurrents>;
  baseLoad?: BaseLoadSpec;
  /** Reports everything on the circuit every `intervalS` on the platform's meter subject; `maxAgeS` as configured on the platform. */
  meter?: { intervalS: number; maxAgeS: number; failsafeCurrent?: PhaseCurrents };
}

export interface BaseLoadSpec {
  L1: number;
  L2: number;
  L3: number;
  /** Square wave: `amplitudeA` added on `phases` for `periodS`, then removed for `periodS`, from `fromS`. */
  swing?: { phases: Phase[]; amplitudeA: number; periodS: number; fromS: number };
  /** Uniform jitter in [-A, +A] per phase, redrawn every `intervalS`. */
  noise?: { amplitudeA: number; intervalS: number };
}

export interface ChargerBehaviour {
  /** After a resume from 0 A, keeps the resume limit and ignores later profiles (still answers Accepted). */
  ignoresProfileAfterResume?: boolean;
  /** Applies a SetChargingProfile and answers only this many seconds later. */
  acceptLateS?: number;
  /** Loses its profiles on a reboot and charges at its maximum until it gets a new one. */
  rebootLosesProfiles?: boolean;
  /** At the start of a session draws its maximum until a profile arrives during the session. */
  fullCurrentBeforeProfile?: boolean;
}

export interface ChargerSpec {
  id: string;
  phases: 1 | 3;
  phaseRotation?: PhaseRotation;
  gridPhase?: Phase;
  maxCurrent: number;
  minCurrent?: number;
  priority?: number;
  profilePurpose?: ProfilePurpose;
  /** The platform's `offlineCurrent` setting for this charger (what it does offline or after a reboot). */
  offlineCurrent?: OfflineCurrent;
  /** The platform's `resendProfileOnTransaction` setting for this charger. */
  resendProfileOnTransaction?: boolean;
  /** The circuit it is wired to (`InstallationSpec.circuits`); absent: the installation's fuse. */
  circuitId?: string;
  /** The platform's `phaseSwitching` setting: the charger may be told to charge on one phase. */
  phaseSwitching?: boolean;
  behaviour: ChargerBehaviour;
}

export interface CarSpec {
  charger: string;
  arriveS: number;
  /** Unplugs then (or at the end of the scenario). */
  departS?: number;
  phases: 1 | 2 | 3;
  maxA: number;
  batteryKWh: number;
  socStart: number;
  socTarget: number;
  /** Above this state of charge the current tapers linearly to 10 % of the maximum at 100 %. */
  taperFromSoc: number;
  /** Delay between a new pilot limit and the car's current following it; a range draws per car. */
  responseDelayS: number | [number, number];
  /** A car that sleeps when offered current: draws nothing until then. */
  sleepUntilS?: number;
  /** A car that draws less than offered: at most `capA` until `capUntilS`. */
  capA?: number;
  capUntilS?: number;
  idTag: string;
}

export type EventSpec =
  | { atS: number; type: 'fuse'; fuse: PhaseCurrents }
  | { atS: number; type: 'baseLoad'; set?: Partial<PhaseCurrents>; add?: Partial<PhaseCurrents> }
  | { atS: number; type: 'offline'; charger: string; durationS: number }
  | { atS: number; type: 'reboot'; charger: string; durationS: number }
  /** The energy manager stops reporting for `durationS`: its last report expires (`energyManager.ttlS`). */
  | { atS: number; type: 'energyManagerSilent'; durationS: number }
  /** A circuit's grid meter stops reporting for `durationS`. */
  | { atS: number; type: 'meterSilent'; circuit: string; durationS: number };

/** Cars arriving at random over many installations (the load scenario). */
export interface GenerateSpec {
  installations: number;
  chargersPerInstallation: number;
  fuseA: number;
  /** Fraction of chargers that are 1-phase (spread over the grid phases). */
  onePhaseShare: number;
  /** Expected car arrivals per charger per hour (Poisson), each staying a uniform time in range. */
  arrivalsPerChargerHour: number;
  stayS: [number, number];
  baseLoadA: [number, number];
  baseNoiseA: number;
  /** Fraction of the chargers occupied at time 0. */
  initialOccupancy: number;
}

/** Validates a parsed scenario (defaults filled in), expands `generate`, and checks references. */
export function parseScenario(raw: unknown): Scenario {
  const s = validateWith<Scenario>(scenarioSchema, raw);
  if (s.generate) s.installations = [...s.installations, ...generateInstallations(s.generate, s.seed, s.durationS)];
  const chargerIds = new Set<string>();
  const installationIds = new Set<string>();
  for (const inst of s.installations) {
    if (installationIds.has(inst.id)) throw new Error(`scenario: duplicate installation id ${inst.id}`);
    installationIds.add(inst.id);
    for (const c of inst.chargers) {
      if (chargerIds.has(c.id)) throw new Error(`scenario: duplicate charger id ${c.id}`);
      chargerIds.add(c.id);
    }
    const own = new Set(inst.chargers.map((c) => c.id));
    for (const car of inst.cars) if (!own.has(car.charger)) throw new Error(`scenario: car at unknown charger ${car.charger} in ${inst.id}`);
    for (const e of inst.events) {
      if ((e.type === 'offline' || e.type === 'reboot') && !own.has(e.charger)) throw new Error(`scenario: event for unknown charger ${e.charger} in ${inst.id}`);
      if (e.type === 'fuse' && !e.fuse) throw new Error(`scenario: fuse event without fuse in ${inst.id}`);
      if (e.type === 'meterSilent' && !inst.circuits?.some((c) => c.id === e.circuit)) throw new Error(`scenario: meter event for unknown circuit ${e.circuit} in ${inst.id}`);
    }
  }
  if (s.installations.length === 0) throw new Error('scenario: no installations');
  return s;
}

/** `name` is a path, or the name of a file in `scenarios/` with or without `.json`. */
export function resolveScenarioPath(name: string, dir = resolve(process.cwd(), 'scenarios')): string {
  for (const candidate of [name, resolve(dir, name), resolve(dir, `${name}.json`)]) if (existsSync(candidate) && candidate.endsWith('.json')) return resolve(candidate);
  throw new Error(`scenario not found: ${name} (looked in ${dir})`);
}

export function loadScenario(name: string, dir?: string): Scenario & { file: string } {
  const file = resolveScenarioPath(name, dir);
  return { ...parseScenario(JSON.parse(readFileSync(file, 'utf8'))), file: basename(file, '.json') };
}

const ROTATIONS: readonly PhaseRotation[] = ['L1L2L3', 'L2L3L1', 'L3L1L2'];

/** The load scenario's installations: fixed seed, so every run sees the same cars. */
export function generateInstallations(g: GenerateSpec, seed: number, durationS: number): InstallationSpec[] {
  const rnd = new Random(seed ^ seedOf('generate'));
  const out: InstallationSpec[] = [];
  for (let i = 0; i < g.installations; i++) {
    const instId = `load-${String(i).padStart(3, '0')}`;
    const chargers: ChargerSpec[] = [];
    const cars: CarSpec[] = [];
    for (let j = 0; j < g.chargersPerInstallation; j++) {
      const chargerId = `${instId}-c${j}`;
      const onePhase = rnd.next() < g.onePhaseShare;
      chargers.push(
        onePhase
          ? { id: chargerId, phases: 1, gridPhase: PHASES[j % 3]!, maxCurrent: 32, behaviour: {} }
          : { id: chargerId, phases: 3, phaseRotation: ROTATIONS[j % 3]!, maxCurrent: 32, behaviour: {} },
      );
      // Poisson arrivals; a charger holds one car at a time.
      let t = rnd.next() < g.initialOccupancy ? 0 : -Math.log(1 - rnd.next()) * (3600 / Math.max(1e-9, g.arrivalsPerChargerHour));
      while (t < durationS) {
        const stay = rnd.between(g.stayS[0], g.stayS[1]);
        const carPhases = onePhase ? 1 : rnd.pick([1, 3, 3, 3, 2] as const);
        cars.push({
          charger: chargerId,
          arriveS: Math.round(t),
          departS: Math.round(t + stay),
          phases: carPhases,
          maxA: rnd.pick([16, 16, 32, 32, 32]),
          batteryKWh: rnd.pick([40, 60, 77, 100]),
          socStart: rnd.between(0.1, 0.7),
          socTarget: 1,
          taperFromSoc: 0.8,
          responseDelayS: [1, 4],
          idTag: 'LOAD-TAG',
          ...(rnd.next() < 0.1 ? { capA: rnd.between(6, 12) } : {}),
        });
        t += stay + 30 - Math.log(1 - rnd.next()) * (3600 / Math.max(1e-9, g.arrivalsPerChargerHour));
      }
    }
    const base = (): number => Math.round(rnd.between(g.baseLoadA[0], g.baseLoadA[1]));
    out.push({
      id: instId,
      fuse: { L1: g.fuseA, L2: g.fuseA, L3: g.fuseA },
      baseLoad: { L1: base(), L2: base(), L3: base(), ...(g.baseNoiseA > 0 ? { noise: { amplitudeA: g.baseNoiseA, intervalS: 30 } } : {}) },
      energyManager: { enabled: true, intervalS: 2, deadbandA: 1 },
      chargers,
      cars,
      events: [],
    });
  }
  return out;
}
