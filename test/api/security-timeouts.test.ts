import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { build } from '../../api/app.js';
import { STATUS_ACTION } from '../../core/commands.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, ocppCall, startTestNode, strictCharger, waitFor } from '../support/platform.js';
import { startApi, type ApiHarness } from './harness.js';

/**
 * Issue 16: a client trickling a request must not hold a socket for minutes, and neither port takes
 * more sockets than its cap. Real servers, raw sockets.
 */
interface Probe {
  socket: Socket;
  data: string;
  closed: boolean;
  closedAt: number;
}

function open(port: number): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const p: Probe = { socket: connect(port, '127.0.0.1'), data: '', closed: false, closedAt: 0 };
    p.socket.on('data', (d) => (p.data += d.toString()));
    p.socket.on('close', () => {
      p.closed = true;
      p.closedAt = Date.now();
    });
    p.socket.on('error', () => undefined);
    p.socket.once('connect', () => resolve(p));
    p.socket.once('error', reject);
  });
}

/** Writes one byte at a time, as a slow-loris client does, until the socket closes. */
function trickle(p: Probe, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (p.closed || i >= text.length) return clearInterval(timer);
    p.socket.write(text[i++]!);
  }, everyMs);
}

const port = (server: { address(): unknown }) => (server.address() as AddressInfo).port;

describe('API port', () => {
  let h: ApiHarness;
  let capped: FastifyInstance;
  beforeAll(async () => {
    h = await startApi({ limits: { requestTimeoutMs: 400, headersTimeoutMs: 400, keepAliveTimeoutMs: 400, maxConnections: 1_000 } });
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    capped = await build(h.deps, { limits: { maxConnections: 3 } });
    await capped.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await capped?.close();
    await h?.close();
  });

  it('answers 408 and closes a request whose body trickles in', async () => {
    const p = await open(port(h.app.server));
    const started = Date.now();
    p.socket.write(`POST /api/v1/installations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.adminToken}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{`);
    trickle(p, ' '.repeat(199), 100);
    await waitFor(() => p.closed, 5_000, 'the server to close the trickling request');
    expect(p.data).toMatch(/^HTTP\/1\.1 408/);
    expect(p.closedAt - started).toBeLessThan(3_000);
  });

  it('closes a connection whose headers trickle in, and an idle keep-alive connection', async () => {
    const slow = await open(port(h.app.server));
    trickle(slow, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: ' + 'a'.repeat(200), 100);
    const idle = await open(port(h.app.server));
    idle.socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => idle.data.includes('"status"') || undefined, 5_000, 'the health answer');
    await waitFor(() => slow.closed && idle.closed, 5_000, 'both sockets to be closed');
    expect(slow.data).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes sockets beyond API_MAX_CONNECTIONS as they arrive, and takes new ones once there is room', async () => {
    const held = await Promise.all([0, 1, 2].map(() => open(port(capped.server))));
    await waitFor(() => new Promise<number>((r) => capped.server.getConnections((_e, n) => r(n))).then((n) => n === 3 || undefined), 5_000, '3 connections');
    const extra = await open(port(capped.server));
    await waitFor(() => extra.closed, 5_000, 'the 4th socket to be closed');
    expect(extra.data).toBe('');
    expect(held.every((p) => !p.closed)).toBe(true);
    held[0]!.socket.destroy();
    await waitFor(() => new Promise<number>((r) => capped.server.getConnections((_e, n) => r(n))).then((n) => n === 2 || undefined), 5_000, 'a free slot');
    const next = await open(port(capped.server));
    next.socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await waitFor(() => next.closed, 5_000, 'the answer');
    expect(next.data).toMatch(/^HTTP\/1\.1 200/);
    for (const p of held) p.socket.destroy();
  });
});

describe('OCPP port', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let node: PlatformNode;
  beforeAll(async () => {
    nats = await startTestNats();
    node = await startTestNode(nats.url, { OCPP_HANDSHAKE_TIMEOUT_MS: '400', OCPP_MAX_CONNECTIONS: '3' });
    await node.stores.installations.create(anInstallation({ id: 'to-site' }));
    await node.stores.chargers.put('to-site', 'CP-TO', aCharger());
    await waitFor(() => node.cache.chargers.has('CP-TO') || undefined);
  });
  afterAll(async () => {
    await node?.stop();
    await nats?.cleanup();
  });

  it('drops a handshake that trickles in; an established charger outlives the handshake timeout', async () => {
    const { client } = strictCharger(node, 'CP-TO', INITIAL_PASSWORD);
    onTestFinished(async () => void (await client.close({ force: true })));
    await client.connect();
    const slow = await open(node.ocppPort);
    const started = Date.now();
    trickle(slow, 'GET /ocpp/CP-TO HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Pad: ' + 'a'.repeat(200), 100);
    await waitFor(() => slow.closed, 5_000, 'the slow handshake to be dropped');
    expect(slow.closedAt - started).toBeLessThan(3_000);
    // The charger's socket was open all along, well past the 400 ms handshake timeout.
    expect(await ocppCall(client, 'Heartbeat', {})).toHaveProperty('currentTime');
    await client.close({ awaitPending: true });
  });

  it('closes sockets beyond OCPP_MAX_CONNECTIONS as they arrive', async () => {
    // The first test's charger has gone: its socket no longer counts.
    await waitFor(async () => !(await node.commands.send('CP-TO', { action: STATUS_ACTION, payload: {}, timeoutMs: 500 })).ok || undefined, 5_000, 'CP-TO gone');
    const held = await Promise.all([0, 1, 2].map(() => open(node.ocppPort)));
    const extra = await open(node.ocppPort);
    await waitFor(() => extra.closed, 5_000, 'the 4th socket to be closed');
    expect(extra.data).toBe('');
    expect(held.every((p) => !p.closed)).toBe(true);
    for (const p of held) p.socket.destroy();
  });
});
