import type { CarSpec } from './scenario.js';
import type { Random } from './random.js';

/** IEC 61851: a pilot below 6 A means "do not charge". */
export const PILOT_MIN_A = 6;

/**
 * An electric car on a charger: how many phases it draws on, its maximum, its battery with a taper
 * towards full, how late it follows a new pilot limit, and two habits that matter to a balancer: a
 * car that sleeps while offered current, and one that draws less than offered. Times are scenario ms.
 */
export class Car {
  /** Delay between a pilot change and the current following it (scenario ms), drawn once per car. */
  readonly responseDelayMs: number;
  private energyWh: number;
  /** The pilot limit the car currently follows (after its response delay). */
  pilotA = 0;

  constructor(
    readonly spec: CarSpec,
    /** Phases it can draw on at this charger (a 3-phase car on a 1-phase charger uses one). */
    readonly phases: number,
    rnd: Random,
    /** Scheduler time of scenario time 0: the spec's times are relative to it. */
    private readonly origin = 0,
  ) {
    const d = spec.responseDelayS;
    this.responseDelayMs = (Array.isArray(d) ? rnd.between(d[0], d[1]) : d) * 1000;
    this.energyWh = spec.socStart * spec.batteryKWh * 1000;
  }

  get soc(): number {
    return this.energyWh / (this.spec.batteryKWh * 1000);
  }

  get full(): boolean {
    return this.soc >= this.spec.socTarget - 1e-9;
  }

  isSleeping(t: number): boolean {
    return this.spec.sleepUntilS !== undefined && t < this.origin + this.spec.sleepUntilS * 1000;
  }

  /** What the car would draw per phase now if the pilot allowed anything: its own demand. */
  demandA(t: number): number {
    if (this.isSleeping(t) || this.full) return 0;
    const s = this.spec;
    let a = s.maxA;
    if (s.capA !== undefined && (s.capUntilS === undefined || t < this.origin + s.capUntilS * 1000)) a = Math.min(a, s.capA);
    if (this.soc > s.taperFromSoc && s.taperFromSoc < 1) {
      const f = Math.max(0.1, (1 - this.soc) / (1 - s.taperFromSoc));
      a = Math.min(a, Math.max(PILOT_MIN_A, s.maxA * f));
    }
    return Math.round(a * 10) / 10;
  }

  /** Current per phase for the pilot it follows now. */
  drawA(t: number): number {
    if (this.pilotA < PILOT_MIN_A) return 0;
    return Math.min(this.pilotA, this.demandA(t));
  }

  /** Energy delivered to the battery. */
  charge(wh: number): void {
    this.energyWh = Math.min(this.spec.batteryKWh * 1000, this.energyWh + wh);
  }

  /** Scenario times at which the car's own demand changes by itself (waking, cap lifted). */
  changeTimes(): number[] {
    const out: number[] = [];
    if (this.spec.sleepUntilS !== undefined) out.push(this.origin + this.spec.sleepUntilS * 1000);
    if (this.spec.capA !== undefined && this.spec.capUntilS !== undefined) out.push(this.origin + this.spec.capUntilS * 1000);
    return out;
  }
}
