import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';

/** Runs the fragmenting child with the node's heap mode on or off; its heap after full GCs. */
function fragmentedHeap(mode: 'on' | 'off'): { heapTotal: number; heapUsed: number; kept: number } {
  const fixture = join(process.cwd(), 'test/core/fixtures/fragmented-heap.ts');
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', fixture, mode], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { heapTotal: number; heapUsed: number; kept: number };
}

describe('heap mode (V8_OPTIMIZE_FOR_SIZE)', () => {
  it('is on by default; on and off are accepted, anything else refused', () => {
    expect(loadConfig({}).v8OptimizeForSize).toBe(true);
    expect(loadConfig({ V8_OPTIMIZE_FOR_SIZE: 'off' }).v8OptimizeForSize).toBe(false);
    expect(loadConfig({ V8_OPTIMIZE_FOR_SIZE: 'on' }).v8OptimizeForSize).toBe(true);
    expect(() => loadConfig({ V8_OPTIMIZE_FOR_SIZE: 'yes' })).toThrow(/V8_OPTIMIZE_FOR_SIZE/);
  });

  it('set at run time, it makes a full GC give back an old space that promoted garbage left fragmented', () => {
    const off = fragmentedHeap('off');
    const on = fragmentedHeap('on');
    // The same live objects either way ...
    expect(on.kept).toBe(off.kept);
    expect(Math.abs(on.heapUsed - off.heapUsed)).toBeLessThan(0.2 * off.heapUsed);
    // ... but V8's default keeps most of the fragmented pages (about 3x what is live here), the node's mode compacts them.
    expect(off.heapTotal).toBeGreaterThan(2 * off.heapUsed);
    expect(on.heapTotal).toBeLessThan(0.6 * off.heapTotal);
    expect(on.heapTotal).toBeLessThan(1.5 * on.heapUsed);
  }, 120_000);
});
