import { describe, expect, it } from 'vitest';
import { preferredNode } from '../../balancer/leadership.js';
import { fnv1a } from '../../core/fnv1a.js';
import { PLACEMENT_GROUPS, placementGroup } from '../../core/placement-groups.js';
import { leaseKeys } from '../../core/subjects.js';

const ids = Array.from({ length: 1_000 }, (_, i) => `inst-${i}`);

describe('placement groups (installation -> group -> lease)', () => {
  it('maps an installation to the same group every time, in every process and version', () => {
    for (const id of ids) expect(placementGroup(id)).toBe(placementGroup(id));
    // Pinned: a change of the hash (or of PLACEMENT_GROUPS) moves installations between groups, and
    // nodes of two versions would both lead them. It needs the whole cluster stopped (README).
    expect(PLACEMENT_GROUPS).toBe(64);
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(['e2e-site', 'inst-0', 'inst-999'].map((id) => placementGroup(id))).toEqual([23, fnv1a('inst-0') % 64, fnv1a('inst-999') % 64]);
  });

  it('spreads 1,000 installations over the 64 groups fairly evenly', () => {
    const count = new Map<number, number>();
    for (const id of ids) {
      const g = placementGroup(id);
      expect(Number.isInteger(g) && g >= 0 && g < PLACEMENT_GROUPS).toBe(true);
      count.set(g, (count.get(g) ?? 0) + 1);
    }
    // 15.6 a group on average: every group used, none with less than half or more than twice that.
    expect(count.size).toBe(PLACEMENT_GROUPS);
    for (const n of count.values()) {
      expect(n).toBeGreaterThanOrEqual(8);
      expect(n).toBeLessThanOrEqual(31);
    }
  });

  it('an installation’s lease key is its group’s, shared by the other installations of the group', () => {
    for (const id of ids) expect(leaseKeys.balancerOf(id)).toBe(leaseKeys.group(placementGroup(id)));
    expect(new Set(ids.map((id) => leaseKeys.balancerOf(id))).size).toBe(PLACEMENT_GROUPS);
  });

  it('groups spread over the nodes by rendezvous hashing of their lease keys', () => {
    const count = new Map<string, number>();
    for (let g = 0; g < PLACEMENT_GROUPS; g++) {
      const n = preferredNode(['node-a', 'node-b', 'node-c'], leaseKeys.group(g))!;
      count.set(n, (count.get(n) ?? 0) + 1);
    }
    for (const n of ['node-a', 'node-b', 'node-c']) expect(count.get(n)).toBeGreaterThan(10);
  });
});
