import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseBasicAuth, parseChargerId, REPLACED_CLOSE_CODE, REPLACED_CLOSE_REASON } from '../../ocpp/server.js';
import { basicAuth, PASSWORD, RawPeer, sleep, startTestServer, waitFor, type TestServer } from './helpers.js';

let server: TestServer;
afterEach(async () => {
  await server.stop();
});

interface Refusal {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
}

/** Opens a WebSocket and expects an HTTP refusal instead of the 101. */
function refusal(url: string, protocols: string[], headers: Record<string, string> = {}): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.on('open', () => reject(new Error('the handshake was accepted')));
    ws.on('error', () => undefined);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
  });
}

describe('handshake', () => {
  beforeEach(async () => {
    server = await startTestServer();
  });

  it('a wrong path is 404', async () => {
    const auth = { authorization: basicAuth('CP1', PASSWORD) };
    const base = `ws://127.0.0.1:${server.port}`;
    for (const path of ['/', '/ocpp', '/ocpp/', '/other/CP1', '/ocpp/CP1/extra', `/ocpp/${'x'.repeat(49)}`, '/ocpp/a%2Fb', '/ocpp/%E0%A4%A']) {
      expect((await refusal(`${base}${path}`, ['ocpp1.6'], auth)).status, path).toBe(404);
    }
    expect(server.connected).toHaveLength(0);
  });

  it('without the ocpp1.6 subprotocol it is 400 and says so', async () => {
    const auth = { authorization: basicAuth('CP1', PASSWORD) };
    for (const protocols of [[], ['ocpp2.0.1']]) {
      const res = await refusal(`${server.url}/CP1`, protocols, auth);
      expect(res.status).toBe(400);
      expect(res.body).toContain('ocpp1.6');
    }
  });

  it('no Authorization header is 401 with a Basic challenge, and the refusal is logged without a password', async () => {
    const res = await refusal(`${server.url}/CP1`, ['ocpp1.6']);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="ocpp"');
    const line = server.logger.find('warn', 'OCPP connection refused');
    expect(line?.obj).toMatchObject({ chargerId: 'CP1', reason: 'no password' });
    expect(line?.obj.remoteAddress).toBeTypeOf('string');
  });

  it('a user that is not the charger id is 401', async () => {
    const res = await refusal(`${server.url}/CP1`, ['ocpp1.6'], { authorization: basicAuth('CP2', PASSWORD) });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="ocpp"');
  });

  it('authenticate refusing is 401 for unknown ids and wrong passwords alike, logged with charger, address and reason, never the password', async () => {
    const wrong = await refusal(`${server.url}/CP1`, ['ocpp1.6'], { authorization: basicAuth('CP1', 'hunter2') });
    expect(wrong.status).toBe(401);
    const unknown = await refusal(`${server.url}/unknown-CP`, ['ocpp1.6'], { authorization: basicAuth('unknown-CP', PASSWORD) });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toBe(wrong.body);
    expect(server.logger.find('warn', 'OCPP connection refused')?.obj).toMatchObject({ chargerId: 'CP1', reason: 'wrong password' });
    expect(JSON.stringify(server.logger.lines)).not.toContain('hunter2');
    expect(JSON.stringify(server.logger.lines)).not.toContain(PASSWORD);
  });

  it('a malformed Authorization header is 401', async () => {
    const res = await refusal(`${server.url}/CP1`, ['ocpp1.6'], { authorization: 'Bearer abc' });
    expect(res.status).toBe(401);
  });

  it('valid credentials connect, with ocpp1.6 chosen among the offered protocols', async () => {
    const accepted = server.nextConnection();
    const ws = new WebSocket(`${server.url}/CP%201`, ['ocpp2.0.1', 'ocpp1.6'], { headers: { authorization: basicAuth('CP 1', PASSWORD) } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    expect(ws.protocol).toBe('ocpp1.6');
    const conn = await accepted;
    expect(conn.chargerId).toBe('CP 1');
    expect(conn.context).toEqual({ chargerId: 'CP 1' });
    expect(conn.rpc.identity).toBe('CP 1');
    expect(server.ocpp.connections.get('CP 1')).toBe(conn.rpc);
    ws.close();
    await waitFor(() => !server.ocpp.connections.has('CP 1'));
  });
});

describe('connections', () => {
  it('an oversize frame closes with 1009 and the reason is logged with the charger id', async () => {
    server = await startTestServer({ maxFrameBytes: 1024 });
    const peer = await RawPeer.connect(server.url, 'CP-big');
    peer.send([2, 'big', 'DataTransfer', { vendorId: 'acme', data: 'x'.repeat(2000) }]);
    const closed = await peer.closed;
    expect(closed.code).toBe(1009);
    const line = server.logger.find('warn', 'exceeds the maximum size');
    expect(line?.obj).toMatchObject({ identity: 'CP-big', closeCode: 1009 });
    await waitFor(() => server.logger.find('info', 'disconnected') !== undefined);
    expect(server.logger.find('info', 'disconnected')?.obj).toMatchObject({ chargerId: 'CP-big', code: 1009, reason: expect.stringContaining('frame too large') });
    expect(server.ocpp.connections.has('CP-big')).toBe(false);
  });

  it('a frame just under the limit is fine', async () => {
    server = await startTestServer({ maxFrameBytes: 1024 });
    const peer = await RawPeer.connect(server.url, 'CP-ok');
    const answer = await peer.request('ok', 'DataTransfer', { vendorId: 'acme', data: 'x'.repeat(900) });
    expect(answer[0]).toBe(3);
    peer.close();
  });

  it('a second connection for the same charger replaces the first', async () => {
    server = await startTestServer();
    const first = await RawPeer.connect(server.url, 'CP-twice');
    await waitFor(() => server.connected.length === 1);
    const firstRpc = server.ocpp.connections.get('CP-twice');
    const second = await RawPeer.connect(server.url, 'CP-twice');
    const closed = await first.closed;
    expect(closed).toEqual({ code: REPLACED_CLOSE_CODE, reason: REPLACED_CLOSE_REASON });
    await waitFor(() => server.connected.length === 2);
    // The old connection's close must not remove the new entry.
    await sleep(50);
    const current = server.ocpp.connections.get('CP-twice');
    expect(current).toBeDefined();
    expect(current).not.toBe(firstRpc);
    expect(current).toBe(server.connected[1]?.rpc);
    expect(firstRpc?.isOpen).toBe(false);
    expect((await second.request('after', 'Heartbeat', {}))[0]).toBe(3);
    second.close();
  });

  it('a peer that stops answering pings is terminated', async () => {
    server = await startTestServer({ pingIntervalMs: 100 });
    const mute = await RawPeer.connect(server.url, 'CP-mute', { autoPong: false });
    const healthy = await RawPeer.connect(server.url, 'CP-healthy');
    const started = Date.now();
    const closed = await mute.closed;
    expect(closed.code).toBe(1006);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(server.logger.find('warn', 'no WebSocket pong')?.obj).toMatchObject({ identity: 'CP-mute' });
    await sleep(250);
    expect(healthy.ws.readyState).toBe(WebSocket.OPEN);
    expect(server.ocpp.connections.has('CP-healthy')).toBe(true);
    expect(server.ocpp.connections.has('CP-mute')).toBe(false);
    healthy.close();
  });

  it('close() closes every socket with 1001', async () => {
    server = await startTestServer();
    const a = await RawPeer.connect(server.url, 'CP-a');
    const b = await RawPeer.connect(server.url, 'CP-b');
    await server.ocpp.close();
    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
    expect(server.ocpp.connections.size).toBe(0);
  });
});

describe('parsers', () => {
  it('parseChargerId', () => {
    expect(parseChargerId('/ocpp/CP1')).toBe('CP1');
    expect(parseChargerId('/ocpp/CP%201?x=1')).toBe('CP 1');
    expect(parseChargerId(`/ocpp/${'a'.repeat(48)}`)).toBe('a'.repeat(48));
    for (const bad of [undefined, '/ocpp/', '/ocpp/a/b', '/ocpp/a%2Fb', `/ocpp/${'a'.repeat(49)}`, '/ocpp/%zz', '/ocpp/a%0Ab', '/x/CP1']) {
      expect(parseChargerId(bad), String(bad)).toBeUndefined();
    }
  });

  it('parseBasicAuth', () => {
    expect(parseBasicAuth(basicAuth('CP1', 'p:w'))).toEqual({ user: 'CP1', password: 'p:w' });
    expect(parseBasicAuth(basicAuth('CP1', ''))).toEqual({ user: 'CP1', password: '' });
    expect(parseBasicAuth(undefined)).toBeUndefined();
    expect(parseBasicAuth('Basic !!!')).toBe('malformed');
    expect(parseBasicAuth(`Basic ${Buffer.from('nocolon').toString('base64')}`)).toBe('malformed');
  });
});
