import { createRPCError } from 'ocpp-rpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapStore } from '../../core/cap-store.js';
import { buckets } from '../../core/subjects.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, startTestNode, waitFor } from '../support/platform.js';
import { TestCharger, type ProfileCall } from '../support/sim-charger.js';
import { TestPartner } from './partner-server.js';
import { connectCharger, PARTNER_PASSWORD, sleep, startTx, usePartnerTestEnv, type Charger } from './support.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;
let partner: TestPartner;
let caps: CapStore;
let cp: Charger;
const SERIAL = 'CMD-1';

const fastBalancer = { settleMs: 300, minChangeIntervalMs: 0, deadbandA: 0.5, minRunMs: 0, minPauseMs: 0, rotationIntervalMs: 3_600_000 };

const maxProfile = (limit: number, over: Record<string, unknown> = {}) => ({
  chargingProfileId: 11,
  stackLevel: 0,
  chargingProfilePurpose: 'ChargePointMaxProfile',
  chargingProfileKind: 'Absolute',
  chargingSchedule: { chargingRateUnit: 'A', startSchedule: new Date(Date.now() - 60_000).toISOString(), chargingSchedulePeriod: [{ startPeriod: 0, limit }] },
  ...over,
});

beforeAll(async () => {
  usePartnerTestEnv();
  nats = await startTestNats();
  partner = await TestPartner.start();
  node = await startTestNode(nats.url, { BALANCER_RETRY_MS: '500', BALANCER_PROFILE_TIMEOUT_MS: '1000', BALANCER_LEASE_TTL_MS: '1500' });
  caps = new CapStore(node.bus.kv[buckets.caps]);
  await node.stores.installations.create(
    anInstallation({ id: 'inst-cmd', balancer: fastBalancer, ocpp: { partnerEnabled: true, url: partner.url('/ocpp/{deviceId}'), initialPassword: PARTNER_PASSWORD } }),
  );
  await node.stores.chargers.put('inst-cmd', 'CP-CMD', aCharger({ serial: SERIAL }));
  await waitFor(() => node.cache.chargers.get('CP-CMD'));
  cp = await connectCharger(node, 'CP-CMD');
  await waitFor(() => partner.callsOf(SERIAL, 'StatusNotification').length > 0, 5_000, 'accepted at the partner');
});

afterAll(async () => {
  await cp?.client.close({ force: true });
  await node?.stop();
  await partner?.down();
  await nats?.cleanup();
});

const chargerGot = (action: string) => cp.state.calls.filter((c) => c.action === action);

describe("the partner's commands", () => {
  it('RemoteStartTransaction and RemoteStopTransaction reach the charger, with the partner transaction id mapped to the platform one', async () => {
    expect(await partner.command(SERIAL, 'RemoteStartTransaction', { connectorId: 1, idTag: 'PARTNER-APP' })).toEqual({ status: 'Accepted' });
    expect(chargerGot('RemoteStartTransaction').at(-1)?.params).toEqual({ connectorId: 1, idTag: 'PARTNER-APP' });
    // The charger starts it; the partner sees its own id tag even though authorization is off here.
    const tx = await startTx(cp, 'PARTNER-APP');
    const start = await waitFor(() => partner.callsOf(SERIAL, 'StartTransaction')[0], 5_000, 'StartTransaction at the partner');
    expect(start.params.idTag).toBe('PARTNER-APP');
    const partnerTxId = await waitFor(async () => {
      const bridge = await node.bus.kv[buckets.north].get(`tx.CP-CMD.${tx.transactionId}`);
      return bridge?.json<{ partnerTxId: number }>().partnerTxId;
    });
    expect(partnerTxId).not.toBe(tx.transactionId);

    expect(await partner.command(SERIAL, 'RemoteStopTransaction', { transactionId: partnerTxId })).toEqual({ status: 'Accepted' });
    expect(chargerGot('RemoteStopTransaction').at(-1)?.params).toEqual({ transactionId: tx.transactionId });
    expect(await partner.command(SERIAL, 'RemoteStopTransaction', { transactionId: 999_999 })).toEqual({ status: 'Rejected' });
    await cp.client.call('StopTransaction', { transactionId: tx.transactionId, meterStop: 1500, timestamp: new Date().toISOString() });
  });

  it('Reset, UnlockConnector, ChangeAvailability and ClearCache are forwarded and answered by the charger; DataTransfer is not', async () => {
    expect(await partner.command(SERIAL, 'Reset', { type: 'Soft' })).toEqual({ status: 'Accepted' });
    expect(chargerGot('Reset').at(-1)?.params).toEqual({ type: 'Soft' });
    expect(await partner.command(SERIAL, 'UnlockConnector', { connectorId: 1 })).toEqual({ status: 'Unlocked' });
    expect(await partner.command(SERIAL, 'ChangeAvailability', { connectorId: 0, type: 'Inoperative' })).toEqual({ status: 'Accepted' });
    expect(await partner.command(SERIAL, 'ClearCache', {})).toEqual({ status: 'Accepted' });
    expect(await partner.command(SERIAL, 'DataTransfer', { vendorId: 'com.partner', messageId: 'hello', data: 'x' })).toEqual({ status: 'UnknownVendorId' });
    expect(chargerGot('DataTransfer')).toEqual([]);
    // A charger's CALLERROR reaches the partner with the charger's code.
    cp.client.handle('Reset', async () => {
      throw createRPCError('NotSupported', 'no hard resets here');
    });
    expect(await partner.command(SERIAL, 'Reset', { type: 'Hard' })).toEqual({ error: 'NotSupported' });
    expect(partner.failures).toEqual([]);
  });

  it('TriggerMessage: answered from the platform state, MeterValues by the charger', async () => {
    const before = partner.callsOf(SERIAL).length;
    for (const requestedMessage of ['BootNotification', 'Heartbeat', 'StatusNotification', 'FirmwareStatusNotification', 'DiagnosticsStatusNotification']) {
      expect(await partner.command(SERIAL, 'TriggerMessage', { requestedMessage })).toEqual({ status: 'Accepted' });
      await waitFor(() => partner.callsOf(SERIAL).slice(before).some((c) => c.action === requestedMessage), 3_000, `${requestedMessage} after trigger`);
    }
    expect(partner.callsOf(SERIAL, 'FirmwareStatusNotification').at(-1)?.params).toEqual({ status: 'Idle' });
    expect(await partner.command(SERIAL, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 })).toEqual({ status: 'Accepted' });
    await waitFor(() => partner.callsOf(SERIAL, 'StatusNotification').at(-1)?.params.connectorId === 1);
    expect(await partner.command(SERIAL, 'TriggerMessage', { requestedMessage: 'MeterValues', connectorId: 1 })).toEqual({ status: 'Accepted' });
    expect(chargerGot('TriggerMessage').at(-1)?.params).toEqual({ requestedMessage: 'MeterValues', connectorId: 1 });
    expect(partner.failures).toEqual([]);
  });

  it('GetConfiguration / ChangeConfiguration: a virtual configuration, bridge keys answered by the bridge, the rest forwarded', async () => {
    cp.client.handle('GetConfiguration', async ({ params }: { params?: { key?: string[] } }) => {
      const all = [
        { key: 'MeterValueSampleInterval', readonly: false, value: '60' },
        { key: 'HeartbeatInterval', readonly: false, value: '300' },
      ];
      if (!params?.key?.length) return { configurationKey: all };
      return { configurationKey: all.filter((k) => params.key?.includes(k.key)), unknownKey: params.key.filter((k) => !all.some((a) => a.key === k)) };
    });
    const all = (await partner.command(SERIAL, 'GetConfiguration', {})) as { configurationKey: { key: string; value?: string }[] };
    const keys = Object.fromEntries(all.configurationKey.map((k) => [k.key, k.value]));
    expect(keys).toMatchObject({ MeterValueSampleInterval: '60', HeartbeatInterval: '60', WebSocketPingInterval: '0', TransactionMessageAttempts: '3' });
    expect(all.configurationKey.filter((k) => k.key === 'HeartbeatInterval')).toHaveLength(1);
    expect(await partner.command(SERIAL, 'GetConfiguration', { key: ['TransactionMessageRetryInterval', 'MeterValueSampleInterval', 'NoSuchKey'] })).toEqual({
      configurationKey: [
        { key: 'TransactionMessageRetryInterval', readonly: false, value: '1' },
        { key: 'MeterValueSampleInterval', readonly: false, value: '60' },
      ],
      unknownKey: ['NoSuchKey'],
    });
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'ConnectionTimeOut', value: '30' })).toEqual({ status: 'Accepted' });
    expect(chargerGot('ChangeConfiguration').at(-1)?.params).toEqual({ key: 'ConnectionTimeOut', value: '30' });
    const forwarded = chargerGot('ChangeConfiguration').length;
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'TransactionMessageRetryInterval', value: '2' })).toEqual({ status: 'Accepted' });
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'TransactionMessageAttempts', value: '0' })).toEqual({ status: 'Rejected' });
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'HeartbeatInterval', value: '1' })).toEqual({ status: 'Accepted' });
    expect(chargerGot('ChangeConfiguration')).toHaveLength(forwarded);
    const hb = partner.callsOf(SERIAL, 'Heartbeat').length;
    await waitFor(() => partner.callsOf(SERIAL, 'Heartbeat').length >= hb + 2, 4_000, 'heartbeats at the new interval');
    expect(await partner.command(SERIAL, 'GetConfiguration', { key: ['TransactionMessageRetryInterval', 'HeartbeatInterval'] })).toEqual({
      configurationKey: [
        { key: 'TransactionMessageRetryInterval', readonly: false, value: '2' },
        { key: 'HeartbeatInterval', readonly: false, value: '1' },
      ],
    });
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'HeartbeatInterval', value: '60' })).toEqual({ status: 'Accepted' });
    expect(partner.failures).toEqual([]);
  });

  it('SetChargingProfile / GetCompositeSchedule / ClearChargingProfile: a partner cap, never sent to the charger', async () => {
    expect(await partner.command(SERIAL, 'SetChargingProfile', { connectorId: 0, csChargingProfiles: maxProfile(10) })).toEqual({ status: 'Accepted' });
    const cap = await waitFor(async () => (await caps.get('CP-CMD')).partner, 3_000, 'partner cap');
    expect(cap.limitA).toBe(10);
    expect(chargerGot('SetChargingProfile').filter((c) => (c.params as { csChargingProfiles: { chargingProfileId: number } }).csChargingProfiles.chargingProfileId === 11)).toEqual([]);

    const composite = await partner.command(SERIAL, 'GetCompositeSchedule', { connectorId: 1, duration: 3600 });
    expect(composite).toMatchObject({ status: 'Accepted', connectorId: 1, chargingSchedule: { duration: 3600, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }] } });
    const watts = await partner.command(SERIAL, 'GetCompositeSchedule', { connectorId: 1, duration: 60, chargingRateUnit: 'W' });
    expect(watts).toMatchObject({ chargingSchedule: { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6900 }] } });

    // A TxProfile needs a transaction; a ChargePointMaxProfile belongs to connector 0.
    expect(await partner.command(SERIAL, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: maxProfile(8, { chargingProfileId: 12, chargingProfilePurpose: 'TxProfile' }) })).toEqual({ status: 'Rejected' });
    expect(await partner.command(SERIAL, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: maxProfile(8, { chargingProfileId: 13 }) })).toEqual({ status: 'Rejected' });
    // A lower TxDefaultProfile in watts: 2760 W over 3 phases is 4 A.
    const txDefault = maxProfile(2760, { chargingProfileId: 14, chargingProfilePurpose: 'TxDefaultProfile', chargingSchedule: { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 2760 }] }, chargingProfileKind: 'Relative' });
    expect(await partner.command(SERIAL, 'SetChargingProfile', { connectorId: 1, csChargingProfiles: txDefault })).toEqual({ status: 'Accepted' });
    await waitFor(async () => (await caps.get('CP-CMD')).partner?.limitA === 4, 3_000, 'cap 4 A');

    expect(await partner.command(SERIAL, 'ClearChargingProfile', { id: 14 })).toEqual({ status: 'Accepted' });
    await waitFor(async () => (await caps.get('CP-CMD')).partner?.limitA === 10, 3_000, 'cap back to 10 A');
    expect(await partner.command(SERIAL, 'ClearChargingProfile', { chargingProfilePurpose: 'ChargePointMaxProfile' })).toEqual({ status: 'Accepted' });
    await waitFor(async () => ((await caps.get('CP-CMD')).partner === undefined ? true : undefined), 3_000, 'cap removed');
    expect(await partner.command(SERIAL, 'ClearChargingProfile', { id: 11 })).toEqual({ status: 'Unknown' });
    expect(partner.failures).toEqual([]);
  });

  it('what the bridge does not support gets NotSupported or NotImplemented, never silence', async () => {
    const expiry = new Date(Date.now() + 3_600_000).toISOString();
    expect(await partner.command(SERIAL, 'ReserveNow', { connectorId: 1, expiryDate: expiry, idTag: 'T', reservationId: 1 })).toEqual({ error: 'NotSupported' });
    expect(await partner.command(SERIAL, 'GetDiagnostics', { location: 'ftp://example.com/' })).toEqual({ error: 'NotSupported' });
    expect(await partner.command(SERIAL, 'SendLocalList', { listVersion: 1, updateType: 'Full' })).toEqual({ error: 'NotSupported' });
    expect(await partner.command(SERIAL, 'Heartbeat', {})).toEqual({ error: 'NotImplemented' });
    expect(await partner.command(SERIAL, 'UpdateFirmware', { location: 'https://example.com/fw', retrieveDate: new Date().toISOString() })).toEqual({ error: 'NotSupported' });
  });
});

describe('the partner cap and the balancer', () => {
  it('a partner SetChargingProfile lowers the limit the charger receives; clearing it gives the current back', async () => {
    await node.stores.chargers.put('inst-cmd', 'CP-BAL', aCharger({ serial: 'BAL-1', maxCurrent: 32, minCurrent: 6 }));
    await waitFor(() => node.cache.chargers.get('CP-BAL'));
    const log: ProfileCall[] = [];
    const charger = new TestCharger('CP-BAL', () => node, log);
    await charger.connect();
    await waitFor(() => partner.callsOf('BAL-1', 'StatusNotification').length > 0, 5_000, 'accepted at the partner');
    await charger.plugIn();
    await charger.waitForLimit((l) => l === 32);

    expect(await partner.command('BAL-1', 'SetChargingProfile', { connectorId: 0, csChargingProfiles: maxProfile(10, { chargingProfileId: 21 }) })).toEqual({ status: 'Accepted' });
    expect(await charger.waitForLimit((l) => l === 10, 'limit lowered to the partner cap')).toBe(10);

    expect(await partner.command('BAL-1', 'ClearChargingProfile', { id: 21 })).toEqual({ status: 'Accepted' });
    expect(await charger.waitForLimit((l) => l === 32, 'limit back after the cap is cleared')).toBe(32);
    await sleep(50);
    await charger.close();
    expect(partner.failures).toEqual([]);
  });
});
