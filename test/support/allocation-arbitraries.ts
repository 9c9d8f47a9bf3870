/** Generators shared by the allocate() property tests (flat and over a circuit tree). */
import fc from 'fast-check';
import type { AllocationSettings } from '../../balancer/allocation-types.js';

export const NOW = 10_000_000;

export const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined, freq: 2 });
/** A moment in the hour before NOW. */
export const time = fc.integer({ min: NOW - 3_600_000, max: NOW });

export const settingsArb: fc.Arbitrary<AllocationSettings> = fc.record({
  deadbandA: fc.constantFrom(0, 0.5, 1, 2),
  minChangeIntervalMs: fc.constantFrom(0, 10_000, 60_000),
  rotationIntervalMs: fc.constantFrom(0, 60_000, 900_000),
  minRunMs: fc.constantFrom(0, 60_000, 300_000),
  minPauseMs: fc.constantFrom(0, 60_000, 120_000),
  reclaimAfterMs: fc.constantFrom(0, 60_000, 600_000),
  reclaimHeadroomA: fc.constantFrom(0, 1, 2),
  reclaimThresholdA: fc.constantFrom(0.5, 2),
});

/** Neutral settings for the fairness property: no anti-flap hold, no reclaim. */
export const fairSettings: AllocationSettings = {
  deadbandA: 0,
  minChangeIntervalMs: 0,
  rotationIntervalMs: 900_000,
  minRunMs: 300_000,
  minPauseMs: 120_000,
  reclaimAfterMs: Infinity,
  reclaimHeadroomA: 2,
  reclaimThresholdA: 2,
};
