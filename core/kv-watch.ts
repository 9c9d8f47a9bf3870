import type { KV, KvWatchEntry } from '@nats-io/kv';
import { decodeJson } from './nats.js';

/**
 * A watch whose current entries have not all come in by then is stopped and started again. Seen
 * once in the cluster e2e: the first node of a fresh 3-server cluster, its R3 buckets just created,
 * waited 90 s after "config cache loaded" and never listened, logging nothing.
 */
const LOAD_ATTEMPT_MS = 10_000;
const LOAD_ATTEMPTS = 6;

/**
 * Watches a whole bucket: `apply(key, value | undefined)` for every current entry, then for every
 * change. Resolves once the current entries are applied, with a function that stops the watch.
 * Entries may be applied twice (a watch started again): `apply` sets state, it does not count.
 */
export async function watchBucket(kv: KV, apply: (key: string, value: unknown) => void): Promise<() => void> {
  for (let attempt = 1; ; attempt++) {
    const iter = await kv.watch();
    let ready!: () => void;
    const loaded = new Promise<boolean>((r) => (ready = () => r(true)));
    void (async () => {
      for await (const e of iter as AsyncIterable<KvWatchEntry>) {
        apply(e.key, e.operation === 'PUT' && e.length > 0 ? decodeJson(e.value) : undefined);
        if (e.delta === 0) ready();
      }
    })();
    // An empty bucket delivers no initial entry at all.
    const status = await kv.status();
    if (status.values === 0) ready();
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([loaded, new Promise<boolean>((r) => (timer = setTimeout(() => r(false), LOAD_ATTEMPT_MS)))]);
    clearTimeout(timer);
    if (inTime) return () => iter.stop();
    iter.stop();
    if (attempt >= LOAD_ATTEMPTS) throw new Error(`the watch of bucket ${status.bucket} delivered not all of its current entries in ${LOAD_ATTEMPTS} attempts of ${LOAD_ATTEMPT_MS} ms`);
  }
}
