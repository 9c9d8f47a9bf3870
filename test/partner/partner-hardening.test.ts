import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformNode } from '../../main.js';
import { partnerUrlAllowed } from '../../north/partner-url-policy.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, startTestNode, waitFor } from '../support/platform.js';
import { TestPartner } from './partner-server.js';
import { connectCharger, PARTNER_PASSWORD, usePartnerTestEnv, type Charger } from './support.js';

/** Issue 16, partner bridge: the partner cannot reach through to the charger's secrets or flood the bridge. */

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;
let partner: TestPartner;
let other: TestPartner;
let cp: Charger;
const SERIAL = 'HARD-1';
const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

beforeAll(async () => {
  usePartnerTestEnv();
  nats = await startTestNats();
  partner = await TestPartner.start();
  other = await TestPartner.start();
  node = await startTestNode(nats.url);
  await node.stores.installations.create(anInstallation({ id: 'inst-hard', ocpp: { partnerEnabled: true, url: partner.url('/ocpp/{deviceId}'), initialPassword: PARTNER_PASSWORD } }));
  await node.stores.chargers.put('inst-hard', 'CP-HARD', aCharger({ serial: SERIAL }));
  await waitFor(() => node.cache.chargers.get('CP-HARD'));
  cp = await connectCharger(node, 'CP-HARD');
  // The real charger holds its south password under AuthorizationKey, and a vendor secret.
  cp.client.handle('GetConfiguration', async ({ params }: { params?: { key?: string[] } }) => {
    const all = [
      { key: 'AuthorizationKey', readonly: false, value: hex(cp.password) },
      { key: 'authorizationkey', readonly: false, value: hex(cp.password) },
      { key: 'VendorBackendSecret', readonly: true, value: 'vendor-secret' },
      { key: 'ConnectionTimeOut', readonly: false, value: '60' },
    ];
    const asked = params?.key;
    if (!asked?.length) return { configurationKey: all };
    return { configurationKey: all.filter((k) => asked.some((a) => a.toLowerCase() === k.key.toLowerCase())) };
  });
  await waitFor(() => partner.callsOf(SERIAL, 'StatusNotification').length > 0, 5_000, 'accepted at the partner');
});

afterAll(async () => {
  await cp?.client.close({ force: true });
  await node?.stop();
  await partner?.down();
  await other?.down();
  await nats?.cleanup();
});

const chargerGot = (action: string) => cp.state.calls.filter((c) => c.action === action);

describe('configuration keys through the bridge', () => {
  it('AuthorizationKey in any spelling is the bridge\'s: never asked of the charger, never answered with a value', async () => {
    const before = chargerGot('GetConfiguration').length;
    for (const key of ['authorizationkey', 'AUTHORIZATIONKEY', 'AuthorizationKey']) {
      const answer = await partner.command(SERIAL, 'GetConfiguration', { key: [key] });
      expect(answer).toEqual({ configurationKey: [{ key: 'AuthorizationKey', readonly: false }] });
    }
    expect(chargerGot('GetConfiguration').length).toBe(before);
    const all = JSON.stringify(await partner.command(SERIAL, 'GetConfiguration', {}));
    expect(all).not.toContain(hex(cp.password));
    expect(all).not.toContain('vendor-secret');
    expect(all).toContain('ConnectionTimeOut');
  });

  it('ChangeConfiguration "authorizationkey" sets the partner password at the bridge, not on the charger', async () => {
    const before = chargerGot('ChangeConfiguration').length;
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'authorizationkey', value: hex('partner-key-lower-1') })).toEqual({ status: 'Accepted' });
    expect(chargerGot('ChangeConfiguration').length).toBe(before);
    expect((await node.stores.credentials.chargerNorth('CP-HARD')).partnerSet).toBe('partner-key-lower-1');
    await waitFor(() => partner.connectedWith(SERIAL, 'partner-key-lower-1') || undefined, 5_000, 'reconnect with the partner-set key');
    await waitFor(() => partner.callsOf(SERIAL, 'BootNotification').length > 0 || undefined);
  });

  it('only allow-listed keys reach the charger', async () => {
    const before = chargerGot('ChangeConfiguration').length;
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '0' })).toEqual({ status: 'NotSupported' });
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'SecurityProfile', value: '0' })).toEqual({ status: 'NotSupported' });
    expect(chargerGot('ChangeConfiguration').length).toBe(before);
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'connectiontimeout', value: '45' })).toEqual({ status: 'Accepted' });
    expect(chargerGot('ChangeConfiguration').at(-1)?.params).toEqual({ key: 'ConnectionTimeOut', value: '45' });
    const asked = await partner.command(SERIAL, 'GetConfiguration', { key: ['VendorBackendSecret', 'ConnectionTimeOut'] });
    expect(asked).toEqual({ configurationKey: [{ key: 'ConnectionTimeOut', readonly: false, value: '60' }], unknownKey: ['VendorBackendSecret'] });
  });

  it('DataTransfer is answered UnknownVendorId and not passed on', async () => {
    const before = chargerGot('DataTransfer').length;
    expect(await partner.command(SERIAL, 'DataTransfer', { vendorId: 'com.vendor', messageId: 'setSecret', data: 'x' })).toEqual({ status: 'UnknownVendorId' });
    expect(chargerGot('DataTransfer').length).toBe(before);
  });
});

describe('the partner socket', () => {
  it('answers calls over the rate limit with GenericError and stays connected', async () => {
    const answers = await Promise.all(Array.from({ length: 120 }, () => partner.command(SERIAL, 'ClearChargingProfile', { id: 424242 })));
    const limited = answers.filter((a) => a.error === 'GenericError');
    expect(limited.length).toBeGreaterThan(0);
    // The burst (60, less what this connection used before) passes.
    expect(answers.filter((a) => a.status === 'Unknown').length).toBeGreaterThanOrEqual(50);
    expect(partner.clients.has(SERIAL)).toBe(true);
  });

  it('closes with 1009 on a frame above 64 KiB', async () => {
    const client = partner.client(SERIAL);
    const closed = new Promise<number>((resolve) => client._ws.once('close', (code: number) => resolve(code)));
    client._ws.send(JSON.stringify([2, 'big-1', 'DataTransfer', { vendorId: 'v', data: 'x'.repeat(200_000) }]));
    expect(await closed).toBe(1009);
    await waitFor(() => partner.clients.has(SERIAL) || undefined, 5_000, 'the bridge reconnects');
  });
});

describe('the partner URL', () => {
  it('loopback, private and link-local hosts are refused unless PARTNER_URL_ALLOW lists them', () => {
    for (const url of ['ws://127.0.0.1:9000/x', 'ws://localhost/x', 'wss://10.1.2.3/x', 'ws://192.168.1.1/x', 'ws://169.254.169.254/x', 'ws://[::1]:80/x', 'ws://[fd00::1]/x']) {
      expect(partnerUrlAllowed(url, undefined), url).toBe(false);
    }
    expect(partnerUrlAllowed('wss://partner.example/ocpp/1', undefined)).toBe(true);
    expect(partnerUrlAllowed('wss://partner.example/ocpp/1', ['*.other.example'])).toBe(false);
    expect(partnerUrlAllowed('wss://cs.partner.example/ocpp/1', ['*.partner.example'])).toBe(true);
    expect(partnerUrlAllowed('ws://127.0.0.1:9000/x', ['127.0.0.1'])).toBe(true);
    expect(partnerUrlAllowed('ws://127.0.0.1:9001/x', ['127.0.0.1:9000'])).toBe(false);
  });

  it('a password the partner set is not sent to another host when the URL changes', async () => {
    await waitFor(() => partner.callsOf(SERIAL, 'BootNotification').length > 1 || undefined, 5_000, 'booted again after the 1009');
    expect(await partner.command(SERIAL, 'ChangeConfiguration', { key: 'AuthorizationKey', value: hex('set-by-first-partner') })).toEqual({ status: 'Accepted' });
    await waitFor(() => partner.connectedWith(SERIAL, 'set-by-first-partner') || undefined, 5_000, 'reconnect with the partner-set key');
    await node.stores.installations.patch('inst-hard', { ocpp: { partnerEnabled: true, url: other.url('/ocpp/{deviceId}'), initialPassword: PARTNER_PASSWORD } });
    const shake = await waitFor(() => other.handshakes.find((h) => h.identity === SERIAL), 5_000, 'connection to the new partner');
    expect(shake.password).toBe(PARTNER_PASSWORD);
    expect((await node.stores.credentials.chargerNorth('CP-HARD')).partnerSet).toBeUndefined();
  });
});
