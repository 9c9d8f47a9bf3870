/** Under-drawing cars: offered their draw plus headroom (never below the minimum), the rest to others, until they draw again. */
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import type { ChargerInput } from '../../balancer/allocation-types.js';
import { aCharger, anInstallation, byId, MIN, NOW } from './allocate-fixtures.js';

describe('allocate: reclaim', () => {
  const underDrawing = (overrides: Partial<ChargerInput> = {}): ChargerInput =>
    aCharger({
      id: 'slow',
      phases: 1,
      currentLimit: 16,
      measured: { t1: 4.2, t2: 0, t3: 0, at: NOW },
      underDrawSince: NOW - 2 * MIN,
      ...overrides,
    });

  it('offers an under-drawing car its draw plus headroom and gives the rest to others', () => {
    const other = aCharger({ id: 'other', phases: 1, maxCurrent: 32 });
    const result = byId(allocate(anInstallation([underDrawing(), other], { L1: 24 })));
    // 4.2 A drawn + 2 A headroom, on the 0.1 A grid.
    expect(result.slow).toMatchObject({ limit: 6.2, reason: 'reclaimed' });
    expect(result.other).toMatchObject({ limit: 17.8, reason: 'charging' });
  });

  it('does not reclaim before reclaimAfterMs', () => {
    const result = byId(allocate(anInstallation([underDrawing({ underDrawSince: NOW - MIN })], { L1: 24 })));
    expect(result.slow).toMatchObject({ limit: 16, reason: 'charging' });
  });

  it('gives back the offer when the current sample shows the draw within the threshold', () => {
    const rising = underDrawing({ measured: { t1: 14.5, t2: 0, t3: 0, at: NOW } });
    expect(byId(allocate(anInstallation([rising], { L1: 24 }))).slow?.limit).toBe(16);
  });

  it('never reclaims below the minimum', () => {
    const idleCar = underDrawing({ measured: { t1: 0, t2: 0, t3: 0, at: NOW } });
    expect(byId(allocate(anInstallation([idleCar], { L1: 24 }))).slow).toMatchObject({ limit: 6, reason: 'reclaimed' });
  });
});
