import { afterAll, describe, expect, it } from 'vitest';
import { connectBus, leaderReadKv } from '../../core/nats.js';
import { buckets, streams } from '../../core/subjects.js';
import { killAll, startNatsCluster, type NatsCluster } from './processes.js';

let nats: NatsCluster | undefined;
afterAll(async () => {
  await nats?.stop();
  await killAll();
});

describe('NATS_REPLICAS on a 3-server cluster', () => {
  it('buckets and streams made with 1 replica are scaled up to 3 by a node started with NATS_REPLICAS=3, and never down', { timeout: 60_000 }, async () => {
    nats = await startNatsCluster(3, 'replicas');
    const names = [...Object.values(buckets).map((b) => `KV_${b}`), ...Object.values(streams)];
    const first = await connectBus({ url: nats.natsUrl, replicas: 1 });
    expect((await first.jsm.streams.info(streams.transactions)).config.num_replicas).toBe(1);
    await first.close();

    const scaled = await connectBus({ url: nats.natsUrl, replicas: 3 });
    for (const n of names) expect((await scaled.jsm.streams.info(n)).config.num_replicas, n).toBe(3);
    await scaled.close();

    // A node with the default (1) does not take copies away.
    const low = await connectBus({ url: nats.natsUrl, replicas: 1 });
    for (const n of names) expect((await low.jsm.streams.info(n)).config.num_replicas, n).toBe(3);
    await low.close();
  });

  it('the balancer limits read through the stream leader: what was just written, from any server', { timeout: 60_000 }, async () => {
    // A write is acknowledged once a majority has it; a lagging replica answering a direct get would
    // still return the value before it (plain bucket handles do: 10 in 300 here).
    const writer = await connectBus({ url: nats!.urls[0]!, replicas: 3, name: 'writer' });
    const reader = await connectBus({ url: nats!.urls[2]!, replicas: 3, name: 'reader' });
    const allocations = await leaderReadKv(reader, buckets.allocations);
    const stale: string[] = [];
    for (let i = 0; i < 300; i++) {
      const key = `ryw-${i % 20}`;
      await writer.kv[buckets.allocations].put(key, new TextEncoder().encode(String(i)));
      const got = await allocations.get(key);
      if (new TextDecoder().decode(got?.value) !== String(i)) stale.push(`${key}: wrote ${i}, read ${got ? new TextDecoder().decode(got.value) : 'nothing'}`);
    }
    await writer.close();
    await reader.close();
    expect(stale).toEqual([]);
  });
});
