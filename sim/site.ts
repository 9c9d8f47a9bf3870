import type { PhaseCurrents } from '../core/model.js';
import { PHASES } from '../core/model.js';
import type { Scheduler } from './clock.js';
import { SimCharger, type ChargerHost, type ChargerObserver } from './charger.js';
import { Car } from './ev.js';
import type { Random } from './random.js';
import { CircuitMeters, type MeterApi } from './circuit-meters.js';
import type { InstallationSpec } from './scenario.js';


/** What a site needs from the platform's API (an installer and an energy manager use it). */
export interface SiteApi {
  /** `ttlSeconds` in real seconds (the platform's clock); a day when not given. */
  putAvailableCurrent(installationId: string, available: PhaseCurrents, ttlSeconds?: number): Promise<void>;
  patchFuse(installationId: string, fuse: PhaseCurrents): Promise<void>;
}

export interface SiteListener extends ChargerObserver {
  /** The physics or what the platform knows changed at `t`. */
  siteChanged(site: Site, t: number): void;
}

export interface SiteHost {
  readonly scheduler: Scheduler;
  readonly api: SiteApi;
  readonly listener: SiteListener;
  readonly rnd: Random;
  readonly charger: Omit<ChargerHost, 'changed' | 'observer' | 'scheduler'>;
  readonly initialPassword: string;
  /** Scenario time per real time (default 1): converts the energy manager's report lifetime. */
  readonly compression?: number;
  /** Where the site's grid meters publish (needed when the installation has circuits with meters). */
  readonly meters?: MeterApi;
  log(message: string): void;
}

const HOUR_MS = 3_600_000;
/** Tries of one energy-manager report before it waits for the next measurement. */
const EM_PUT_ATTEMPTS = 3;

/**
 * One installation's physics: the grid connection with its fuse, the non-charger base load, the
 * chargers and their cars, and the site's energy manager, which measures the base load and reports
 * the current left for chargers to the platform (PUT available-current).
 */
export class Site {
  readonly id: string;
  readonly chargers: SimCharger[];
  /** The physical limit per phase (A). */
  readonly fuse: PhaseCurrents;
  /** The non-charger load per phase now (A). */
  readonly base: PhaseCurrents = { L1: 0, L2: 0, L3: 0 };
  /** What the platform was told: the fuse (installer) and the available current (energy manager). */
  readonly told: { fuse: PhaseCurrents; available: PhaseCurrents | undefined };
  readonly safetyMarginA: number;
  private readonly staticBase: PhaseCurrents;
  private swingOn = false;
  private readonly noise: PhaseCurrents = { L1: 0, L2: 0, L3: 0 };
  private reported: PhaseCurrents | undefined;
  /** The report in flight (sent, not yet answered). */
  private pending: PhaseCurrents | undefined;
  /** Scenario time of the energy manager's last report, and the reports of the last hour (failsafe). */
  private reportedAt = 0;
  private readonly reports: { t: number; v: PhaseCurrents }[] = [];
  private silentUntil = -Infinity;
  private stopped = false;
  /** The sub-distribution boards, their own loads and grid meters (absent without circuits). */
  readonly circuits: CircuitMeters | undefined;

  constructor(
    readonly spec: InstallationSpec,
    private readonly host: SiteHost,
  ) {
    this.id = spec.id;
    this.fuse = { ...spec.fuse };
    this.told = { fuse: { ...spec.fuse }, available: undefined };
    this.safetyMarginA = spec.safetyMarginA ?? 0;
    this.staticBase = { L1: spec.baseLoad.L1, L2: spec.baseLoad.L2, L3: spec.baseLoad.L3 };
    const chargerHost: ChargerHost = {
      ...host.charger,
      scheduler: host.scheduler,
      observer: host.listener,
      changed: (t) => this.changed(t),
    };
    this.chargers = spec.chargers.map((c) => new SimCharger(c, host.initialPassword, chargerHost));
    const noMeters: MeterApi = { publishMeterReading: () => host.log(`${spec.id}: no meter API, reading dropped`) };
    this.circuits = spec.circuits?.length
      ? new CircuitMeters(spec.id, spec.circuits, this.chargers, host.scheduler, host.meters ?? noMeters, (t) => {
          this.recomputeBase();
          this.changed(t);
        })
      : undefined;
    this.recomputeBase();
  }

  charger(id: string): SimCharger {
    const c = this.chargers.find((x) => x.id === id);
    if (!c) throw new Error(`no charger ${id} in ${this.id}`);
    return c;
  }

  /** The limit the platform works with per phase: told fuse minus margin, or the reported available current when lower. */
  knownLimit(): PhaseCurrents {
    const out = { L1: 0, L2: 0, L3: 0 };
    for (const p of PHASES) out[p] = Math.max(0, Math.min(this.told.fuse[p] - this.safetyMarginA, this.told.available?.[p] ?? Infinity));
    return out;
  }

  /** Grid current per phase: base load plus every charger's terminals through its wiring. */
  gridCurrents(): PhaseCurrents {
    const out = { ...this.base };
    for (const c of this.chargers) addChargerCurrents(c, out);
    return out;
  }

  changed(t: number): void {
    this.circuits?.record(t);
    if (!this.stopped) this.host.listener.siteChanged(this, t);
  }

  /** Schedules the cars, the base load, the events and the energy manager; `t0` is scenario time 0. */
  start(t0: number): void {
    const s = this.host.scheduler;
    const spec = this.spec;
    this.circuits?.start(t0, spec.events);
    for (const carSpec of spec.cars) {
      const charger = this.charger(carSpec.charger);
      s.at(t0 + carSpec.arriveS * 1000, (t) => {
        if (charger.car) return this.host.log(`${charger.id}: occupied at ${carSpec.arriveS}s; car skipped`);
        const car = new Car(carSpec, Math.min(carSpec.phases, charger.terminals.length), this.host.rnd, t0);
        charger.plugIn(t, car);
        if (carSpec.departS !== undefined) s.at(t0 + carSpec.departS * 1000, (tt) => charger.car === car && charger.unplug(tt));
      });
    }
    const swing = spec.baseLoad.swing;
    if (swing) {
      const toggle = (t: number): void => {
        this.swingOn = !this.swingOn;
        this.recomputeBase();
        this.changed(t);
        s.at(t + swing.periodS * 1000, toggle);
      };
      s.at(t0 + swing.fromS * 1000, toggle);
    }
    const noise = spec.baseLoad.noise;
    if (noise) {
      const redraw = (t: number): void => {
        for (const p of PHASES) this.noise[p] = this.host.rnd.between(-noise.amplitudeA, noise.amplitudeA);
        this.recomputeBase();
        this.changed(t);
        s.at(t + noise.intervalS * 1000, redraw);
      };
      s.at(t0 + noise.intervalS * 1000, redraw);
    }
    for (const e of spec.events) {
      s.at(t0 + e.atS * 1000, (t) => {
        switch (e.type) {
          case 'fuse':
            Object.assign(this.fuse, e.fuse);
            // The installer writes the new fuse at the same moment.
            this.told.fuse = { ...e.fuse };
            this.changed(t);
            void this.host.api.patchFuse(this.id, e.fuse).catch((err: unknown) => this.host.log(`fuse PATCH failed: ${String(err)}`));
            void this.measure(t);
            break;
          case 'baseLoad':
            for (const p of PHASES) {
              if (e.set?.[p] !== undefined) this.staticBase[p] = e.set[p];
              if (e.add?.[p] !== undefined) this.staticBase[p] += e.add[p];
            }
            this.recomputeBase();
            this.changed(t);
            break;
          case 'offline':
            this.charger(e.charger).goOffline(t, e.durationS * 1000);
            break;
          case 'reboot':
            this.charger(e.charger).reboot(t, e.durationS * 1000);
            break;
          case 'energyManagerSilent':
            this.goSilent(t, e.durationS * 1000);
            break;
        }
      });
    }
    const em = spec.energyManager;
    if (em.enabled) {
      const tick = (t: number): void => {
        if (this.stopped) return;
        void this.measure(t);
        s.at(t + em.intervalS * 1000, tick);
      };
      s.at(t0, tick);
    }
  }

  /** The energy manager's first report, sent and stored before the run starts. */
  async reportFirst(t: number): Promise<void> {
    const put = this.measure(t);
    if (put) await put;
  }

  stop(): void {
    this.stopped = true;
    this.circuits?.stop();
    for (const c of this.chargers) c.stop();
  }

  private recomputeBase(): void {
    const swing = this.spec.baseLoad.swing;
    // The boards' own loads hang on the grid connection too.
    const boards = this.circuits?.totalBase();
    for (const p of PHASES) {
      const v = this.staticBase[p] + this.noise[p] + (boards?.[p] ?? 0) + (this.swingOn && swing?.phases.includes(p) ? swing.amplitudeA : 0);
      this.base[p] = Math.max(0, Math.round(v * 100) / 100);
    }
  }

  /**
   * The energy manager: the current left for chargers is fuse minus base load. A drop is reported at
   * once; a rise only when it exceeds the deadband (so the platform never works with more than there is).
   */
  private measure(t: number): Promise<void> | undefined {
    const em = this.spec.energyManager;
    if (!em.enabled || t < this.silentUntil) return undefined;
    const available = { L1: 0, L2: 0, L3: 0 };
    for (const p of PHASES) available[p] = Math.max(0, Math.floor((this.fuse[p] - this.base[p]) * 10) / 10);
    const last = this.reported;
    const ttl = this.reportTtl();
    // With a lifetime, an unchanged value is repeated before it expires (a living energy manager's heartbeat).
    const stale = ttl !== undefined && t - this.reportedAt >= ttl.simMs / 3;
    const report = !last || stale || PHASES.some((p) => available[p] < last[p] - 1e-6 || available[p] >= last[p] + em.deadbandA);
    if (!report) return undefined;
    this.reported = available;
    this.reportedAt = t;
    this.reports.push({ t, v: available });
    while (this.reports.length > 1 && this.reports[0]!.t < t - HOUR_MS) this.reports.shift();
    return this.put(available, ttl?.realS, t, 1);
  }

  /**
   * The platform knows the report once it answered the PUT, not when it was sent: judged from the
   * send, raises the platform decided before the report reached it counted as ordering violations
   * whenever the simulator or the platform lagged more than the grace (the load run's last two).
   * Until answered it is pending (`pendingLimit`): the platform may already act on it. A failed PUT
   * is sent again, as an energy manager does (PUT is idempotent); failures after the run ended (the
   * reports of a noise step at the last instant, the platform stopping) are not worth a log line.
   */
  private put(available: PhaseCurrents, ttlS: number | undefined, t: number, attempt: number): Promise<void> {
    this.pending = available;
    return this.host.api.putAvailableCurrent(this.id, available, ttlS).then(
      () =>
        this.host.scheduler.external((tt) => {
          if (this.pending === available) this.pending = undefined;
          if (this.stopped || this.reported !== available) return;
          this.told.available = available;
          this.changed(tt);
        }),
      (err: unknown) => {
        if (this.pending === available) this.pending = undefined;
        // Superseded by a newer report, or the run is over: nothing to repeat.
        if (this.stopped || this.reported !== available) return;
        const cause = err instanceof Error && err.cause !== undefined ? ` (${String(err.cause)})` : '';
        this.host.log(`available-current PUT ${attempt} of ${EM_PUT_ATTEMPTS} at scheduler ${(t / 1000).toFixed(1)} s failed: ${String(err)}${cause}`);
        if (attempt < EM_PUT_ATTEMPTS) return this.put(available, ttlS, t, attempt + 1);
        // Given up: the next measurement reports again whatever it finds.
        this.reported = undefined;
      },
    );
  }

  /**
   * The most the platform may know per phase now: what it answered, or a report sent and not yet
   * answered, which it may already have acted on (its raise can reach a charger before its answer
   * reaches the energy manager: the load run's ordering violations under a loaded CPU, a charger
   * raised 0.4-1.6 A above the old report right after a rise was reported).
   */
  pendingLimit(): PhaseCurrents {
    const known = this.knownLimit();
    const pending = this.pending;
    if (!pending) return known;
    const out = { ...known };
    for (const p of PHASES) out[p] = Math.max(known[p], Math.max(0, Math.min(this.told.fuse[p] - this.safetyMarginA, pending[p])));
    return out;
  }

  /** The report lifetime in real seconds (whole, at least 1) and what that is in scenario time. */
  private reportTtl(): { realS: number; simMs: number } | undefined {
    const ttlS = this.spec.energyManager.ttlS;
    if (ttlS === undefined) return undefined;
    const k = this.host.compression ?? 1;
    const realS = Math.max(1, Math.round(ttlS / k));
    return { realS, simMs: realS * k * 1000 };
  }

  /**
   * The energy manager stops reporting. Once its last report expires the platform is expected on the
   * installation's failsafe: the configured `failsafeCurrent`, the fuse when dedicated to chargers,
   * else the lowest value reported in the last hour. That is what the platform then knows.
   */
  private goSilent(t: number, durationMs: number): void {
    this.silentUntil = t + durationMs;
    const ttl = this.reportTtl();
    if (ttl === undefined || !this.reported) return;
    const expiry = this.reportedAt + ttl.simMs;
    if (expiry >= this.silentUntil) return;
    this.host.scheduler.at(expiry, (tt) => {
      if (this.stopped || this.reportedAt + ttl.simMs > tt) return;
      const b = this.spec.balancer;
      const failsafe = { ...this.told.fuse };
      if (b?.failsafeCurrent) Object.assign(failsafe, b.failsafeCurrent);
      else if (!b?.fuseDedicatedToChargers) for (const p of PHASES) failsafe[p] = Math.min(...this.reports.filter((r) => r.t >= tt - HOUR_MS).map((r) => r.v[p]), this.reported![p]);
      this.told.available = failsafe;
      this.changed(tt);
    });
  }
}

export function addChargerCurrents(c: SimCharger, out: PhaseCurrents): void {
  for (let i = 0; i < c.terminals.length; i++) {
    const v = c.draw[i] ?? 0;
    if (v !== 0) out[c.terminals[i]!] += v;
  }
}
