import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeterEvent } from '../../core/events.js';
import { decodeJson } from '../../core/nats.js';
import { subjects } from '../../core/subjects.js';
import { EventBatch } from '../../south/event-batch.js';
import { startTestNats } from '../support/nats.js';
import { waitFor } from '../support/platform.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let pub: NatsConnection;
let sub: NatsConnection;

beforeAll(async () => {
  nats = await startTestNats();
  pub = await connect({ servers: nats.url, ...nats.auth });
  sub = await connect({ servers: nats.url, ...nats.auth });
});
afterAll(async () => {
  await sub?.close();
  await pub?.close();
  await nats?.cleanup();
});

const meter = (chargerId: string, t1: number): MeterEvent => ({ kind: 'meter', chargerId, installationId: 'eb-1', connectorId: 1, currents: { t1 }, timestamp: new Date(0).toISOString() });

describe('EventBatch (real NATS)', () => {
  it('publishes the events of one turn after it, in order; an explicit flush sends at once; a closed connection drops and reports', async () => {
    const seen: number[] = [];
    const s = sub.subscribe(subjects.chargerEvent('eb-1', '*', 'meter'), {
      callback: (_err, msg) => {
        seen.push(decodeJson<MeterEvent>(msg.data).currents.t1!);
      },
    });
    await sub.flush();
    const dropped: number[] = [];
    const batch = new EventBatch(pub, (_err, count) => dropped.push(count));
    let published = 0;
    const counting = pub.stats.bind(pub);
    for (let i = 1; i <= 5; i++) batch.publish(meter(`EB-${i % 2}`, i));
    // Nothing left this process in the turn the events were queued in.
    expect(counting().outMsgs).toBe(published);
    await waitFor(() => (seen.length === 5 ? true : undefined), 3_000, 'five events');
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    published = counting().outMsgs;

    batch.publish(meter('EB-1', 6));
    batch.flush();
    expect(counting().outMsgs).toBe(published + 1);
    await waitFor(() => (seen.length === 6 ? true : undefined), 3_000, 'the flushed event');

    const closing = await connect({ servers: nats.url, ...nats.auth });
    const late = new EventBatch(closing, (_err, count) => dropped.push(count));
    late.publish(meter('EB-1', 7));
    late.publish(meter('EB-1', 8));
    await closing.close();
    late.flush();
    expect(dropped).toEqual([2]);
    s.unsubscribe();
  });
});
