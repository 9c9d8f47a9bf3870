import fc from 'fast-check';
import type { BalancerModel, ChargerWiring } from '../../balancer/balancer-model.js';
import { onProfileResult } from '../../balancer/charger-events.js';
import type { Phase } from '../../core/model.js';

/**
 * What simulated chargers may really be running, kept apart from the balancer's model, for the
 * dispatch properties (test/balancer/*dispatch*.property.test.ts): per charger the last accepted
 * limit in force, the limits whose fate is unknown (timed out, in flight when it dropped, a reboot's
 * own current) and the one in flight, each on the phases it was told.
 */

export const PHASES: readonly Phase[] = ['L1', 'L2', 'L3'];

/** A limit with the number of phases it runs on. */
export interface Applied {
  v: number;
  n: number;
}

export type Outcome = 'accepted' | 'rejected' | 'timeout';

/** The steps every dispatch property draws; each test adds its own. */
export type CommonStep =
  | { kind: 'plug'; i: number; on: boolean }
  | { kind: 'answer'; i: number; outcome: Outcome }
  | { kind: 'answerAll' }
  | { kind: 'time'; ms: number }
  | { kind: 'fuse'; value: number }
  | { kind: 'offline'; i: number; on: boolean };

/** Arbitraries of the common steps for `n` chargers, fuses drawn from `fuse`. */
export const commonSteps = (n: number, fuse: { min: number; max: number }): fc.Arbitrary<CommonStep>[] => [
  fc.record({ kind: fc.constant('plug' as const), i: fc.nat(n - 1), on: fc.boolean() }),
  fc.record({ kind: fc.constant('answer' as const), i: fc.nat(n - 1), outcome: fc.constantFrom<Outcome>('accepted', 'accepted', 'rejected', 'timeout') }),
  fc.record({ kind: fc.constant('answerAll' as const) }),
  fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 1, max: 2_000 }) }),
  fc.record({ kind: fc.constant('fuse' as const), value: fc.integer(fuse) }),
  fc.record({ kind: fc.constant('offline' as const), i: fc.nat(n - 1), on: fc.boolean() }),
];

/** The balancer settings of the dispatch properties, before each test's knobs. */
export const PROPERTY_SETTINGS = {
  deadbandA: 0.5,
  minChangeIntervalMs: 0,
  rotationIntervalMs: 600_000,
  minRunMs: 0,
  minPauseMs: 0,
  reclaimAfterMs: 600_000,
  reclaimHeadroomA: 2,
  reclaimThresholdA: 3,
  settleMs: 500,
  lateAfterMs: 400,
  retryMs: 300,
  idleAfterMs: 0,
  wakeProbeIntervalMs: 900_000,
  wakeProbeMs: 60_000,
} satisfies Partial<BalancerModel['settings']>;

/** The grid phases a charger loads when it charges on `n` phases (1: its terminal 1's phase). */
export const phasesOfWiring = (w: ChargerWiring, n: number): readonly Phase[] => (w.phases === 1 ? [w.gridPhase] : n === 1 ? [(w.phaseRotation ?? 'L1L2L3').slice(0, 2) as Phase] : PHASES);

/** What a charger that drops its profiles when out of sight runs at (offlineCurrent 'max' or its own current), on three phases. */
export const rebootCurrent = (w: ChargerWiring): Applied[] =>
  w.offlineCurrent === 'max' ? [{ v: w.maxCurrent, n: 3 }] : typeof w.offlineCurrent === 'number' ? [{ v: Math.min(w.offlineCurrent, w.maxCurrent), n: 3 }] : [];

export class ChargerGroundTruth {
  private readonly accepted = new Map<string, Applied>();
  private readonly unknown = new Map<string, Applied[]>();
  private readonly inFlight = new Map<string, Applied>();
  /** Accepted decreases take effect once settled; `from`: unknown states added after the acceptance (a reboot) outlive it. */
  private readonly settleAt = new Map<string, { value: Applied; at: number; from: number }>();
  private readonly byId: Map<string, ChargerWiring>;

  /** Every charger starts at 0 A accepted, plus `initiallyUnknown` (e.g. a reboot's current after connecting). */
  constructor(
    readonly wiring: readonly ChargerWiring[],
    initiallyUnknown: (w: ChargerWiring) => Applied[] = () => [],
  ) {
    this.byId = new Map(wiring.map((w) => [w.id, w]));
    for (const w of wiring) {
      this.accepted.set(w.id, { v: 0, n: 3 });
      this.unknown.set(w.id, initiallyUnknown(w));
    }
  }

  /** Every state the charger may be in. */
  states(id: string): Applied[] {
    const f = this.inFlight.get(id);
    return [this.accepted.get(id)!, ...this.unknown.get(id)!, ...(f ? [f] : [])];
  }

  /** The most the charger may load phase `p` with. */
  worstOn(id: string, p: Phase): number {
    const w = this.byId.get(id)!;
    return Math.max(0, ...this.states(id).filter((x) => phasesOfWiring(w, x.n).includes(p)).map((x) => x.v));
  }

  /** The installation's worst case on phase `p`. */
  worst(p: Phase): number {
    return this.wiring.reduce((s, w) => s + this.worstOn(w.id, p), 0);
  }

  /** Nothing in flight, unknown or settling: its state is certain. */
  certain(id: string): boolean {
    return !this.inFlight.has(id) && this.unknown.get(id)!.length === 0 && !this.settleAt.has(id);
  }

  /** The highest limit it may be running at, whatever the phases. */
  mayRunAt(id: string): number {
    return Math.max(...this.states(id).map((x) => x.v));
  }

  acceptedOf(id: string): Applied {
    return this.accepted.get(id)!;
  }

  inFlightOf(id: string): Applied | undefined {
    return this.inFlight.get(id);
  }

  sent(id: string, value: Applied): void {
    this.inFlight.set(id, value);
  }

  /** Accepted decreases whose settle time has come take effect. */
  settle(now: number): void {
    for (const [id, s] of [...this.settleAt]) {
      if (now < s.at) continue;
      this.accepted.set(id, s.value);
      this.unknown.set(id, this.unknown.get(id)!.slice(s.from));
      this.settleAt.delete(id);
    }
  }

  /** Its socket dropped: what was in flight may or may not have landed; out of sight it may reboot. */
  dropped(id: string): void {
    const f = this.inFlight.get(id);
    if (f) this.unknown.get(id)!.push(f);
    this.inFlight.delete(id);
    this.unknown.get(id)!.push(...rebootCurrent(this.byId.get(id)!));
  }

  /**
   * The charger answers its command in flight: the model learns it (`onProfileResult`) and the
   * truth follows what the charger does. A state that loads no phase more than any state it may be in
   * now takes effect at once; a decrease once settled. Returns the model, unchanged when nothing was in flight.
   */
  answer(model: BalancerModel, id: string, outcome: Outcome, now: number): BalancerModel {
    const value = this.inFlight.get(id);
    const c = model.chargers[id]!;
    if (value === undefined || c.dispatch.command.kind !== 'inFlight') return model;
    this.inFlight.delete(id);
    const next = { ...model, chargers: { ...model.chargers, [id]: onProfileResult(c, value.v, outcome, now, model.settings.retryMs) } };
    if (outcome === 'timeout') this.unknown.get(id)!.push(value);
    if (outcome === 'accepted') {
      if (this.dominates(id, value)) {
        this.accepted.set(id, value);
        this.unknown.set(id, []);
        this.settleAt.delete(id);
      } else this.settleAt.set(id, { value, at: now + model.settings.settleMs, from: this.unknown.get(id)!.length });
    }
    return next;
  }

  private dominates(id: string, x: Applied): boolean {
    const on = phasesOfWiring(this.byId.get(id)!, x.n);
    return PHASES.every((p) => (on.includes(p) ? x.v >= this.worstOn(id, p) : this.worstOn(id, p) === 0));
  }
}
