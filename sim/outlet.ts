import type { Scheduler, TimerHandle } from './clock.js';
import type { Car } from './ev.js';

/**
 * The power side of a charger: the pilot signal offered to the car, the car following it after its
 * response delay, the current per terminal and the energy register. Knows nothing of OCPP.
 */
export class Outlet {
  car: Car | undefined;
  /** Current per terminal (A). */
  readonly draw: [number, number, number] = [0, 0, 0];
  /** The meter's energy register (Wh). */
  energyWh = 0;
  /** The relay is closed: a transaction runs (or the firmware charges before one). */
  energised = false;
  /** The pilot the car was last told to follow (it may still be on its way). */
  private pilotTarget = 0;
  /** Phases the charger lets the car use (a profile's `numberPhases`), as told and as the car follows it. */
  commandedPhases = 3;
  private phases = 3;
  private pilotTimers: TimerHandle[] = [];
  private tickTimer: TimerHandle | undefined;
  private lastIntegrateT = 0;

  constructor(
    private readonly terminalCount: number,
    private readonly scheduler: Scheduler,
    private readonly voltage: number,
    /** Called after every change of the draw. */
    private readonly onDraw: (t: number, changed: boolean) => void,
  ) {}

  plug(t: number, car: Car): void {
    this.integrate(t);
    this.car = car;
    car.pilotA = 0;
    this.pilotTarget = 0;
    this.phases = this.commandedPhases;
    // A car wakes up or lifts its cap by itself.
    for (const at of car.changeTimes()) if (at > t) this.scheduler.at(at, (tt) => this.car === car && this.update(tt));
  }

  unplug(t: number): void {
    this.cut(t);
    this.car = undefined;
    this.update(t);
  }

  /**
   * A new pilot limit, and the phases it may draw on (a 1/3-phase switch): the car follows after its
   * response delay (only while energised).
   */
  offer(t: number, amps: number, phases = this.commandedPhases): void {
    this.commandedPhases = phases;
    const car = this.car;
    if (!car || !this.energised || (amps === this.pilotTarget && phases === this.phases)) return;
    this.pilotTarget = amps;
    const timer = this.scheduler.at(t + car.responseDelayMs, (tt) => {
      this.pilotTimers = this.pilotTimers.filter((x) => x !== timer);
      if (this.car !== car) return;
      car.pilotA = amps;
      this.phases = phases;
      this.update(tt);
    });
    this.pilotTimers.push(timer);
  }

  /** The relay opens: the current stops at once. */
  cut(t: number): void {
    this.energised = false;
    for (const p of this.pilotTimers) p.cancel();
    this.pilotTimers = [];
    this.tickTimer?.cancel();
    this.pilotTarget = 0;
    if (this.car) this.car.pilotA = 0;
    this.update(t);
  }

  /** Closes the relay and offers `amps`. */
  energise(t: number, amps: number): void {
    this.energised = true;
    this.offer(t, amps);
    this.armTick();
  }

  /** Energy up to `t` at the draw in force since the last call. */
  integrate(t: number): void {
    const dt = t - this.lastIntegrateT;
    this.lastIntegrateT = t;
    if (dt <= 0) return;
    const amps = this.draw[0] + this.draw[1] + this.draw[2];
    if (amps === 0) return;
    const wh = (amps * this.voltage * dt) / 3_600_000;
    this.energyWh += wh;
    this.car?.charge(wh);
  }

  /** Recomputes the draw from the car (its pilot, demand, battery). */
  update(t: number): void {
    this.integrate(t);
    const car = this.car;
    const a = car && this.energised ? car.drawA(t) : 0;
    const n = car ? Math.min(car.phases, this.phases) : 0;
    let changed = false;
    for (let i = 0; i < 3; i++) {
      const v = i < n && i < this.terminalCount ? a : 0;
      if (this.draw[i] !== v) {
        this.draw[i] = v;
        changed = true;
      }
    }
    this.onDraw(t, changed);
  }

  stop(): void {
    for (const p of this.pilotTimers) p.cancel();
    this.tickTimer?.cancel();
  }

  /** While charging, the battery fills: re-evaluate the taper every 30 s of scenario time. */
  private armTick(): void {
    this.tickTimer?.cancel();
    this.tickTimer = this.scheduler.after(30_000, (t) => {
      if (!this.energised) return;
      this.update(t);
      this.armTick();
    });
  }
}
