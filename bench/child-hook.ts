/**
 * Preloaded (`--import`) into the server processes of the benchmark, which start with --expose-gc:
 * SIGUSR2 runs a full garbage collection so RSS is read after a GC, the same way for every server;
 * the process exits by itself when the bench that started it is gone.
 */
const gc = (globalThis as { gc?: () => void }).gc;

process.on('SIGUSR2', () => {
  gc?.();
  setTimeout(() => gc?.(), 250).unref();
});

const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 1_000).unref();
