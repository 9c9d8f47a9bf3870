import { performance } from 'node:perf_hooks';

/**
 * Scenario time for a simulation that runs `compression` times faster than real time. Everything in
 * the simulator (scenario times, car delays, meter interval) is in scenario milliseconds; only the
 * platform and the sockets live in real time. `now()` is scenario ms since `start()`.
 */
export class SimClock {
  private realStart = 0;
  private started = false;

  constructor(readonly compression: number) {
    if (!(compression > 0)) throw new RangeError('compression must be > 0');
  }

  start(): void {
    this.realStart = performance.now();
    this.started = true;
  }

  get isStarted(): boolean {
    return this.started;
  }

  now(): number {
    return this.started ? (performance.now() - this.realStart) * this.compression : 0;
  }

  /** Real milliseconds for a span of scenario milliseconds. */
  toReal(simMs: number): number {
    return simMs / this.compression;
  }

  /** Scenario milliseconds for a span of real milliseconds. */
  toSim(realMs: number): number {
    return realMs * this.compression;
  }
}

interface Entry {
  at: number;
  seq: number;
  fn: (t: number) => void;
  cancelled: boolean;
}

export interface TimerHandle {
  cancel(): void;
}

/**
 * A discrete-event scheduler synchronised to the wall clock: events run in scenario-time order,
 * each with the scenario time it was scheduled for (not the time its JS timer fired), so physics
 * stays exact when the event loop is late. Inputs from the outside (OCPP messages) enter through
 * `external`, which first runs every event that is due, so time never goes backwards.
 */
export class Scheduler {
  private heap: Entry[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private lastT = 0;
  private running = false;
  private processing = false;
  /** Largest lateness of an event seen, in real ms (how far the event loop fell behind). */
  maxLagRealMs = 0;
  private lagSamples: number[] = [];

  constructor(readonly clock: SimClock) {}

  /** The scenario time of the event being processed, or of the latest one. */
  get time(): number {
    return this.lastT;
  }

  start(): void {
    this.running = true;
    this.arm();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  at(at: number, fn: (t: number) => void): TimerHandle {
    const e: Entry = { at: Math.max(at, this.lastT), seq: this.seq++, fn, cancelled: false };
    this.push(e);
    if (!this.processing) this.arm();
    return { cancel: () => void (e.cancelled = true) };
  }

  after(delay: number, fn: (t: number) => void): TimerHandle {
    return this.at(this.lastT + Math.max(0, delay), fn);
  }

  /** Runs `fn` now (scenario time), after every event that is due. */
  external(fn: (t: number) => void): void {
    this.advance();
    const t = Math.max(this.lastT, this.clock.now());
    this.lastT = t;
    fn(t);
    this.arm();
  }

  /** Runs every event due by now, in order. */
  advance(until = this.clock.now()): void {
    if (this.processing) return;
    this.processing = true;
    try {
      for (;;) {
        const top = this.heap[0];
        if (!top || top.at > until) break;
        this.pop();
        if (top.cancelled) continue;
        this.lastT = Math.max(this.lastT, top.at);
        const lag = this.clock.toReal(until - top.at);
        if (lag > this.maxLagRealMs) this.maxLagRealMs = lag;
        if (this.lagSamples.length < 200_000) this.lagSamples.push(lag);
        top.fn(this.lastT);
      }
    } finally {
      this.processing = false;
    }
  }

  /** Lateness percentile of processed events (real ms). */
  lagPercentile(q: number): number {
    if (this.lagSamples.length === 0) return 0;
    const sorted = [...this.lagSamples].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  }

  private arm(): void {
    if (!this.running) return;
    const top = this.heap[0];
    const at = top ? top.at : Infinity;
    if (at >= this.timerAt && this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    if (at === Infinity) return;
    const delay = Math.max(0, this.clock.toReal(at - this.clock.now()));
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.advance();
      this.arm();
    }, delay);
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (!last || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
