/**
 * Preloaded (`--import`) into the server processes of the benchmark, which start with --expose-gc:
 * SIGUSR2 runs a full garbage collection and prints the process's memory use as a JSON line
 * (`{"event":"memory",...}`), so every server is measured the same way; the process exits by itself
 * when the bench that started it is gone.
 */
const gc = (globalThis as { gc?: () => void }).gc;

process.on('SIGUSR2', () => {
  gc?.();
  setTimeout(() => {
    gc?.();
    const m = process.memoryUsage();
    process.stdout.write(`${JSON.stringify({ event: 'memory', rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers })}\n`);
  }, 250).unref();
});

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 1_000).unref();
