import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { RPCServer } from 'ocpp-rpc';
import { WebSocketServer } from 'ws';

/**
 * The servers the platform is measured against, one per process:
 * - `raw`: plain `ws` on an http server, echoing every frame back unchanged (no JSON parse). The ceiling.
 * - `rpc`: ocpp-rpc's RPCServer in strict mode (validates every message against the 1.6 schemas). The peer.
 * Prints `{"event":"listening","port":N}`; answers `count` on stdin with `{"event":"count","connections":N}`.
 */

const kind = process.argv[2];
let connections = 0;

function raw(): Server {
  const server = createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => undefined);
    wss.handleUpgrade(req, socket, head, (ws) => {
      connections++;
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('error', () => undefined);
      ws.on('close', () => connections--);
    });
  });
  return server;
}

async function rpc(): Promise<Server> {
  const server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true });
  server.auth((accept) => accept({}));
  let transactionId = 0;
  server.on('client', (client: { handle: (m: string, h: () => unknown) => void; once: (e: string, f: () => void) => void }) => {
    connections++;
    client.once('close', () => connections--);
    client.handle('BootNotification', () => ({ status: 'Accepted', currentTime: new Date().toISOString(), interval: 300 }));
    client.handle('Heartbeat', () => ({ currentTime: new Date().toISOString() }));
    client.handle('StartTransaction', () => ({ transactionId: ++transactionId, idTagInfo: { status: 'Accepted' } }));
    client.handle('MeterValues', () => ({}));
  });
  return server.listen(0, '127.0.0.1');
}

async function main(): Promise<void> {
  let server: Server;
  if (kind === 'raw') {
    server = raw();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  } else if (kind === 'rpc') {
    server = await rpc();
  } else {
    throw new Error(`usage: peer-server.ts raw|rpc (got ${kind})`);
  }
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: (server.address() as AddressInfo).port })}\n`);
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      if (line.trim() === 'count') process.stdout.write(`${JSON.stringify({ event: 'count', connections })}\n`);
    })
    .on('close', () => process.exit(0));
  process.once('SIGTERM', () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
