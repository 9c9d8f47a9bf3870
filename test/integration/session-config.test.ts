import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERBOSE_LOGGING_MS } from '../../core/charger-store.js';
import type { ChargerEvent } from '../../core/events.js';
import { decodeJson } from '../../core/nats.js';
import { subjects } from '../../core/subjects.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, ocppCall, startTestNode, strictCharger, waitFor } from '../support/platform.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url);
  await node.stores.installations.create(anInstallation({ id: 'inst-log' }));
  await node.stores.chargers.put('inst-log', 'CP-VERB', aCharger());
  await node.stores.chargers.put('inst-log', 'CP-PHASES', aCharger({ phases: 3 }));
  await node.stores.installations.create(anInstallation({ id: 'inst-rej' }));
  await node.stores.chargers.put('inst-rej', 'CP-REJ', aCharger());
  await waitFor(() => (node.cache.chargers.has('CP-VERB') && node.cache.chargers.has('CP-PHASES') && node.cache.chargers.has('CP-REJ')) || undefined);
});

afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

describe('OCPP message log of a charger', () => {
  it('keeps Heartbeat and MeterValues only while its verbose-logging window is open', async () => {
    const log: { action?: string; type: string; direction: string }[] = [];
    const sub = node.bus.nc.subscribe(subjects.ocppLog('CP-VERB'), { callback: (_e, m) => void log.push(decodeJson(m.data)) });
    const { client } = strictCharger(node, 'CP-VERB', INITIAL_PASSWORD);
    await client.connect();
    const meter = { connectorId: 1, meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value: '10' }] }] };
    const boot = { chargePointVendor: 'V', chargePointModel: 'M' };
    const periodic = (): typeof log => log.filter((e) => e.action === 'Heartbeat' || e.action === 'MeterValues');

    await ocppCall(client, 'Heartbeat', {});
    await ocppCall(client, 'MeterValues', meter);
    // The log goes out in order on one connection: once the later boot is in, the periodic calls would be.
    await ocppCall(client, 'BootNotification', boot);
    await waitFor(() => log.filter((e) => e.action === 'BootNotification').length >= 2 || undefined, 3_000, 'boot in the log');
    expect(periodic()).toEqual([]);

    // Verbose logging on (the window runs 24 h from the change): both calls and their answers are kept.
    await node.stores.chargers.put('inst-log', 'CP-VERB', aCharger({ ocpp: { verboseLogging: true } }), new Date());
    await waitFor(() => node.cache.chargers.get('CP-VERB')?.ocpp.verboseLoggingUntil, 3_000, 'window in the cache');
    await ocppCall(client, 'Heartbeat', {});
    await ocppCall(client, 'MeterValues', meter);
    await waitFor(() => periodic().length >= 4 || undefined, 3_000, 'periodic calls in the log');
    expect(periodic().map((e) => `${e.direction} ${e.type} ${e.action}`)).toEqual([
      'in CALL Heartbeat',
      'out CALLRESULT Heartbeat',
      'in CALL MeterValues',
      'out CALLRESULT MeterValues',
    ]);

    // A window that ended (switched on more than 24 h ago): left out again.
    await node.stores.chargers.put('inst-log', 'CP-VERB', aCharger({ ocpp: { verboseLogging: true } }), new Date(Date.now() - VERBOSE_LOGGING_MS - 1_000));
    await waitFor(() => (Date.parse(node.cache.chargers.get('CP-VERB')?.ocpp.verboseLoggingUntil ?? '') < Date.now() ? true : undefined), 3_000, 'ended window in the cache');
    await ocppCall(client, 'Heartbeat', {});
    await ocppCall(client, 'BootNotification', boot);
    await waitFor(() => log.filter((e) => e.action === 'BootNotification').length >= 4 || undefined, 3_000, 'second boot in the log');
    expect(periodic()).toHaveLength(4);
    sub.unsubscribe();
    await client.close();
  });
});

describe('configuration changes while a charger is connected', () => {
  it('reach its session: a current without phase is read by the phases configured now', async () => {
    const events: ChargerEvent[] = [];
    const sub = node.bus.nc.subscribe(subjects.installationEvents('inst-log'), { callback: (_e, m) => void events.push(decodeJson<ChargerEvent>(m.data)) });
    const { client } = strictCharger(node, 'CP-PHASES', INITIAL_PASSWORD);
    await client.connect();
    const total = (value: string) => ({ connectorId: 1, meterValue: [{ timestamp: new Date().toISOString(), sampledValue: [{ value, measurand: 'Current.Import' as const, unit: 'A' as const }] }] });
    const meters = (): Extract<ChargerEvent, { kind: 'meter' }>[] => events.filter((e): e is Extract<ChargerEvent, { kind: 'meter' }> => e.kind === 'meter' && e.chargerId === 'CP-PHASES');

    // Three phases: a total without phase is counted on every terminal.
    await ocppCall(client, 'MeterValues', total('10'));
    await waitFor(() => meters()[0], 3_000, 'first meter event');
    expect(meters()[0]?.currents).toEqual({ t1: 10, t2: 10, t3: 10 });

    await node.stores.chargers.put('inst-log', 'CP-PHASES', aCharger({ phases: 1 }));
    await waitFor(() => (node.cache.chargers.get('CP-PHASES')?.phases === 1 ? true : undefined), 3_000, 'one phase in the cache');
    await ocppCall(client, 'MeterValues', total('12'));
    await waitFor(() => meters()[1], 3_000, 'second meter event');
    expect(meters()[1]?.currents).toEqual({ t1: 12 });
    sub.unsubscribe();
    await client.close();
  });
});

describe('registration', () => {
  it('a charger booted Rejected may only boot; booted Accepted again, it may call', async () => {
    const { client, state } = strictCharger(node, 'CP-REJ', INITIAL_PASSWORD);
    await client.connect();
    await waitFor(() => state.authorizationKey, 5_000, 'password rotated');
    const boot = { chargePointVendor: 'V', chargePointModel: 'M' };
    expect((await ocppCall(client, 'Heartbeat', {})).currentTime).toBeDefined();
    // The node no longer knows the installation (as if removed and not yet noticed): Rejected.
    const installation = node.cache.installations.get('inst-rej')!;
    node.cache.installations.delete('inst-rej');
    try {
      expect((await ocppCall(client, 'BootNotification', boot)).status).toBe('Rejected');
      await expect(ocppCall(client, 'Heartbeat', {})).rejects.toMatchObject({ rpcErrorCode: 'SecurityError' });
    } finally {
      node.cache.installations.set('inst-rej', installation);
    }
    expect((await ocppCall(client, 'BootNotification', boot)).status).toBe('Accepted');
    expect((await ocppCall(client, 'Heartbeat', {})).currentTime).toBeDefined();
    await client.close();
  });
});
