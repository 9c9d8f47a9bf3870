import { afterAll, describe, expect, it } from 'vitest';
import { connectBus } from '../../core/nats.js';
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
});
