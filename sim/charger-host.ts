import type { Phase, PhaseRotation } from '../core/model.js';
import type { SimCharger } from './charger.js';
import type { Scheduler } from './clock.js';

/** What a charger needs from its surroundings: time, the platform's address, and who listens. */
export interface ChargerHost {
  readonly scheduler: Scheduler;
  readonly ocppBaseUrl: string;
  /** Scenario ms between MeterValues during a transaction. */
  readonly meterIntervalMs: number;
  readonly voltage: number;
  readonly callTimeoutRealMs: number;
  readonly observer: ChargerObserver;
  /** The physics changed (a draw): the site recomputes its grid currents. */
  changed(t: number): void;
  log(chargerId: string, message: string): void;
}

/** Hooks the metrics recorder implements; `t` is scenario ms. */
export interface ChargerObserver {
  profileReceived(c: SimCharger, t: number, limitA: number | undefined, purpose: string): void;
  profileAnswered(c: SimCharger, t: number, status: string, limitA: number | undefined): void;
  /**
   * The limit the profiles set (what the charger was told), before misbehaviour. `byPlatform`: the
   * change came from a SetChargingProfile / ClearChargingProfile, not from a session or a reboot.
   */
  commandedChanged(c: SimCharger, t: number, before: number, after: number, byPlatform: boolean): void;
  sessionChanged(c: SimCharger, t: number, event: 'arrived' | 'started' | 'departed'): void;
}

export const TERMINAL_ORDER: Record<PhaseRotation, [Phase, Phase, Phase]> = {
  L1L2L3: ['L1', 'L2', 'L3'],
  L2L3L1: ['L2', 'L3', 'L1'],
  L3L1L2: ['L3', 'L1', 'L2'],
  L1L3L2: ['L1', 'L3', 'L2'],
  L3L2L1: ['L3', 'L2', 'L1'],
  L2L1L3: ['L2', 'L1', 'L3'],
};
