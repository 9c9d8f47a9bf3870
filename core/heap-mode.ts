import { setFlagsFromString } from 'node:v8';

/**
 * V8's "optimize for size" heap mode for a node process (V8_OPTIMIZE_FOR_SIZE, on by default).
 *
 * Why: a connect storm promotes the temporaries of thousands of handshakes (HTTP upgrade, auth,
 * first BootNotification) to the old space beside the sessions that stay, and they die there. V8's
 * default full GC only evacuates pages that are mostly empty (a few MiB per GC), so after the storm
 * the old space stayed committed at about 1.7x what was live: 6-9 KiB per idle charger of resident
 * but empty heap, never given back (the memory reducer did not run while the node served its
 * sockets). In this mode V8 compacts pages that are only partly empty, and its memory reducer runs
 * once the node is quiet: the heap it keeps stays close to what is live (bench/rss-timeline.ts).
 *
 * Set at run time (not as a `node` option) so every way a node process starts (npm start, the bench,
 * the simulator's child nodes, scripts/cluster.sh) runs the same heap mode from one place; V8 reads
 * this flag at each GC decision. Only the process entry point calls it: tests that start nodes in
 * their own process are not changed.
 */
export function applyHeapMode(optimizeForSize: boolean): void {
  if (optimizeForSize) setFlagsFromString('--optimize-for-size');
}
