import { describe, expect, it } from 'vitest';
import { preferredNode } from '../../balancer/leadership.js';
import { fenceCommand, LimitFence } from '../../south/limit-fence.js';

const installations = Array.from({ length: 300 }, (_, i) => `inst-${i}`);

describe('balancer placement (rendezvous hashing)', () => {
  it('spreads installations over the live nodes', () => {
    const nodes = ['node-a', 'node-b', 'node-c'];
    const count = new Map<string, number>();
    for (const id of installations) {
      const n = preferredNode(nodes, id)!;
      count.set(n, (count.get(n) ?? 0) + 1);
    }
    for (const n of nodes) expect(count.get(n)).toBeGreaterThan(60);
  });

  it('is the same whatever order the nodes are listed in', () => {
    for (const id of installations) expect(preferredNode(['a', 'b', 'c'], id)).toBe(preferredNode(['c', 'a', 'b'], id));
  });

  it('a node leaving moves only its own installations', () => {
    const moved = installations.filter((id) => preferredNode(['a', 'b', 'c'], id) !== preferredNode(['a', 'b'], id));
    expect(moved.length).toBeGreaterThan(0);
    for (const id of moved) expect(preferredNode(['a', 'b', 'c'], id)).toBe('c');
  });

  it('no live node, no preference', () => {
    expect(preferredNode([], 'x')).toBeUndefined();
  });
});

describe('limit fencing on the charger node', () => {
  const profile = (epoch?: number) => ({ action: 'SetChargingProfile', payload: {}, ...(epoch === undefined ? {} : { epoch }) });

  it('refuses a SetChargingProfile from an epoch older than the newest seen for the installation', () => {
    const fence = new LimitFence();
    expect(fenceCommand(fence, 'i1', profile(10))).toBeUndefined();
    // The successor announces itself with its status request...
    expect(fenceCommand(fence, 'i1', { action: '$status', payload: {}, epoch: 20 })).toBeUndefined();
    // ...after which the deposed leader's limit is refused, the successor's accepted.
    expect(fenceCommand(fence, 'i1', profile(10))).toMatchObject({ ok: false, error: { code: 'FENCED' } });
    expect(fenceCommand(fence, 'i1', profile(20))).toBeUndefined();
    // Other installations and commands without an epoch (API commands) are not affected.
    expect(fenceCommand(fence, 'i2', profile(5))).toBeUndefined();
    expect(fenceCommand(fence, 'i1', profile())).toBeUndefined();
  });

  it('a status request from an old epoch is still answered', () => {
    const fence = new LimitFence();
    fence.admit('i1', 30);
    expect(fenceCommand(fence, 'i1', { action: '$status', payload: {}, epoch: 3 })).toBeUndefined();
  });
});
