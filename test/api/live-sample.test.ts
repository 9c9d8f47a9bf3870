import { describe, expect, it } from 'vitest';
import { sampleOf } from '../../api/live-feed.js';
import type { InstallationStatus } from '../../api/status-view.js';

const phase = (fuse: number, dynamicLimit: number | null) => ({ fuse, dynamicLimit, allocated: 10, measured: 4 });

function status(failsafe: InstallationStatus['failsafe'], dynamic: number | null = null): InstallationStatus {
  return {
    installationId: 'i',
    at: '2026-12-04T12:00:00.000Z',
    dynamicLimitExpiresAt: null,
    balancerReachable: true,
    failsafe,
    balancerNodeId: null,
    balancerPaused: false,
    phases: { L1: phase(32, dynamic), L2: phase(32, dynamic), L3: phase(25, dynamic) },
    chargers: [],
  };
}

describe("the live chart's limit line", () => {
  it('is the fuse, the lower dynamic limit, or the failsafe current while it is in force', () => {
    expect(sampleOf(status({ inForce: false, since: null, source: null, current: null }), 1).slice(7)).toEqual([32, 32, 25]);
    expect(sampleOf(status({ inForce: false, since: null, source: null, current: null }, 28), 1).slice(7)).toEqual([28, 28, 25]);
    const failsafe = { inForce: true, since: '2026-12-04T11:59:00.000Z', source: 'configured', current: { L1: 20, L2: 40, L3: 10 } };
    // Never above the fuse: the failsafe is capped by it.
    expect(sampleOf(status(failsafe), 1).slice(7)).toEqual([20, 32, 10]);
  });
});
