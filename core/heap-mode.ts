import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';

/**
 * V8's "optimize for size" heap mode for a node process, for a while after each busy spell
 * (V8_OPTIMIZE_FOR_SIZE: `auto` by default, `on`, `off`).
 *
 * Why: a connect storm promotes the temporaries of thousands of handshakes (HTTP upgrade, auth,
 * first BootNotification) to the old space beside the sessions that stay, and they die there. V8's
 * default full GC only evacuates pages that are mostly empty, so after a storm of 10,000 chargers
 * the old space stayed committed at about 1.7x what was live: 6-9 KiB per idle charger of resident
 * but empty heap, for 45 s to more than a minute (until V8's memory reducer ran). In this mode V8
 * compacts pages that are only partly empty and its memory reducer runs within seconds: the heap it
 * keeps comes down to what is live (bench/rss-timeline.ts).
 *
 * The mode costs CPU and latency, though: through a storm a full GC every half second, and on a
 * quiet node left in it, compacting GCs that put the cluster bench's event-to-profile p99 at 60 ms
 * against 12 ms with V8's defaults (node CPU +40 %). So `auto` runs V8's defaults, and asks for the
 * size mode only once the event loop goes quiet (below `quietBelow` over an interval) after being
 * busy (above `busyAbove`: a storm, the node's start) and stays quiet for `quietForMs` (a lull between
 * bursts of work is not the end of a storm), for `compactWindowMs`: long enough for the
 * memory reducer to give back what the busy spell left, then the defaults again. What was given back
 * stays given back; the next storm opens the next window.
 *
 * Set at run time (not as a `node` option) so every way a node process starts (npm start, the bench,
 * the simulator's child nodes, scripts/cluster.sh) runs the same heap mode from one place; V8 reads
 * this flag at each GC decision (Node keeps V8's flags writable after start; the heap-mode test
 * fails if a later version stops honouring it). Only the process entry point (main.ts) starts it:
 * tests that start nodes inside the test process are not changed.
 */

/**
 * V8's allocation-site pretenuring (V8_PRETENURING: off by default, `on` for V8's default).
 *
 * Why off: V8 marks an allocation site (an object or array literal) "tenured" when nearly all its
 * objects survived a scavenge, and from then on allocates them in the old space. Where a storm of
 * connections made such sites on the per-message path (`--trace-pretenuring` shows the decisions,
 * not the sites), each later message's objects hung off an old-space object that died at once and
 * were kept until the next full GC: ws's frame buffers with the socket read's memory, the parsed
 * request, the meter reading (a sampling heap profile of what outlived the scavenges). At 2,000
 * chargers answering back to back (round-trip bench) every scavenge promoted 1.5-2.2 MB and a
 * mark-compact ran every 3-4 s; off, a scavenge promotes 0.1-0.5 MB (the answers kept for
 * duplicate ids). A literal that does live long is copied once more before it reaches the old
 * space; the bench's idle storm of 20,000 chargers took as long and held no more RSS.
 */
export function setPretenuring(on: boolean, setFlags: (flags: string) => void = setFlagsFromString): void {
  setFlags(on ? '--allocation-site-pretenuring' : '--no-allocation-site-pretenuring');
}

export type HeapModeSetting = 'auto' | 'on' | 'off';
export type HeapModeName = 'size' | 'speed';

export interface HeapModeOptions {
  /** How often the event loop's utilization is read (the mode follows it this late at most). */
  intervalMs: number;
  /** Busier than this over an interval: V8's defaults (speed). */
  busyAbove: number;
  /** Quieter than this over `quietForMs` after a busy interval: optimize for size, for `compactWindowMs`. */
  quietBelow: number;
  /** How long the quiet must last before a window opens: a lull between bursts of work is not the end of a storm. */
  quietForMs: number;
  /** How long the size mode lasts once opened (V8's memory reducer gave back a storm's pages within about 10 s). */
  compactWindowMs: number;
}

// Read every second: a busy spell closes a window within a second.
export const HEAP_MODE_DEFAULTS: HeapModeOptions = { intervalMs: 1_000, busyAbove: 0.5, quietBelow: 0.25, quietForMs: 3_000, compactWindowMs: 20_000 };

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
  /** Busy since the last size window (a starting node counts as busy: its start-up leaves garbage too). */
  private busySinceWindow = true;
  /** Readings left in the open size window. */
  private windowLeft = 0;
  /** Quiet readings in a row. */
  private quietReadings = 0;

  constructor(
    private readonly setting: HeapModeSetting,
    private readonly opts: HeapModeOptions = HEAP_MODE_DEFAULTS,
    private readonly deps: HeapModeDeps = NODE_HEAP_MODE_DEPS,
  ) {}

  /** The mode asked of V8; undefined while V8 runs its defaults untouched (`off`, or `auto` before its first window). */
  get current(): HeapModeName | undefined {
    return this.mode;
  }

  start(): void {
    if (this.setting === 'off' || this.timer) return;
    if (this.setting === 'on') return this.apply('size', 0);
    this.last = this.deps.utilization();
    this.timer = setInterval(() => this.check(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Reads the event loop's utilization since the last check: opens a size window on the quiet after a busy spell, closes it when it ran out or the node got busy. */
  check(): void {
    if (this.setting !== 'auto') return;
    const u = this.last ? this.deps.utilization(this.last).utilization : 0;
    this.last = this.deps.utilization();
    this.quietReadings = u < this.opts.quietBelow ? this.quietReadings + 1 : 0;
    if (u > this.opts.busyAbove) {
      this.busySinceWindow = true;
      this.windowLeft = 0;
      if (this.mode === 'size') this.apply('speed', u);
    } else if (this.busySinceWindow && this.quietReadings >= Math.max(1, Math.ceil(this.opts.quietForMs / this.opts.intervalMs))) {
      this.busySinceWindow = false;
      this.windowLeft = Math.max(1, Math.ceil(this.opts.compactWindowMs / this.opts.intervalMs));
      this.apply('size', u);
    } else if (this.mode === 'size' && --this.windowLeft <= 0) this.apply('speed', u);
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
