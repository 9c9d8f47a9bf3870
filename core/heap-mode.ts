import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

/**
 * V8's "optimize for size" heap mode for a node process while its event loop is quiet
 * (V8_OPTIMIZE_FOR_SIZE: `auto` by default, `on`, `off`).
 *
 * Why: a connect storm promotes the temporaries of thousands of handshakes (HTTP upgrade, auth,
 * first BootNotification) to the old space beside the sessions that stay, and they die there. V8's
 * default full GC only evacuates pages that are mostly empty, so after a storm of 10,000 chargers
 * the old space stayed committed at about 1.7x what was live: 6-9 KiB per idle charger of resident
 * but empty heap, for 45 s to more than a minute (until V8's memory reducer ran). In this mode V8 compacts pages that are only partly
 * empty and its memory reducer runs within seconds: the heap it keeps stays close to what is live
 * (bench/rss-timeline.ts). The mode costs CPU while the node works hard, though (more frequent and
 * larger compactions: a connect storm took longer, a round trip at full load up to a third more CPU
 * in the bench), so `auto` asks for it only while the event loop is mostly idle, as Chrome does for
 * a tab in the background, and gives V8 its defaults back while the node is busy.
 *
 * Set at run time (not as a `node` option) so every way a node process starts (npm start, the bench,
 * the simulator's child nodes, scripts/cluster.sh) runs the same heap mode from one place; V8 reads
 * this flag at each GC decision. Only the process entry point (main.ts) starts it: tests that start
 * nodes inside the test process are not changed.
 */

export type HeapModeSetting = 'auto' | 'on' | 'off';
export type HeapModeName = 'size' | 'speed';

export interface HeapModeOptions {
  /** How often the event loop's utilization is read (the mode follows it this late at most). */
  intervalMs: number;
  /** Busier than this over an interval: V8's defaults (speed). */
  busyAbove: number;
  /** Quieter than this over an interval: optimize for size. In between the mode stays (no flapping). */
  quietBelow: number;
}

// Read every 2 s: a storm runs in the size mode for one or two readings, and the quiet after it is seen as soon.
export const HEAP_MODE_DEFAULTS: HeapModeOptions = { intervalMs: 2_000, busyAbove: 0.5, quietBelow: 0.25 };

export interface HeapModeDeps {
  setFlags: (flags: string) => void;
  /** performance.eventLoopUtilization: with an earlier reading, the utilization since then. */
  utilization: (since?: EventLoopUtilization) => EventLoopUtilization;
  onChange?: (mode: HeapModeName, utilization: number) => void;
}

export const NODE_HEAP_MODE_DEPS: HeapModeDeps = { setFlags: setFlagsFromString, utilization: (since) => performance.eventLoopUtilization(since) };

export class HeapMode {
  private mode: HeapModeName | undefined;
  private timer: NodeJS.Timeout | undefined;
  private last: EventLoopUtilization | undefined;

  constructor(
    private readonly setting: HeapModeSetting,
    private readonly opts: HeapModeOptions = HEAP_MODE_DEFAULTS,
    private readonly deps: HeapModeDeps = NODE_HEAP_MODE_DEPS,
  ) {}

  /** The mode asked of V8; undefined when the setting is `off` (V8's defaults, never touched). */
  get current(): HeapModeName | undefined {
    return this.mode;
  }

  start(): void {
    if (this.setting === 'off' || this.timer) return;
    // A starting node is quiet: its first GCs already run in the size mode.
    this.apply('size', 0);
    if (this.setting === 'on') return;
    this.last = this.deps.utilization();
    this.timer = setInterval(() => this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Reads the event loop's utilization since the last check and moves the mode if it crossed a threshold. */
  check(): void {
    const u = this.last ? this.deps.utilization(this.last).utilization : 0;
    this.last = this.deps.utilization();
    if (u > this.opts.busyAbove) this.apply('speed', u);
    else if (u < this.opts.quietBelow) this.apply('size', u);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private apply(mode: HeapModeName, utilization: number): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.deps.setFlags(mode === 'size' ? '--optimize-for-size' : '--no-optimize-for-size');
    this.deps.onChange?.(mode, utilization);
  }
}
