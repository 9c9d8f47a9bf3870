import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNatsServer, freePort } from '../../core/embedded-nats.js';
import { createJson } from '../../core/kv-json.js';
import { connectBus, encodeJson, ensureStream, retryTransient, type Bus } from '../../core/nats.js';
import { classifyNatsError, isTransientNatsError } from '../../core/nats-errors.js';
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

  it('a stream whose name or subjects are taken is exists', async () => {
    await bus.jsm.streams.add({ name: 'TAKEN', subjects: ['taken.>'] });
    const sameName = await bus.jsm.streams.add({ name: 'TAKEN', subjects: ['taken.>'], max_msgs: 5 }).catch((e: unknown) => e);
    const sameSubjects = await bus.jsm.streams.add({ name: 'TAKEN_TOO', subjects: ['taken.>'] }).catch((e: unknown) => e);
    expect([classifyNatsError(sameName), classifyNatsError(sameSubjects)]).toEqual(['exists', 'exists']);
  });
});

describe('ensureStream', () => {
  it('a stream that is there after all, although its info said "not found", is updated, not a failed start', async () => {
    await bus.jsm.streams.add({ name: 'RESTARTED', subjects: ['restarted.>'], max_msgs_per_subject: 10 });
    // The answer a busy cluster gave every node restarting at once: the first info request says "not found".
    const notFound = await bus.jsm.streams.info('NO_SUCH_STREAM').catch((e: unknown) => e);
    let infos = 0;
    const streams = new Proxy(bus.jsm.streams, {
      get: (target, prop, receiver) =>
        prop === 'info' && infos++ === 0 ? () => Promise.reject(notFound) : (Reflect.get(target, prop, receiver) as unknown),
    });
    const jsm = new Proxy(bus.jsm, { get: (target, prop, receiver) => (prop === 'streams' ? streams : (Reflect.get(target, prop, receiver) as unknown)) });
    await ensureStream(jsm, { name: 'RESTARTED', subjects: ['restarted.>'], max_msgs_per_subject: 20, num_replicas: 1 });
    expect((await bus.jsm.streams.info('RESTARTED')).config.max_msgs_per_subject).toBe(20);
  });
});

/**
 * A clustered nats-server whose peers never come: its JetStream meta group has no leader, so after
 * its election timeout (about 10 s) it answers JetStream API calls "temporarily unavailable" (10008),
 * the error a node starting against an electing cluster sees.
 */
describe('JetStream without a meta leader', () => {
  it('is unavailable: transient, retried by the setup; the same words in another error are not', async () => {
    const [port, routePort, absent1, absent2] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'nats-noquorum-'));
    const routes = [routePort, absent1, absent2].map((p) => `nats://127.0.0.1:${p}`).join(',');
    const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-n', 'alone', '--cluster_name', 'noquorum', '--cluster', `nats://127.0.0.1:${routePort}`, '--routes', routes, '-sd', dir];
    const server = spawn(findNatsServer()!, args, { stdio: 'ignore' });
    try {
      // The server may not listen yet: the first connection is retried until it does.
      const nc = await connect({ servers: `127.0.0.1:${port}`, waitOnFirstConnect: true, reconnectTimeWait: 100 });
      const jsm = await jetstreamManager(nc, { timeout: 500, checkAPI: false });
      const addStream = () => jsm.streams.add({ name: 'NOQUORUM', subjects: ['noquorum.>'] });
      // Timeouts until the server gives up on an election, then the typed answer.
      let err: unknown;
      const deadline = Date.now() + 30_000;
      do err = await addStream().catch((e: unknown) => e);
      while (classifyNatsError(err) === 'timeout' && Date.now() < deadline);
      expect(classifyNatsError(err)).toBe('unavailable');
      expect(isTransientNatsError(err)).toBe(true);

      let calls = 0;
      const once = async () => {
        calls++;
        if (calls === 1) await addStream();
        return 'done';
      };
      await expect(retryTransient(once, 3, 1)).resolves.toBe('done');
      expect(calls).toBe(2);
      // Told by type, not by message: a plain error with the server's words is final at once.
      calls = 0;
      const words = new Error((err as Error).message);
      await expect(
        retryTransient(async () => {
          calls++;
          throw words;
        }, 3, 1),
      ).rejects.toBe(words);
      expect(calls).toBe(1);
      await nc.close();
    } finally {
      server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 45_000);
});
