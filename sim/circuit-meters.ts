/**
 * The circuits of a simulated site (issue 12): each sub-distribution board has its fuse, a
 * non-charger load of its own (which may swing) and a grid meter that measures everything on the
 * board, chargers included, and publishes it on the platform's meter subject every `intervalS`
 * unless silenced by a `meterSilent` event. It also records each board's current against its fuse,
 * for the pass lines of the scenario (see `circuitReport`).
 */
import type { Phase, PhaseCurrents } from '../core/model.js';
import { PHASES } from '../core/model.js';
import type { Scheduler } from './clock.js';
import type { SimCharger } from './charger.js';
import type { CircuitSpec, EventSpec } from './scenario.js';

export interface MeterApi {
  /** Publishes a reading as a meter gateway does (the platform's meter subject). */
  publishMeterReading(installationId: string, circuitId: string, reading: PhaseCurrents): void;
}

/** One board's recorded current: piecewise constant, a sample at every change (scenario ms). */
interface Series {
  t: number[];
  current: PhaseCurrents[];
}

export interface CircuitReport {
  circuitId: string;
  fuse: Partial<PhaseCurrents>;
  /** Readings the meter published. */
  readings: number;
  /** Episodes with a phase above the fuse: start, length and the largest excess (A). */
  excursions: { startS: number; durationS: number; maxOverA: number }[];
  /** When the meter was silent (scenario s). */
  silent: { fromS: number; toS: number }[];
}

export class CircuitMeters {
  /** Non-charger load per circuit now (A). */
  readonly base = new Map<string, PhaseCurrents>();
  private readonly swingOn = new Map<string, boolean>();
  private readonly series = new Map<string, Series>();
  private readonly readings = new Map<string, number>();
  private readonly silentUntil = new Map<string, number>();
  private readonly silences = new Map<string, { fromS: number; toS: number }[]>();
  private t0 = 0;
  private stopped = false;

  constructor(
    private readonly installationId: string,
    private readonly circuits: readonly CircuitSpec[],
    private readonly chargers: readonly SimCharger[],
    private readonly scheduler: Scheduler,
    private readonly api: MeterApi,
    private readonly onBaseChange: (t: number) => void,
  ) {
    for (const c of circuits) {
      this.base.set(c.id, { L1: 0, L2: 0, L3: 0 });
      this.series.set(c.id, { t: [], current: [] });
      this.recomputeBase(c);
    }
  }

  /** Every circuit's own non-charger load, summed: what the site adds to its grid connection. */
  totalBase(): PhaseCurrents {
    const out = { L1: 0, L2: 0, L3: 0 };
    for (const b of this.base.values()) for (const p of PHASES) out[p] += b[p];
    return out;
  }

  /** Everything on the circuit now: its own load, its sub-circuits' and its chargers' draw through their wiring. */
  current(circuitId: string): PhaseCurrents {
    const out = { L1: 0, L2: 0, L3: 0 };
    for (const c of this.circuits) {
      if (!this.below(c.id, circuitId)) continue;
      const b = this.base.get(c.id)!;
      for (const p of PHASES) out[p] += b[p];
    }
    for (const ch of this.chargers) {
      if (ch.spec.circuitId === undefined || !this.below(ch.spec.circuitId, circuitId)) continue;
      for (let i = 0; i < ch.terminals.length; i++) out[ch.terminals[i] as Phase] += ch.draw[i] ?? 0;
    }
    return out;
  }

  start(t0: number, events: readonly EventSpec[]): void {
    this.t0 = t0;
    const s = this.scheduler;
    for (const c of this.circuits) {
      const swing = c.baseLoad?.swing;
      if (swing) {
        const toggle = (t: number): void => {
          if (this.stopped) return;
          this.swingOn.set(c.id, !(this.swingOn.get(c.id) ?? false));
          this.recomputeBase(c);
          this.onBaseChange(t);
          s.at(t + swing.periodS * 1000, toggle);
        };
        s.at(t0 + (swing.fromS ?? 0) * 1000, toggle);
      }
      const meter = c.meter;
      if (meter) {
        const tick = (t: number): void => {
          if (this.stopped) return;
          if (t >= (this.silentUntil.get(c.id) ?? -Infinity)) {
            const reading = this.current(c.id);
            for (const p of PHASES) reading[p] = Math.round(reading[p] * 100) / 100;
            this.api.publishMeterReading(this.installationId, c.id, reading);
            this.readings.set(c.id, (this.readings.get(c.id) ?? 0) + 1);
          }
          s.at(t + meter.intervalS * 1000, tick);
        };
        s.at(t0, tick);
      }
    }
    for (const e of events) {
      if (e.type !== 'meterSilent') continue;
      s.at(t0 + e.atS * 1000, (t) => {
        this.silentUntil.set(e.circuit, t + e.durationS * 1000);
        const list = this.silences.get(e.circuit) ?? [];
        list.push({ fromS: e.atS, toS: e.atS + e.durationS });
        this.silences.set(e.circuit, list);
      });
    }
  }

  /** Records every circuit's current at `t` (the site calls it on every change of its physics). */
  record(t: number): void {
    if (this.stopped) return;
    for (const c of this.circuits) {
      const series = this.series.get(c.id)!;
      series.t.push(t);
      series.current.push(this.current(c.id));
    }
  }

  stop(): void {
    this.stopped = true;
  }

  /** Per circuit, what its meter did and every episode above its fuse, up to `endMs` of scenario time. */
  report(endMs: number): CircuitReport[] {
    return this.circuits.map((c) => {
      const series = this.series.get(c.id)!;
      const excursions: CircuitReport['excursions'] = [];
      let open: { start: number; maxOver: number } | undefined;
      for (let i = 0; i < series.t.length; i++) {
        const t = series.t[i]! - this.t0;
        const cur = series.current[i]!;
        let over = 0;
        for (const p of PHASES) if (c.limits[p] !== undefined) over = Math.max(over, cur[p] - c.limits[p]!);
        if (over > 1e-6) {
          if (!open) open = { start: t, maxOver: over };
          else open.maxOver = Math.max(open.maxOver, over);
        } else if (open) {
          excursions.push({ startS: open.start / 1000, durationS: (t - open.start) / 1000, maxOverA: Math.round(open.maxOver * 100) / 100 });
          open = undefined;
        }
      }
      if (open) excursions.push({ startS: open.start / 1000, durationS: (endMs - open.start) / 1000, maxOverA: Math.round(open.maxOver * 100) / 100 });
      return { circuitId: c.id, fuse: c.limits, readings: this.readings.get(c.id) ?? 0, excursions, silent: this.silences.get(c.id) ?? [] };
    });
  }

  /** Mean current per phase on the circuit, and mean of its own non-charger load, over [fromS, toS). */
  meanCurrent(circuitId: string, fromS: number, toS: number): PhaseCurrents {
    const series = this.series.get(circuitId)!;
    const out = { L1: 0, L2: 0, L3: 0 };
    const from = this.t0 + fromS * 1000;
    const to = this.t0 + toS * 1000;
    for (let i = 0; i < series.t.length; i++) {
      const a = Math.max(from, series.t[i]!);
      const b = Math.min(to, series.t[i + 1] ?? to);
      if (b <= a) continue;
      for (const p of PHASES) out[p] += series.current[i]![p] * (b - a);
    }
    for (const p of PHASES) out[p] /= to - from;
    return out;
  }

  private below(id: string, ancestor: string): boolean {
    for (let at: string | undefined = id, n = 0; at !== undefined && n <= this.circuits.length; n++) {
      if (at === ancestor) return true;
      at = this.circuits.find((c) => c.id === at)?.parentId;
    }
    return false;
  }

  private recomputeBase(c: CircuitSpec): void {
    const b = this.base.get(c.id)!;
    const swing = c.baseLoad?.swing;
    for (const p of PHASES) b[p] = (c.baseLoad?.[p] ?? 0) + ((this.swingOn.get(c.id) ?? false) && swing?.phases.includes(p) ? swing.amplitudeA : 0);
  }
}
