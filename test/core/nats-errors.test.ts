import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJson } from '../../core/kv-json.js';
import { connectBus, encodeJson, type Bus } from '../../core/nats.js';
import { classifyNatsError } from '../../core/nats-errors.js';
import { buckets } from '../../core/subjects.js';
import { startTestNats } from '../support/nats.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let bus: Bus;

beforeAll(async () => {
  nats = await startTestNats();
  bus = await connectBus({ url: nats.url });
});
afterAll(async () => {
  await bus?.close();
  await nats?.cleanup();
});

/** The classifier against the errors a real nats-server makes the client throw. */
describe('classifyNatsError', () => {
  it('a request nobody listens to is no-responders', async () => {
    const err = await bus.nc.request('nobody.listens.here', encodeJson({}), { timeout: 1_000 }).catch((e: unknown) => e);
    expect(classifyNatsError(err)).toBe('no-responders');
  });

  it('a request nobody answers is a timeout', async () => {
    const sub = bus.nc.subscribe('silent.responder');
    const err = await bus.nc.request('silent.responder', encodeJson({}), { timeout: 100 }).catch((e: unknown) => e);
    sub.unsubscribe();
    expect(classifyNatsError(err)).toBe('timeout');
  });

  it('a lost compare-and-set is wrong-last-sequence', async () => {
    const kv = bus.kv[buckets.chargerState];
    const rev = await kv.put('cas-test', encodeJson(1));
    await kv.put('cas-test', encodeJson(2));
    const err = await kv.update('cas-test', encodeJson(3), rev).catch((e: unknown) => e);
    expect(classifyNatsError(err)).toBe('wrong-last-sequence');
    expect(await createJson(kv, 'cas-test', 4)).toBe(false);
  });

  it('a missing stream is not-found; anything else is other', async () => {
    const err = await bus.jsm.streams.info('NO_SUCH_STREAM').catch((e: unknown) => e);
    expect(classifyNatsError(err)).toBe('not-found');
    expect(classifyNatsError(new Error('wrong last sequence'))).toBe('other');
  });
});
