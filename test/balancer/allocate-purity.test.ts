/** allocate() as a pure function: the same result whatever the order of the chargers, its input untouched, duplicate ids refused. */
import { describe, expect, it } from 'vitest';
import { allocate } from '../../balancer/allocate.js';
import { aCharger, anInstallation } from './allocate-fixtures.js';

describe('allocate: purity', () => {
  it('returns the same result whatever the order of the chargers', () => {
    const chargers = [
      aCharger({ id: 'a', phases: 1, gridPhase: 'L3', arrivedAt: 2 }),
      aCharger({ id: 'b', phaseRotation: 'L3L1L2', arrivedAt: 2 }),
      aCharger({ id: 'c', online: false }),
      aCharger({ id: 'd', phases: 1, gridPhase: 'L1', priority: 1 }),
    ];
    const forward = allocate(anInstallation(chargers, { L1: 30, L2: 25, L3: 29 }));
    const backward = allocate(anInstallation([...chargers].reverse(), { L1: 30, L2: 25, L3: 29 }));
    expect(backward).toEqual(forward);
    expect(forward.allocations.map((a) => a.id)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('rejects duplicate charger ids', () => {
    expect(() => allocate(anInstallation([aCharger({ id: 'x' }), aCharger({ id: 'x' })]))).toThrow(/duplicate/);
  });

  it('does not modify its input', () => {
    const input = anInstallation([aCharger({ id: 'a' }), aCharger({ id: 'b', online: false })]);
    const copy = structuredClone(input);
    allocate(input);
    expect(input).toEqual(copy);
  });
});
