import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERBOSE_LOGGING_MS } from '../../core/charger-store.js';
import { decodeJson } from '../../core/nats.js';
import { streams, subjects } from '../../core/subjects.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, startTestNode, waitFor } from '../support/platform.js';
import { TestPartner } from './partner-server.js';
import { BOOT, connectCharger, PARTNER_PASSWORD, sleep, usePartnerTestEnv, type Charger } from './support.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;
let partner: TestPartner;
const chargers: Charger[] = [];

const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

beforeAll(async () => {
  usePartnerTestEnv();
  nats = await startTestNats();
  partner = await TestPartner.start();
  node = await startTestNode(nats.url);
  await node.stores.installations.create(
    anInstallation({ id: 'inst-p', ocpp: { partnerEnabled: true, url: partner.url('/ocpp/{deviceId}'), initialPassword: PARTNER_PASSWORD } }),
  );
});

afterAll(async () => {
  await Promise.all(chargers.map((c) => c.client.close({ force: true })));
  await node?.stop();
  await partner?.down();
  await nats?.cleanup();
});

async function charger(id: string, over: Record<string, unknown>, password?: string): Promise<Charger> {
  await node.stores.chargers.put('inst-p', id, aCharger(over));
  await waitFor(() => node.cache.chargers.get(id)?.updatedAt);
  const c = await connectCharger(node, id, password);
  chargers.push(c);
  return c;
}

describe('connection', () => {
  it('expands {deviceId} with the serial, authenticates with the initial password, boots as the charger and reports every connector', async () => {
    await charger('CP-URL', { serial: 'ZCS000143' });
    const hs = await waitFor(() => partner.handshakes.find((h) => h.identity === 'ZCS000143'), 5_000, 'handshake');
    expect(hs).toMatchObject({ endpoint: '/ocpp', password: PARTNER_PASSWORD });
    const boot = await waitFor(() => partner.callsOf('ZCS000143', 'BootNotification').find((c) => c.params.firmwareVersion === BOOT.firmwareVersion), 5_000, 'boot');
    expect(boot.params).toEqual(BOOT);
    const statuses = await waitFor(() => {
      const s = partner.callsOf('ZCS000143', 'StatusNotification').map((c) => c.params.connectorId);
      return s.includes(0) && s.includes(1) ? s : undefined;
    });
    expect(statuses).toEqual(expect.arrayContaining([0, 1]));
    // The platform answers Heartbeats of the partner session itself (none forwarded from the charger).
    expect(partner.failures).toEqual([]);
  });

  it("a charger's own URL overrides the installation's template", async () => {
    await charger('CP-OVR', { serial: 'SER-OVR', ocpp: { url: partner.url('/other-path/SER-OVR') } });
    const hs = await waitFor(() => partner.handshakes.find((h) => h.identity === 'SER-OVR'), 5_000, 'handshake');
    expect(hs.endpoint).toBe('/other-path');
    expect(partner.handshakes.some((h) => h.identity === 'SER-OVR' && h.endpoint === '/ocpp')).toBe(false);
  });

  it('WebSocket ping: off by default, on at 30 s-equivalent when the charger says so, and settable by the partner (0 = off)', async () => {
    await Promise.all([charger('CP-PING-OFF', { serial: 'PING-OFF' }), charger('CP-PING-ON', { serial: 'PING-ON', ocpp: { webSocketPing: true } })]);
    await waitFor(() => partner.callsOf('PING-OFF', 'BootNotification').length > 0 && partner.callsOf('PING-ON', 'BootNotification').length > 0);
    expect(await partner.command('PING-OFF', 'GetConfiguration', { key: ['WebSocketPingInterval'] })).toEqual({
      configurationKey: [{ key: 'WebSocketPingInterval', readonly: false, value: '0' }],
    });
    expect(await partner.command('PING-ON', 'GetConfiguration', { key: ['WebSocketPingInterval'] })).toEqual({
      configurationKey: [{ key: 'WebSocketPingInterval', readonly: false, value: '1' }],
    });
    // Both connections are up for the same time: two pings on one, none on the other.
    await waitFor(() => (partner.pings.get('PING-ON')?.length ?? 0) >= 2, 4_000, 'pings with webSocketPing on');
    expect(partner.pings.get('PING-OFF') ?? []).toEqual([]);

    expect(await partner.command('PING-OFF', 'ChangeConfiguration', { key: 'WebSocketPingInterval', value: '1' })).toEqual({ status: 'Accepted' });
    await waitFor(() => (partner.pings.get('PING-OFF')?.length ?? 0) >= 2, 4_000, 'pings after ChangeConfiguration');
    expect(await partner.command('PING-OFF', 'ChangeConfiguration', { key: 'WebSocketPingInterval', value: 'soon' })).toEqual({ status: 'Rejected' });
    expect(await partner.command('PING-OFF', 'ChangeConfiguration', { key: 'WebSocketPingInterval', value: '0' })).toEqual({ status: 'Accepted' });
    const count = partner.pings.get('PING-OFF')?.length ?? 0;
    // PING-ON keeps pinging every second: two more of its pings, and none more on PING-OFF meanwhile.
    const onCount = partner.pings.get('PING-ON')?.length ?? 0;
    await waitFor(() => (partner.pings.get('PING-ON')?.length ?? 0) >= onCount + 2, 4_000, 'pings of the control connection');
    expect(partner.pings.get('PING-OFF')?.length).toBe(count);
    // Still connected: it was the ping that stopped, not the connection.
    expect(partner.clients.has('PING-OFF')).toBe(true);
    expect(partner.failures).toEqual([]);
  });

  it('verbose logging: the partner log leaves out Heartbeat and MeterValues except inside the window, which closes by itself', async () => {
    partner.behaviour.heartbeatS = 1;
    const log: { action?: string; type: string; direction: string }[] = [];
    const sub = node.bus.nc.subscribe(subjects.partnerOcppLog('CP-LOG'), { callback: (_e, m) => void log.push(decodeJson(m.data)) });
    const c = await charger('CP-LOG', { serial: 'LOG-1' });
    await waitFor(() => partner.callsOf('LOG-1', 'Heartbeat').length >= 2, 5_000, 'heartbeats at the partner');
    await c.client.call('MeterValues', { connectorId: 1, meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value: '10' }] }] });
    await waitFor(() => partner.callsOf('LOG-1', 'MeterValues').length >= 1);
    expect(log.some((e) => e.action === 'BootNotification')).toBe(true);
    expect(log.filter((e) => e.action === 'Heartbeat' || e.action === 'MeterValues')).toEqual([]);

    // Switched on with a window that ends 2.5 s from now (as if switched on 24 h ago).
    const windowEnd = Date.now() + 2_500;
    await node.stores.chargers.put('inst-p', 'CP-LOG', aCharger({ serial: 'LOG-1', ocpp: { verboseLogging: true } }), new Date(windowEnd - VERBOSE_LOGGING_MS));
    await waitFor(() => node.cache.chargers.get('CP-LOG')?.ocpp.verboseLoggingUntil);
    await c.client.call('MeterValues', { connectorId: 1, meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value: '11' }] }] });
    await waitFor(() => log.some((e) => e.action === 'Heartbeat' && e.type === 'CALL'), 3_000, 'Heartbeat in the log');
    expect(log.some((e) => e.action === 'MeterValues' && e.type === 'CALL' && e.direction === 'out')).toBe(true);

    await sleep(Math.max(0, windowEnd - Date.now()) + 300);
    const inWindow = log.filter((e) => e.action === 'Heartbeat').length;
    const heartbeats = partner.callsOf('LOG-1', 'Heartbeat').length;
    await waitFor(() => partner.callsOf('LOG-1', 'Heartbeat').length >= heartbeats + 2, 4_000, 'heartbeats after the window');
    // The log is published on this connection before each call goes out: a round trip delivers any of it.
    await node.bus.nc.flush();
    expect(partner.callsOf('LOG-1', 'Heartbeat').length).toBeGreaterThan(heartbeats);
    expect(log.filter((e) => e.action === 'Heartbeat').length).toBe(inWindow);
    sub.unsubscribe();
    // The log is kept in the OCPP_LOG stream (bounded by age), beside the charger's own log.
    const info = await node.bus.jsm.streams.info(streams.ocppLog, { subjects_filter: subjects.partnerOcppLog('CP-LOG') });
    expect(Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    partner.behaviour.heartbeatS = 60;
  });
});

describe('registration at the partner', () => {
  it('Rejected: boots again after the partner interval and sends nothing else until Accepted', async () => {
    partner.behaviour.bootStatus = 'Rejected';
    partner.behaviour.heartbeatS = 1;
    try {
      await charger('CP-REJ', { serial: 'REJ-1' });
      // The first boot may be repeated at once when the charger's own BootNotification lands; the
      // partner's interval paces the ones after.
      await waitFor(() => partner.callsOf('REJ-1', 'BootNotification').length >= 3, 5_000, 'boots after the interval');
      const boots = partner.callsOf('REJ-1', 'BootNotification');
      expect((boots[2]?.at ?? 0) - (boots[1]?.at ?? 0)).toBeGreaterThanOrEqual(900);
      expect(partner.callsOf('REJ-1').filter((c) => c.action !== 'BootNotification')).toEqual([]);
      partner.behaviour.bootStatus = 'Accepted';
      await waitFor(() => partner.callsOf('REJ-1', 'StatusNotification').length > 0, 4_000, 'statuses once Accepted');
    } finally {
      partner.behaviour.bootStatus = 'Accepted';
      partner.behaviour.heartbeatS = 60;
    }
    expect(partner.failures).toEqual([]);
  });
});

describe('configuration changes', () => {
  it('follows partnerEnabled and the URL template, and ends with the charger session', async () => {
    await node.stores.installations.create(
      anInstallation({ id: 'inst-toggle', ocpp: { partnerEnabled: true, url: partner.url('/ocpp/{deviceId}'), initialPassword: PARTNER_PASSWORD } }),
    );
    await node.stores.chargers.put('inst-toggle', 'CP-TOG', aCharger({ serial: 'TOG-1' }));
    await waitFor(() => node.cache.chargers.get('CP-TOG'));
    const c = await connectCharger(node, 'CP-TOG');
    await waitFor(() => partner.clients.has('TOG-1'), 5_000, 'connected');

    await node.stores.installations.patch('inst-toggle', { ocpp: { partnerEnabled: false } });
    await waitFor(() => !partner.clients.has('TOG-1'), 5_000, 'disconnected when disabled');
    const since = Date.now();
    await node.stores.installations.patch('inst-toggle', { ocpp: { partnerEnabled: true, url: partner.url('/v2/{deviceId}') } });
    const hs = await waitFor(() => partner.handshakes.find((h) => h.identity === 'TOG-1' && h.at >= since), 5_000, 'reconnected when enabled');
    expect(hs.endpoint).toBe('/v2');
    await node.stores.installations.patch('inst-toggle', { ocpp: { url: partner.url('/v3/{deviceId}') } });
    await waitFor(() => partner.handshakes.some((h) => h.identity === 'TOG-1' && h.endpoint === '/v3'), 5_000, 'new URL');

    await c.client.close({ force: true });
    await waitFor(() => !partner.clients.has('TOG-1'), 3_000, 'partner session ends after the charger left');
    expect(partner.failures).toEqual([]);
  });
});

describe('credentials', () => {
  it('initial password, then the partner-set AuthorizationKey (hex, then plain) on reconnect and after a platform restart; an operator password overrides', async () => {
    partner.behaviour.passwords.set('PW-1', PARTNER_PASSWORD);
    let c = await charger('CP-PW', { serial: 'PW-1' });
    await waitFor(() => partner.callsOf('PW-1', 'BootNotification').length > 0, 5_000, 'first boot');
    expect(partner.handshakes.filter((h) => h.identity === 'PW-1').map((h) => h.password)).toEqual([PARTNER_PASSWORD]);

    // Hex, as the security whitepaper says: decoded, stored before the answer, used from the next connection.
    const hexKey = 'partner-set-key-0001';
    partner.behaviour.passwords.set('PW-1', hexKey);
    expect(await partner.command('PW-1', 'ChangeConfiguration', { key: 'AuthorizationKey', value: hex(hexKey) })).toEqual({ status: 'Accepted' });
    expect((await node.stores.credentials.chargerNorth('CP-PW')).partnerSet).toBe(hexKey);
    await waitFor(() => partner.connectedWith('PW-1', hexKey), 5_000, 'reconnect with the hex key');

    // Plain, for partners that send it so.
    const plainKey = 'plain-key/0002';
    partner.behaviour.passwords.set('PW-1', plainKey);
    expect(await partner.command('PW-1', 'ChangeConfiguration', { key: 'AuthorizationKey', value: plainKey })).toEqual({ status: 'Accepted' });
    await waitFor(() => partner.connectedWith('PW-1', plainKey), 5_000, 'reconnect with the plain key');
    expect(partner.refused.filter((r) => r.identity === 'PW-1')).toEqual([]);
    // The key is write-only: GetConfiguration lists it without a value.
    const cfg = (await partner.command('PW-1', 'GetConfiguration', { key: ['AuthorizationKey'] })) as { configurationKey: unknown[] };
    expect(cfg.configurationKey).toEqual([{ key: 'AuthorizationKey', readonly: false }]);

    // A platform restart: a new node on the same NATS reads the partner-set key.
    await c.client.close({ force: true });
    await node.stop();
    const restartedAt = Date.now();
    node = await startTestNode(nats.url);
    c = await connectCharger(node, 'CP-PW', c.password);
    chargers.push(c);
    const after = await waitFor(() => partner.handshakes.find((h) => h.identity === 'PW-1' && h.at >= restartedAt), 5_000, 'handshake after restart');
    expect(after.password).toBe(plainKey);

    // The operator's password for this charger overrides the partner's.
    partner.behaviour.passwords.set('PW-1', 'operator-pw-123');
    await node.stores.chargers.put('inst-p', 'CP-PW', aCharger({ serial: 'PW-1', ocpp: { password: 'operator-pw-123' } }));
    await waitFor(() => partner.handshakes.some((h) => h.identity === 'PW-1' && h.password === 'operator-pw-123'), 5_000, 'operator password');
    expect(partner.failures).toEqual([]);
  });
});
