import type { KV, KvWatchEntry } from '@nats-io/kv';
import { decodeJson } from './nats.js';

/**
 * Watches a whole bucket: `apply(key, value | undefined)` for every current entry, then for every
 * change. Resolves once the current entries are applied, with a function that stops the watch.
 */
export async function watchBucket(kv: KV, apply: (key: string, value: unknown) => void): Promise<() => void> {
  const iter = await kv.watch();
  let ready!: () => void;
  const loaded = new Promise<void>((r) => (ready = r));
  void (async () => {
    for await (const e of iter as AsyncIterable<KvWatchEntry>) {
      apply(e.key, e.operation === 'PUT' && e.length > 0 ? decodeJson(e.value) : undefined);
      if (e.delta === 0) ready();
    }
  })();
  // An empty bucket delivers no initial entry at all.
  if ((await kv.status()).values === 0) ready();
  await loaded;
  return () => iter.stop();
}
