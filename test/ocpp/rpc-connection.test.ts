import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { OcppCallError } from '../../ocpp/errors.js';
import { RpcConnection, type CallHandler } from '../../ocpp/rpc-connection.js';
import { EMPTY_RESPONSE } from '../../ocpp/rpc-types.js';
import { idHash } from '../../ocpp/inbound-calls.js';
import { csHandler, RawPeer, sleep, startTestServer, type TestServer } from './helpers.js';

let server: TestServer;
let behaviour: CallHandler = csHandler;

afterEach(async () => {
  behaviour = csHandler;
  await server.stop();
});

async function setup(chargerId = 'CP-rpc'): Promise<{ peer: RawPeer; rpc: RpcConnection }> {
  server = await startTestServer({ handler: (a, p, c) => behaviour(a, p, c) });
  const accepted = server.nextConnection();
  const peer = await RawPeer.connect(server.url, chargerId);
  const { rpc } = await accepted;
  return { peer, rpc };
}

describe('duplicate incoming call ids', () => {
  it('a duplicate of a call in progress is dropped: the handler runs once, one answer', async () => {
    let runs = 0;
    behaviour = async (a, p, c) => {
      runs += 1;
      await sleep(50);
      return csHandler(a, p, c);
    };
    const { peer } = await setup();
    peer.send([2, 'dup-1', 'Heartbeat', {}]);
    peer.send([2, 'dup-1', 'Heartbeat', {}]);
    const answer = (await peer.next()) as unknown[];
    expect(answer.slice(0, 2)).toEqual([3, 'dup-1']);
    expect(await peer.silentFor(150)).toBe(true);
    expect(runs).toBe(1);
  });

  it('a duplicate of an answered call gets the cached answer without running the handler', async () => {
    let runs = 0;
    behaviour = (a, p, c) => {
      runs += 1;
      return csHandler(a, p, c);
    };
    const { peer } = await setup();
    const first = await peer.request('dup-2', 'Heartbeat', {});
    await sleep(5);
    const again = await peer.request('dup-2', 'Heartbeat', {});
    expect(again).toEqual(first);
    expect(runs).toBe(1);
    // A CALLERROR answer is cached too.
    const err = await peer.request('dup-3', 'BootNotification', {});
    expect(await peer.request('dup-3', 'BootNotification', {})).toEqual(err);
  });

  it('two ids with the same hash in the answer cache are told apart', async () => {
    // Two short ids whose idHash collides (found by search; 30 bits, so within some 10^5 tries).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const id = `c${i.toString(36)}`;
      const other = seen.get(idHash(id));
      if (other !== undefined) pair = [other, id];
      else seen.set(idHash(id), id);
    }
    let runs = 0;
    behaviour = (a, p, c) => {
      runs += 1;
      return csHandler(a, p, c);
    };
    const { peer } = await setup();
    const first = await peer.request(pair[0], 'Heartbeat', {});
    const second = await peer.request(pair[1], 'Heartbeat', {});
    expect(second.slice(0, 2)).toEqual([3, pair[1]]);
    expect(runs).toBe(2);
    expect(await peer.request(pair[0], 'Heartbeat', {})).toEqual(first);
    expect(await peer.request(pair[1], 'Heartbeat', {})).toEqual(second);
    expect(runs).toBe(2);
  });

  it('only about the last 32 answers are kept', async () => {
    let runs = 0;
    behaviour = (a, p, c) => {
      runs += 1;
      return csHandler(a, p, c);
    };
    const { peer } = await setup();
    for (let i = 0; i < 40; i++) await peer.request(`id-${i}`, 'Heartbeat', {});
    await peer.request('id-39', 'Heartbeat', {});
    expect(runs).toBe(40);
    await peer.request('id-0', 'Heartbeat', {});
    expect(runs).toBe(41);
  });
});

describe('incoming calls', () => {
  it('an empty response (EMPTY_RESPONSE) is framed as JSON.stringify frames it, whatever the id', async () => {
    behaviour = () => EMPTY_RESPONSE;
    const { peer } = await setup();
    const texts: string[] = [];
    peer.ws.on('message', (data) => texts.push(String(data)));
    for (const id of ['mv-1', 'a"b\\c', 'tab\there', 'ü-Ω']) {
      peer.send([2, id, 'MeterValues', { connectorId: 1, meterValue: [{ timestamp: '2026-12-05T11:13:51.123Z', sampledValue: [{ value: '1' }] }] }]);
      expect(await peer.next()).toEqual([3, id, {}]);
      expect(texts.at(-1)).toBe(JSON.stringify([3, id, {}]));
    }
  });

  it('are processed one at a time, in arrival order', async () => {
    let inHandler = 0;
    let maxInHandler = 0;
    const order: string[] = [];
    behaviour = async (action, payload, ctx) => {
      inHandler += 1;
      maxInHandler = Math.max(maxInHandler, inHandler);
      order.push(ctx.messageId);
      await sleep(payload.connectorId === 1 ? 40 : 1);
      inHandler -= 1;
      return csHandler(action, payload, ctx);
    };
    const { peer } = await setup();
    for (let i = 1; i <= 4; i++) peer.send([2, `q${i}`, 'StatusNotification', { connectorId: i, errorCode: 'NoError', status: 'Available' }]);
    const answers = [await peer.next(), await peer.next(), await peer.next(), await peer.next()] as unknown[][];
    expect(answers.map((a) => a[1])).toEqual(['q1', 'q2', 'q3', 'q4']);
    expect(order).toEqual(['q1', 'q2', 'q3', 'q4']);
    expect(maxInHandler).toBe(1);
  });

  it('calls that arrive before a handler is registered wait for it', async () => {
    const http = createServer();
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const wss = new WebSocketServer({ server: http });
    const serverSide = new Promise<WebSocket>((r) => wss.once('connection', r));
    const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
    await new Promise((r) => client.once('open', r));
    const rpc = new RpcConnection(await serverSide, { identity: 'late' });
    const answer = new Promise<unknown>((r) => client.once('message', (d) => r(JSON.parse(String(d)))));
    client.send(JSON.stringify([2, 'early', 'Heartbeat', {}]));
    await sleep(30);
    rpc.handle(csHandler);
    expect(((await answer) as unknown[]).slice(0, 2)).toEqual([3, 'early']);
    rpc.close();
    client.terminate();
    wss.close();
    http.closeAllConnections();
    await new Promise((r) => http.close(r));
  });
});

describe('outgoing calls against a hand-driven peer', () => {
  it('ids are unique and at most 36 characters', async () => {
    const { peer, rpc } = await setup();
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const done = rpc.call('ClearCache', {});
      const frame = (await peer.next()) as [number, string, string, object];
      expect(frame[0]).toBe(2);
      expect(frame[2]).toBe('ClearCache');
      expect(frame[1].length).toBeLessThanOrEqual(36);
      ids.add(frame[1]);
      peer.send([3, frame[1], { status: 'Accepted' }]);
      await done;
    }
    expect(ids.size).toBe(20);
  });

  it('an invalid CALLRESULT is rejected with the mapped code (strict)', async () => {
    const { peer, rpc } = await setup();
    const done = rpc.call('GetConfiguration', {}).catch((e: unknown) => e);
    const [, id] = (await peer.next()) as [number, string];
    peer.send([3, id, { configurationKey: 'all of them' }]);
    const err = await done;
    expect(err).toBeInstanceOf(OcppCallError);
    expect(err).toMatchObject({ code: 'TypeConstraintViolation', message: expect.stringContaining('configurationKey') });
  });

  it('a malformed reply to the outstanding call fails it at once, without a CALLERROR back', async () => {
    const { peer, rpc } = await setup();
    const done = rpc.call('ClearCache', {}).catch((e: unknown) => e);
    const [, id] = (await peer.next()) as [number, string];
    peer.send([3, id, 'Accepted']);
    expect(await done).toMatchObject({ code: 'FormationViolation' });
    expect(await peer.silentFor(50)).toBe(true);
    const next = rpc.call('ClearCache', {});
    const [, id2] = (await peer.next()) as [number, string];
    peer.send([3, id2, { status: 'Accepted' }]);
    expect(await next).toEqual({ status: 'Accepted' });
  });

  it('a non-object payload is refused locally', async () => {
    const { rpc } = await setup();
    await expect(rpc.callUntyped('ClearCache', [] as unknown)).rejects.toMatchObject({ code: 'TypeConstraintViolation' });
  });
});
