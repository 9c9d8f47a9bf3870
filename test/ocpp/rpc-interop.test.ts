import type { AddressInfo } from 'node:net';
import { RPCClient, RPCServer, createRPCError } from 'ocpp-rpc';
import WebSocket from 'ws';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../core/embedded-nats.js';
import { NotSupportedError, OcppCallError, OcppClosedError, OcppRemoteError, OcppTimeoutError } from '../../ocpp/errors.js';
import { RpcConnection, type RpcLogEntry } from '../../ocpp/rpc-connection.js';
import { basicAuth, PASSWORD, recordingLogger, sleep, startTestServer, waitFor, type TestServer } from './helpers.js';

/**
 * Our RpcConnection against ocpp-rpc, an independent OCPP-J implementation that carries the
 * official 1.6 schemas. Its strict mode validates what we send and answer, in both directions.
 * (ocpp-rpc 2.2.1 bundles its own Ajv 8.14, under which its schemas compile as shipped; the
 * first test proves its validator is live rather than trusting it.)
 */

type ClientOptions = ConstructorParameters<typeof RPCClient>[0];

function ocppRpcClient(server: TestServer, identity: string, opts: Partial<ClientOptions> = {}): InstanceType<typeof RPCClient> {
  return new RPCClient({
    endpoint: server.url,
    identity,
    password: PASSWORD,
    protocols: ['ocpp1.6'],
    strictMode: true,
    reconnect: false,
    ...opts,
  } as ClientOptions);
}

const validBoot = { chargePointVendor: 'Acme', chargePointModel: 'Wallbox 22' };

let server: TestServer;
const logEntries: RpcLogEntry[] = [];
const clients: InstanceType<typeof RPCClient>[] = [];

beforeEach(async () => {
  logEntries.length = 0;
  server = await startTestServer({ onLog: (e) => logEntries.push(e) });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close({ force: true })));
  await server.stop();
});

async function connectClient(identity: string, opts: Partial<ClientOptions> = {}): Promise<{ client: InstanceType<typeof RPCClient>; rpc: RpcConnection; failures: unknown[] }> {
  const client = ocppRpcClient(server, identity, opts);
  clients.push(client);
  const failures: unknown[] = [];
  client.on('strictValidationFailure', (f: unknown) => failures.push(f));
  const accepted = server.nextConnection();
  await client.connect();
  const { rpc } = await accepted;
  return { client, rpc, failures };
}

describe('an ocpp-rpc strict client calling our server', () => {
  it('ocpp-rpc really validates: an invalid call is refused locally and never reaches us', async () => {
    const { client } = await connectClient('CP-A');
    await expect(client.call('BootNotification', { chargePointModel: 'M' })).rejects.toMatchObject({ rpcErrorCode: 'OccurenceConstraintViolation' });
    await expect(client.call('Heartbeat', { extra: 1 })).rejects.toMatchObject({ rpcErrorCode: 'PropertyConstraintViolation' });
    expect(logEntries.filter((e) => e.direction === 'in')).toEqual([]);
  });

  it('our answers pass its strict response validation', async () => {
    const { client, failures } = await connectClient('CP-A');
    expect(await client.call('BootNotification', validBoot)).toMatchObject({ status: 'Accepted', interval: 300 });
    expect(await client.call('Heartbeat', {})).toHaveProperty('currentTime');
    expect(await client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' })).toEqual({});
    expect(await client.call('Authorize', { idTag: 'TAG1' })).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(await client.call('StartTransaction', { connectorId: 1, idTag: 'TAG1', meterStart: 0, timestamp: new Date().toISOString() })).toMatchObject({
      transactionId: 1,
    });
    expect(failures).toEqual([]);
  });

  it('logs every frame in both directions through onLog', async () => {
    const { client } = await connectClient('CP-A');
    await client.call('Heartbeat', {});
    const [callIn, resultOut] = logEntries;
    expect(callIn).toMatchObject({ direction: 'in', type: 'CALL', action: 'Heartbeat', payload: {} });
    expect(resultOut).toMatchObject({ direction: 'out', type: 'CALLRESULT', action: 'Heartbeat', id: callIn?.id });
    expect(typeof resultOut?.at).toBe('number');
  });

  it('our CALLERRORs arrive as the matching ocpp-rpc errors (non-strict client sending junk)', async () => {
    const { client } = await connectClient('CP-B', { strictMode: false });
    await expect(client.call('BootNotification', { chargePointModel: 'M' })).rejects.toMatchObject({
      rpcErrorCode: 'OccurenceConstraintViolation',
    });
    await expect(client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Asleep' })).rejects.toMatchObject({
      rpcErrorCode: 'PropertyConstraintViolation',
    });
    await expect(client.call('MakeCoffee', {})).rejects.toMatchObject({ rpcErrorCode: 'NotImplemented' });
  });

  it('a handler throwing NotSupportedError reaches the peer as NotSupported', async () => {
    const { client, rpc } = await connectClient('CP-C');
    rpc.handle(() => {
      throw new NotSupportedError('no data transfer here');
    });
    await expect(client.call('DataTransfer', { vendorId: 'acme' })).rejects.toMatchObject({ rpcErrorCode: 'NotSupported', message: 'no data transfer here' });
  });
});

describe('our server calling an ocpp-rpc strict client (we are the Central System)', () => {
  it('GetConfiguration round trip, validated by both sides', async () => {
    const { client, rpc, failures } = await connectClient('CP-D');
    client.handle('GetConfiguration', async ({ params }: { params?: Record<string, unknown> }) => ({
      configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }],
      unknownKey: (params?.key as string[] | undefined)?.filter((k) => k !== 'HeartbeatInterval') ?? [],
    }));
    const res = await rpc.call('GetConfiguration', { key: ['HeartbeatInterval', 'Nope'] });
    expect(res).toEqual({ configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }], unknownKey: ['Nope'] });
    expect(failures).toEqual([]);
  });

  it('only one outgoing CALL is outstanding at a time; the rest go FIFO', async () => {
    const { client, rpc } = await connectClient('CP-E');
    let inFlight = 0;
    let maxInFlight = 0;
    const order: string[] = [];
    client.handle('ChangeConfiguration', async ({ params }: { params?: Record<string, unknown> }) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      order.push(String(params?.key));
      await sleep(20);
      inFlight -= 1;
      return { status: 'Accepted' };
    });
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5'];
    const results = await Promise.all(keys.map((key) => rpc.call('ChangeConfiguration', { key, value: '1' })));
    expect(results).toEqual(keys.map(() => ({ status: 'Accepted' })));
    expect(maxInFlight).toBe(1);
    expect(order).toEqual(keys);
  });

  it('a call that is not answered times out and lets the next one go; the late answer is ignored', async () => {
    const { client, rpc } = await connectClient('CP-F');
    client.handle('Reset', async () => {
      await sleep(300);
      return { status: 'Accepted' };
    });
    client.handle('ClearCache', async () => ({ status: 'Accepted' }));
    const slow = rpc.call('Reset', { type: 'Soft' }, { timeoutMs: 100 });
    const next = rpc.call('ClearCache', {});
    await expect(slow).rejects.toBeInstanceOf(OcppTimeoutError);
    await expect(slow).rejects.toMatchObject({ action: 'Reset', timeoutMs: 100 });
    expect(await next).toEqual({ status: 'Accepted' });
    await waitFor(() => server.logger.find('warn', 'CALLRESULT for an unknown message id') !== undefined);
    expect(rpc.isOpen).toBe(true);
  });

  it('a CALLERROR answer rejects with OcppRemoteError carrying code, description, details', async () => {
    const { client, rpc } = await connectClient('CP-G');
    client.handle('ReserveNow', async () => {
      throw createRPCError('NotSupported', 'reservations are off', { why: 'config' });
    });
    const err = await rpc.call('ReserveNow', { connectorId: 1, expiryDate: new Date().toISOString(), idTag: 'T', reservationId: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OcppRemoteError);
    expect(err).toMatchObject({ code: 'NotSupported', description: 'reservations are off', details: { why: 'config' }, action: 'ReserveNow' });
  });

  it('strict: an invalid request is refused locally and the peer sees nothing', async () => {
    const { client, rpc } = await connectClient('CP-H');
    let seen = 0;
    client.handle('GetConfiguration', async () => {
      seen += 1;
      return {};
    });
    const err = await rpc.call('GetConfiguration', { key: 'HeartbeatInterval' } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OcppCallError);
    expect(err).toMatchObject({ code: 'TypeConstraintViolation' });
    await sleep(50);
    expect(seen).toBe(0);
  });

  it('lenient: the invalid request is sent, and ocpp-rpc strict answers it with the 1.6 code', async () => {
    const { client, rpc } = await connectClient('lenient-CP-I');
    client.handle('GetConfiguration', async () => ({}));
    const err = await rpc.call('GetConfiguration', { key: 'HeartbeatInterval' } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OcppRemoteError);
    expect(err).toMatchObject({ code: 'TypeConstraintViolation' });
    expect(server.logger.find('warn', 'sending an invalid OCPP request')).toBeDefined();
  });

  it('an invalid response: strict rejects with the mapped code, lenient resolves and logs', async () => {
    const strictSide = await connectClient('CP-J', { strictMode: false });
    strictSide.client.handle('Reset', async () => ({ status: 'Maybe' }));
    await expect(strictSide.rpc.call('Reset', { type: 'Hard' })).rejects.toMatchObject({ code: 'PropertyConstraintViolation' });

    const lenientSide = await connectClient('lenient-CP-J', { strictMode: false });
    lenientSide.client.handle('Reset', async () => ({ status: 'Maybe' }));
    expect(await lenientSide.rpc.call('Reset', { type: 'Hard' })).toEqual({ status: 'Maybe' });
    expect(server.logger.find('warn', 'invalid OCPP response accepted (lenient mode)')?.obj).toMatchObject({ identity: 'lenient-CP-J' });
  });

  it('the peer disconnecting rejects the outstanding and the queued calls with OcppClosedError', async () => {
    const { client, rpc } = await connectClient('CP-K');
    client.handle('Reset', () => new Promise(() => undefined));
    const pending = rpc.call('Reset', { type: 'Soft' }).catch((e: unknown) => e);
    const queued = rpc.call('ClearCache', {}).catch((e: unknown) => e);
    await waitFor(() => logEntries.some((e) => e.action === 'Reset'));
    const closed = new Promise((resolve) => rpc.once('close', resolve));
    await client.close({ code: 1000 });
    await closed;
    expect(await pending).toBeInstanceOf(OcppClosedError);
    expect(await queued).toBeInstanceOf(OcppClosedError);
    expect(rpc.isOpen).toBe(false);
    await expect(rpc.call('ClearCache', {})).rejects.toBeInstanceOf(OcppClosedError);
  });

  it('closing our side rejects pending calls at once', async () => {
    const { client, rpc } = await connectClient('CP-L');
    client.handle('Reset', () => new Promise(() => undefined));
    const pending = rpc.call('Reset', { type: 'Soft' });
    rpc.close(1000, 'bye');
    await expect(pending).rejects.toBeInstanceOf(OcppClosedError);
  });
});

describe('our RpcConnection as the charge point, against an ocpp-rpc strict server', () => {
  it('boots, answers the server, and both sides validate', async () => {
    const port = await freePort();
    const rpcServer = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true });
    const failures: unknown[] = [];
    const serverSide = new Promise<{ identity: string; config: unknown }>((resolve, reject) => {
      rpcServer.on('client', (client: InstanceType<typeof RPCClient>) => {
        client.on('strictValidationFailure', (f: unknown) => failures.push(f));
        client.handle('BootNotification', async () => {
          setTimeout(() => {
            client
              .call('GetConfiguration', { key: ['HeartbeatInterval'] })
              .then((config) => resolve({ identity: String(client.identity), config }), reject);
          }, 0);
          return { status: 'Accepted', currentTime: new Date().toISOString(), interval: 60 };
        });
      });
    });
    rpcServer.auth((accept, reject, handshake) => {
      if (handshake.password?.toString() === PASSWORD) accept({});
      else reject(401, 'bad password');
    });
    const http = await rpcServer.listen(port, '127.0.0.1');
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}/CP-NORTH`, ['ocpp1.6'], {
        headers: { authorization: basicAuth('CP-NORTH', PASSWORD) },
      });
      // Created while CONNECTING: calls wait for the open.
      const rpc = new RpcConnection(ws, { identity: 'CP-NORTH', logger: recordingLogger() });
      rpc.handle((action) => {
        if (action === 'GetConfiguration') return { configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '60' }] };
        throw new NotSupportedError();
      });
      const boot = await rpc.call('BootNotification', validBoot);
      expect(boot.status).toBe('Accepted');
      expect(await serverSide).toEqual({
        identity: 'CP-NORTH',
        config: { configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '60' }] },
      });
      expect(failures).toEqual([]);
      rpc.close();
    } finally {
      await rpcServer.close({ force: true });
    }
  });
});
