import { readFileSync } from 'node:fs';

/**
 * glibc malloc settings a platform node process is started with (GLIBC_TUNABLES, read by the C
 * library when the process starts: they cannot be set from inside it, so every place that starts a
 * node passes them: `npm start`, scripts/cluster.sh, the simulator's child node and the bench's nodes).
 *
 * Why: glibc raises its mmap threshold to the size of the largest mmapped block freed so far (up to
 * 32 MiB) and its trim threshold to twice that, for every arena of the process. One scrypt (a 16 MiB
 * block, core/scrypt-thread.ts) thus let every arena keep up to 32 MiB it had freed, and served
 * buffers of 128 KiB to 16 MiB from the arenas instead of mmap: in the load scenario the node's malloc
 * arenas held 70 MiB with 9 MiB in use (malloc_stats), peak RSS 226 MiB; with the threshold fixed,
 * 16 MiB resident and a peak of 174 MiB. A fixed threshold turns that adjustment off: blocks from 128 KiB up are
 * mapped and given back when freed, and an arena gives back a free top over 128 KiB (glibc's
 * defaults before any adjustment). The price: each scrypt maps and faults in its 16 MiB afresh
 * (38 ms per hash instead of 33), which only a charger's first connection and an installation
 * password being set pay.
 *
 * Other C libraries ignore the variable.
 */
export const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=131072';

/** GLIBC_TUNABLES for a node process started from `env`: what `env` sets there, then MALLOC_TUNABLES (as `npm start` and scripts/cluster.sh add it). */
export function mallocTunablesEnv(env: NodeJS.ProcessEnv = process.env): { GLIBC_TUNABLES: string } {
  return { GLIBC_TUNABLES: env.GLIBC_TUNABLES ? `${env.GLIBC_TUNABLES}:${MALLOC_TUNABLES}` : MALLOC_TUNABLES };
}

/** Whether this process runs on glibc (Linux) and was started without a fixed mmap threshold (main.ts warns). */
export function mallocTunablesMissing(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform !== 'linux' || (env.GLIBC_TUNABLES ?? '').includes('glibc.malloc.mmap_threshold=')) return false;
  try {
    return /\/libc\.so\.6$/m.test(readFileSync('/proc/self/maps', 'utf8'));
  } catch {
    return false;
  }
}
