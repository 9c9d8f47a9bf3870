// Plain JavaScript: it is preloaded into every server process of the benchmark, also the platform
// nodes that run the compiled build without the TypeScript loader.
import { createInterface } from 'node:readline';
import { appendFileSync } from 'node:fs';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

/**
 * Preloaded (`--import`) into the server processes of the benchmark, which start with --expose-gc:
 * SIGUSR2 runs a full garbage collection and prints the process's memory use as a JSON line
 * (`{"event":"memory",...}`), so every server is measured the same way; `heap-snapshot <file>` on
 * stdin writes a V8 heap snapshot after a full GC (`{"event":"heap-snapshot","file":...}`); the
 * process exits by itself when the bench that started it is gone.
 */
const gc = globalThis.gc;

process.on('SIGUSR2', () => {
  gc?.();
  setTimeout(() => {
    gc?.();
    const m = process.memoryUsage();
    // BENCH_SPACES_FILE=<file>: V8's heap spaces (committed and used KiB) at each measurement, to see where RSS beyond the live heap sits.
    if (process.env.BENCH_SPACES_FILE) {
      const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, [Math.round(s.physical_space_size / 1024), Math.round(s.space_used_size / 1024)]]));
      appendFileSync(process.env.BENCH_SPACES_FILE, `${JSON.stringify({ pid: process.pid, argv: process.argv.slice(-1)[0], rss: m.rss >> 10, heapTotal: m.heapTotal >> 10, heapUsed: m.heapUsed >> 10, spaces })}\n`);
    }
    process.stdout.write(`${JSON.stringify({ event: 'memory', rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers })}\n`);
  }, 250).unref();
});

// Writing a snapshot stops the process for seconds, so a NATS request or ping of the platform may
// time out meanwhile; the rejections of that window are printed, not fatal, for half a minute.
const pausedRejection = (reason) => process.stderr.write(`rejection while paused for a heap snapshot: ${String(reason)}\n`);

createInterface({ input: process.stdin }).on('line', (line) => {
  // `spaces`: memory use and V8's heap spaces as they are, without a GC (how RSS evolves by itself).
  if (line.trim() === 'spaces') {
    const m = process.memoryUsage();
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, [Math.round(s.physical_space_size / 1024), Math.round(s.space_used_size / 1024)]]));
    process.stdout.write(`${JSON.stringify({ event: 'spaces', rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, spaces })}\n`);
    return;
  }
  const m = /^heap-snapshot (.+)$/.exec(line.trim());
  if (!m?.[1]) return;
  process.on('unhandledRejection', pausedRejection);
  gc?.();
  const file = writeHeapSnapshot(m[1]);
  process.stdout.write(`${JSON.stringify({ event: 'heap-snapshot', file })}\n`);
  setTimeout(() => process.off('unhandledRejection', pausedRejection), 30_000).unref();
});

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 1_000).unref();
