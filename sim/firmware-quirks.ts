import { PILOT_MIN_A } from './ev.js';
import type { ChargerBehaviour } from './scenario.js';

/**
 * The misbehaviour a scenario gives a charger's firmware (`ChargerBehaviour`): when the current it
 * offers the car differs from the limit its profiles set. One per simulated charger.
 */
export class FirmwareQuirks {
  /** The limit kept instead of an accepted profile's (ignoresProfileAfterResume). */
  private frozenA: number | undefined;
  private ignoreNextProfile = false;
  /** Offering the maximum until a profile arrives in this session (fullCurrentBeforeProfile). */
  private fullUntilProfile = false;

  constructor(
    private readonly behaviour: ChargerBehaviour,
    private readonly maxCurrent: number,
  ) {}

  sessionStarted(): void {
    if (this.behaviour.fullCurrentBeforeProfile) this.fullUntilProfile = true;
  }

  sessionEnded(): void {
    this.fullUntilProfile = false;
    this.frozenA = undefined;
    this.ignoreNextProfile = false;
  }

  /** What the charger offers, given the `commanded` limit and what it offered until now. */
  enforced(commanded: number, inTx: boolean, offeredA: number): number {
    let enforced = commanded;
    if (this.fullUntilProfile) enforced = this.maxCurrent;
    else if (this.frozenA !== undefined) enforced = this.frozenA;
    if (this.behaviour.ignoresProfileAfterResume && inTx && offeredA < PILOT_MIN_A && enforced >= PILOT_MIN_A) {
      // Resumed from 0 A: this firmware ignores the next profile it is sent.
      this.ignoreNextProfile = true;
    }
    return enforced;
  }

  /** A SetChargingProfile was accepted while the charger offered `offeredA`. */
  profileAccepted(inTx: boolean, offeredA: number): void {
    if (inTx) this.fullUntilProfile = false;
    if (this.ignoreNextProfile) {
      // The bug: accepted, but the charger keeps the limit it resumed with.
      this.ignoreNextProfile = false;
      this.frozenA = offeredA;
    } else this.frozenA = undefined;
  }
}
