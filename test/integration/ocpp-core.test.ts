import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { STATUS_ACTION } from '../../core/commands.js';
import type { ChargerEvent } from '../../core/events.js';
import type { ChargerLiveStatus } from '../../core/model.js';
import { decodeJson } from '../../core/nats.js';
import { subjects } from '../../core/subjects.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, handshakeStatus, INITIAL_PASSWORD, ocppCall, startTestNode, strictCharger, waitFor } from '../support/platform.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url);
  await node.stores.installations.create(anInstallation({ id: 'inst-free' }));
  await node.stores.installations.create(anInstallation({ id: 'inst-list', authorization: { required: true, idTags: ['GOOD-TAG'] } }));
  for (const id of ['CP-HS', 'CP-ROT', 'CP-ROT2', 'CP-ALL', 'CP-ERR', 'CP-DUP', 'CP-CMD', 'CP-RESTART', 'CP-PEND', 'CP-PEND2']) {
    await node.stores.chargers.put('inst-free', id, aCharger());
  }
  await node.stores.chargers.put('inst-list', 'CP-LIST', aCharger({ phases: 1 }));
  await waitFor(() => node.cache.chargers.has('CP-LIST') || undefined);
});

afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

async function status(chargerId: string): Promise<ChargerLiveStatus> {
  const reply = await node.commands.send(chargerId, { action: STATUS_ACTION, payload: {}, timeoutMs: 2_000 });
  if (!reply.ok) throw new Error(reply.error.message);
  return reply.response as ChargerLiveStatus;
}

/** Connects with the initial password, lets the platform rotate it, and returns the new one. */
async function provision(chargerId: string): Promise<string> {
  const { client, state } = strictCharger(node, chargerId, INITIAL_PASSWORD);
  await client.connect();
  const key = await waitFor(() => state.authorizationKey, 5_000, 'AuthorizationKey');
  await waitFor(async () => (await node.stores.credentials.chargerSouth(chargerId))?.current && !(await node.stores.credentials.chargerSouth(chargerId))?.pending);
  await client.close({ awaitPending: true });
  return key;
}

describe('handshake', () => {
  it('refuses wrong path, missing subprotocol, unknown charger, missing and wrong passwords', async () => {
    const port = node.ocppPort;
    expect(await handshakeStatus(port, '/nope/CP-HS', { protocol: 'ocpp1.6', auth: `CP-HS:${INITIAL_PASSWORD}` })).toBe(404);
    expect(await handshakeStatus(port, '/ocpp/CP-HS', { auth: `CP-HS:${INITIAL_PASSWORD}` })).toBe(400);
    expect(await handshakeStatus(port, '/ocpp/CP-HS', { protocol: 'ocpp2.0.1', auth: `CP-HS:${INITIAL_PASSWORD}` })).toBe(400);
    expect(await handshakeStatus(port, '/ocpp/UNKNOWN', { protocol: 'ocpp1.6', auth: `UNKNOWN:${INITIAL_PASSWORD}` })).toBe(401);
    expect(await handshakeStatus(port, '/ocpp/CP-HS', { protocol: 'ocpp1.6' })).toBe(401);
    expect(await handshakeStatus(port, '/ocpp/CP-HS', { protocol: 'ocpp1.6', auth: 'CP-HS:wrong-password' })).toBe(401);
    expect(await handshakeStatus(port, '/ocpp/CP-HS', { protocol: 'ocpp1.6', auth: `OTHER:${INITIAL_PASSWORD}` })).toBe(401);
    expect(await handshakeStatus(port, '/ocpp/CP-HS', { protocol: 'ocpp1.6', auth: `CP-HS:${INITIAL_PASSWORD}` })).toBe(101);
  });

  it('pushes a unique hex AuthorizationKey; afterwards only the new password works', async () => {
    const key = await provision('CP-ROT');
    expect(key).toMatch(/^[A-Za-z0-9]{20}$/);
    const other = await provision('CP-ROT2');
    expect(other).not.toBe(key);
    expect(await handshakeStatus(node.ocppPort, '/ocpp/CP-ROT', { protocol: 'ocpp1.6', auth: `CP-ROT:${INITIAL_PASSWORD}` })).toBe(401);
    expect(await handshakeStatus(node.ocppPort, '/ocpp/CP-ROT', { protocol: 'ocpp1.6', auth: `CP-ROT:${other}` })).toBe(401);
    expect(await handshakeStatus(node.ocppPort, '/ocpp/CP-ROT', { protocol: 'ocpp1.6', auth: `CP-ROT:${key}` })).toBe(101);
    const stored = JSON.stringify(await node.stores.credentials.chargerSouth('CP-ROT'));
    expect(stored).not.toContain(key);
  });

  it('answers BootNotification Pending while the password is being provisioned', async () => {
    const { client } = strictCharger(node, 'CP-PEND', INITIAL_PASSWORD, { answerKey: 'hang' });
    await client.connect();
    const boot = await ocppCall(client, 'BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
    expect(boot.status).toBe('Pending');
    expect(boot.interval).toBeGreaterThan(0);
    await client.close({ force: true });
  });

  it('asks a charger told Pending to boot again once its password is provisioned', async () => {
    let release = (): void => undefined;
    const keyGate = new Promise<void>((r) => (release = r));
    const { client, state } = strictCharger(node, 'CP-PEND2', INITIAL_PASSWORD, { keyGate });
    await client.connect();
    const boot = await ocppCall(client, 'BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' });
    expect(boot.status).toBe('Pending');
    expect(state.calls.some((c) => c.action === 'TriggerMessage')).toBe(false);
    release();
    const trigger = await waitFor(() => state.calls.find((c) => c.action === 'TriggerMessage'), 5_000, 'TriggerMessage');
    expect(trigger.params).toEqual({ requestedMessage: 'BootNotification' });
    await client.close({ force: true });
  });
});

describe('charger-initiated messages through a strict third-party client', () => {
  it('handles every message, persists transactions and publishes events', async () => {
    const password = await provision('CP-ALL');
    const events: ChargerEvent[] = [];
    const sub = node.bus.nc.subscribe(subjects.installationEvents('inst-free'), { callback: (_e, m) => void events.push(decodeJson<ChargerEvent>(m.data)) });
    const { client } = strictCharger(node, 'CP-ALL', password);
    await client.connect();

    const boot = await ocppCall(client, 'BootNotification', { chargePointVendor: 'Zap', chargePointModel: 'Go', chargePointSerialNumber: 'ZCS000143', firmwareVersion: '1.2.3' });
    expect(boot).toMatchObject({ status: 'Accepted', interval: 300 });
    expect((await node.stores.chargerState.getBoot('CP-ALL'))?.firmwareVersion).toBe('1.2.3');
    expect((await ocppCall(client, 'Heartbeat', {})).currentTime).toMatch(/^\d{4}-/);

    const statuses = ['Available', 'Preparing', 'Charging', 'SuspendedEVSE', 'SuspendedEV', 'Finishing', 'Reserved', 'Unavailable', 'Faulted'] as const;
    for (const s of statuses) {
      await ocppCall(client, 'StatusNotification', { connectorId: 1, status: s, errorCode: s === 'Faulted' ? 'GroundFailure' : 'NoError' });
    }
    await ocppCall(client, 'StatusNotification', { connectorId: 0, status: 'Available', errorCode: 'NoError' });
    await ocppCall(client, 'StatusNotification', { connectorId: 1, status: 'Preparing', errorCode: 'NoError' });
    expect((await ocppCall(client, 'Authorize', { idTag: 'ANY' })).idTagInfo.status).toBe('Accepted');

    const startReq = { connectorId: 1, idTag: 'ANY', meterStart: 1000, timestamp: '2026-11-24T00:00:00.000Z' };
    const start = await ocppCall(client, 'StartTransaction', startReq);
    expect(start.idTagInfo.status).toBe('Accepted');
    expect(Number.isInteger(start.transactionId)).toBe(true);
    // A retry after a lost reply gets the same id.
    expect((await ocppCall(client, 'StartTransaction', startReq)).transactionId).toBe(start.transactionId);

    await ocppCall(client, 'MeterValues', {
      connectorId: 1,
      transactionId: start.transactionId,
      meterValue: [
        {
          timestamp: '2026-11-24T00:01:00.000Z',
          sampledValue: [
            { value: '15.5', measurand: 'Current.Import', phase: 'L1', unit: 'A' },
            { value: '15.0', measurand: 'Current.Import', phase: 'L2', unit: 'A' },
            { value: '0.2', measurand: 'Current.Import', phase: 'L3', unit: 'A' },
            { value: '2.5', measurand: 'Energy.Active.Import.Register', unit: 'kWh' },
            { value: '7.1', measurand: 'Power.Active.Import', unit: 'kW' },
          ],
        },
      ],
    });
    // Without transactionId, energy in Wh.
    await ocppCall(client, 'MeterValues', { connectorId: 0, meterValue: [{ timestamp: '2026-11-24T00:01:30.000Z', sampledValue: [{ value: '2600' }] }] });
    const live = await status('CP-ALL');
    expect(live.measured).toMatchObject({ t1: 15.5, t2: 15, t3: 0.2 });
    expect(live.energyWh).toBe(2600);
    expect(live.registration).toBe('Accepted');
    expect(live.connectors.map((c) => [c.connectorId, c.status])).toEqual([[0, 'Available'], [1, 'Preparing']]);
    expect(live.activeTransactions.map((t) => t.transactionId)).toEqual([start.transactionId]);

    expect(await ocppCall(client, 'DataTransfer', { vendorId: 'com.example', messageId: 'x', data: 'y' })).toEqual({ status: 'UnknownVendorId' });
    expect(await ocppCall(client, 'DiagnosticsStatusNotification', { status: 'Uploaded' })).toEqual({});
    expect(await ocppCall(client, 'FirmwareStatusNotification', { status: 'Installed' })).toEqual({});

    const stop = await ocppCall(client, 'StopTransaction', {
      transactionId: start.transactionId,
      idTag: 'ANY',
      meterStop: 3500,
      timestamp: '2026-11-24T01:00:00.000Z',
      reason: 'EVDisconnected',
      transactionData: [{ timestamp: '2026-11-24T00:30:00.000Z', sampledValue: [{ value: '2000' }] }],
    });
    expect(stop.idTagInfo?.status).toBe('Accepted');
    // A stop for an id nobody started is acknowledged and recorded.
    expect(await ocppCall(client, 'StopTransaction', { transactionId: 999_999, meterStop: 1, timestamp: '2026-11-24T01:00:00.000Z' })).toEqual({});
    const txs = await node.stores.transactions.list({ chargerId: 'CP-ALL' });
    expect(txs.find((t) => t.transactionId === start.transactionId)).toMatchObject({ energyWh: 2500, stopReason: 'EVDisconnected' });
    expect((await status('CP-ALL')).activeTransactions).toEqual([]);

    await waitFor(() => events.some((e) => e.kind === 'transaction' && e.event === 'stopped') || undefined);
    const kinds = new Set(events.map((e) => e.kind));
    expect([...kinds].sort()).toEqual(['boot', 'connection', 'meter', 'status', 'transaction']);
    const meter = events.find((e) => e.kind === 'meter' && e.transactionId === start.transactionId);
    expect(meter).toMatchObject({ currents: { t1: 15.5, t2: 15, t3: 0.2 }, energyWh: 2500, powerW: 7100 });
    sub.unsubscribe();
    await client.close();
  });

  it('authorizes against the installation allow list', async () => {
    const password = await provision('CP-LIST');
    const { client } = strictCharger(node, 'CP-LIST', password);
    await client.connect();
    expect((await ocppCall(client, 'Authorize', { idTag: 'GOOD-TAG' })).idTagInfo.status).toBe('Accepted');
    expect((await ocppCall(client, 'Authorize', { idTag: 'BAD-TAG' })).idTagInfo.status).toBe('Invalid');
    const start = await ocppCall(client, 'StartTransaction', { connectorId: 1, idTag: 'BAD-TAG', meterStart: 0, timestamp: new Date().toISOString() });
    expect(start.idTagInfo.status).toBe('Invalid');
    expect(start.transactionId).toBeGreaterThan(0);
    await client.close();
  });
});

describe('errors and connections', () => {
  it('answers bad frames with 1.6 CallError codes and keeps the socket up', async () => {
    const password = await provision('CP-ERR');
    const ws = new WebSocket(`ws://127.0.0.1:${node.ocppPort}/ocpp/CP-ERR`, ['ocpp1.6'], { headers: { authorization: `Basic ${Buffer.from(`CP-ERR:${password}`).toString('base64')}` } });
    const replies: unknown[][] = [];
    ws.on('message', (d) => {
      const frame = JSON.parse(d.toString()) as unknown[];
      // The installation's balancer may send its SetChargingProfile (a CALL) at any time: only answers count here.
      if (frame[0] !== 2) replies.push(frame);
    });
    await new Promise((r) => ws.once('open', r));
    const send = async (frame: string): Promise<unknown[]> => {
      const n = replies.length;
      ws.send(frame);
      return waitFor(() => replies[n], 3_000, frame);
    };
    expect((await send('{not json'))[2]).toBe('FormationViolation');
    expect((await send('[2,"a1","Heartbeat"]'))[2]).toBe('FormationViolation');
    expect((await send('[2,"a2","NoSuchAction",{}]'))[2]).toBe('NotImplemented');
    expect((await send('[2,"a3","BootNotification",{"chargePointModel":"M"}]'))[2]).toBe('OccurenceConstraintViolation');
    expect((await send('[2,"a4","StatusNotification",{"connectorId":"one","status":"Available","errorCode":"NoError"}]'))[2]).toBe('TypeConstraintViolation');
    expect((await send('[2,"a5","StatusNotification",{"connectorId":1,"status":"Sleeping","errorCode":"NoError"}]'))[2]).toBe('PropertyConstraintViolation');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    const ok = await send('[2,"a6","Heartbeat",{}]');
    expect(ok[0]).toBe(3);
    ws.close();
    const metrics = await (await fetch(`http://127.0.0.1:${node.apiPort}/metrics`)).text();
    expect(metrics).toMatch(/cp_ocpp_messages_total\{direction="in",action="StatusNotification",result="PropertyConstraintViolation"\} [1-9]/);
    expect(metrics).toMatch(/cp_ocpp_messages_total\{direction="in",action="Heartbeat",result="ok"\} [1-9]/);
    expect(metrics).toMatch(/cp_connected_chargers [0-9]/);
  });

  it('a second connection replaces the first; commands reach the new one', async () => {
    const password = await provision('CP-DUP');
    const first = strictCharger(node, 'CP-DUP', password);
    await first.client.connect();
    const closed = new Promise<{ code: number }>((r) => first.client.once('close', r));
    const second = strictCharger(node, 'CP-DUP', password);
    await second.client.connect();
    expect((await closed).code).toBe(4000);
    const reply = await node.commands.send('CP-DUP', { action: 'GetConfiguration', payload: {}, timeoutMs: 3_000 });
    expect(reply.ok).toBe(true);
    expect(second.state.calls.some((c) => c.action === 'GetConfiguration')).toBe(true);
    expect(first.state.calls.some((c) => c.action === 'GetConfiguration')).toBe(false);
    await second.client.close();
  });

  it('routes commands over NATS: answer, not connected, timeout, invalid payload', async () => {
    expect((await node.commands.send('CP-CMD', { action: 'Reset', payload: { type: 'Soft' } })).ok).toBe(false);
    const notConnected = await node.commands.send('CP-CMD', { action: 'Reset', payload: { type: 'Soft' } });
    expect(!notConnected.ok && notConnected.error.code).toBe('NOT_CONNECTED');
    const password = await provision('CP-CMD');
    const { client, state } = strictCharger(node, 'CP-CMD', password);
    client.handle('Reset', () => new Promise(() => undefined));
    await client.connect();
    const answered = await node.commands.send('CP-CMD', { action: 'GetConfiguration', payload: { key: ['HeartbeatInterval'] } });
    expect(answered).toMatchObject({ ok: true, response: { configurationKey: [{ key: 'HeartbeatInterval' }] } });
    const invalid = await node.commands.send('CP-CMD', { action: 'ChangeConfiguration', payload: { value: '1' } });
    expect(invalid).toMatchObject({ ok: false, error: { code: 'INVALID', ocppCode: 'OccurenceConstraintViolation' } });
    expect(state.calls.some((c) => c.action === 'ChangeConfiguration' && !(c.params as { key?: string }).key)).toBe(false);
    const wrongWay = await node.commands.send('CP-CMD', { action: 'BootNotification', payload: { chargePointVendor: 'x', chargePointModel: 'y' } });
    expect(wrongWay).toMatchObject({ ok: false, error: { code: 'INVALID', ocppCode: 'NotImplemented' } });
    const timeout = await node.commands.send('CP-CMD', { action: 'Reset', payload: { type: 'Soft' }, timeoutMs: 300 });
    expect(!timeout.ok && timeout.error.code).toBe('TIMEOUT');
    await client.close({ force: true });
  });
});

describe('restart', () => {
  it('a transaction started before a platform restart is continued and stopped after it', async () => {
    const password = await provision('CP-RESTART');
    const first = strictCharger(node, 'CP-RESTART', password);
    await first.client.connect();
    const start = await ocppCall(first.client, 'StartTransaction', { connectorId: 1, idTag: 'T', meterStart: 10_000, timestamp: '2026-11-24T02:00:00.000Z' });
    await first.client.close({ force: true });
    await node.stop();

    node = await startTestNode(nats.url);
    const again = strictCharger(node, 'CP-RESTART', password);
    await again.client.connect();
    await ocppCall(again.client, 'MeterValues', {
      connectorId: 1,
      transactionId: start.transactionId,
      meterValue: [{ timestamp: '2026-11-24T02:10:00.000Z', sampledValue: [{ value: '11000', measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }],
    });
    const st = await status('CP-RESTART');
    expect(st.activeTransactions.map((t) => t.transactionId)).toEqual([start.transactionId]);
    await ocppCall(again.client, 'StopTransaction', { transactionId: start.transactionId, meterStop: 12_000, timestamp: '2026-11-24T02:30:00.000Z' });
    const [tx] = await node.stores.transactions.list({ chargerId: 'CP-RESTART' });
    expect(tx).toMatchObject({ transactionId: start.transactionId, energyWh: 2000, stoppedAt: '2026-11-24T02:30:00.000Z' });
    await again.client.close();
  });
});
