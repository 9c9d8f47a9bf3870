// Plain JavaScript: preloaded (NODE_OPTIONS=--import) into every Node process of a bench run with
// `--trace-stalls`, also the platform nodes that run the compiled build without the TypeScript loader.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';

/**
 * Writes this process's pauses to `$STALL_TRACE_DIR/<pid>.jsonl`, on the machine's wall clock (ms,
 * fractional), so a slow event can be laid beside what every process did at that moment:
 * - `loop`: the event loop came back late by `ms`; `cpuMs` is the CPU this process used meanwhile
 *   (about `ms`: it was running, e.g. a long task or a GC; about 0: it waited for a core or the kernel);
 * - `gc`: a garbage collection pause of `ms` (V8's kind: 1 scavenge, 2 mark-compact, 4 incremental, 8 weak callbacks).
 */
const dir = process.env.STALL_TRACE_DIR;
if (dir) {
  const TICK_MS = 5;
  const LATE_MS = 10;
  const GC_MS = 2;
  const file = join(dir, `${process.pid}.jsonl`);
  const who = process.env.NODE_ID ?? process.argv.slice(-1)[0]?.split('/').pop() ?? '?';
  const wall = (t) => performance.timeOrigin + t;
  let pending = [];
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const late = now - last - TICK_MS;
    if (late > LATE_MS) {
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      pending.push({ k: 'loop', t: wall(last), ms: Number(late.toFixed(1)), cpuMs: Number(cpuMs.toFixed(1)) });
    }
    last = now;
    lastCpu = cpu;
  }, TICK_MS).unref();
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.duration > GC_MS) pending.push({ k: 'gc', t: wall(e.startTime), ms: Number(e.duration.toFixed(1)), kind: e.detail?.kind });
  }).observe({ entryTypes: ['gc'] });
  const flush = () => {
    if (pending.length === 0) return;
    appendFileSync(file, pending.map((r) => JSON.stringify({ who, pid: process.pid, ...r })).join('\n') + '\n');
    pending = [];
  };
  setInterval(flush, 1_000).unref();
  process.on('exit', flush);
}
