import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChargerCommands } from '../../core/charger-commands.js';
import type { SimCharger } from '../../sim/charger.js';
import { Scheduler, SimClock } from '../../sim/clock.js';
import { Car } from '../../sim/ev.js';
import { startPlatform, type PlatformHandle } from '../../sim/platform.js';
import { Random } from '../../sim/random.js';
import { Recorder } from '../../sim/recorder.js';
import { INITIAL_PASSWORD, balancerSettings, platformEnv } from '../../sim/runner.js';
import { parseScenario } from '../../sim/scenario.js';
import { Site } from '../../sim/site.js';
import { waitFor } from '../support/platform.js';

/**
 * The simulated charger against a real platform node: provisioning (it keeps the AuthorizationKey
 * the platform pushes) and an answer to every Central-System call, sent through the platform's
 * command API, which validates the charger's responses against the 1.6 schemas.
 */
const scenario = parseScenario({
  name: 'calls',
  durationS: 60,
  installations: [{ id: 'calls', fuse: { L1: 32, L2: 32, L3: 32 }, energyManager: { enabled: false }, chargers: [{ id: 'calls-c1', phases: 3, maxCurrent: 32 }] }],
});
let platform: PlatformHandle;
let site: Site;
let charger: SimCharger;
let scheduler: Scheduler;

beforeAll(async () => {
  platform = await startPlatform({ mode: 'in-process', env: platformEnv(scenario, 1).env });
  const inst = scenario.installations[0]!;
  await platform.api.createInstallation({ id: inst.id, name: 'calls', fuse: inst.fuse, chargerPassword: INITIAL_PASSWORD, balancer: balancerSettings(inst, 1) });
  await platform.api.putCharger(inst.id, 'calls-c1', { phases: 3, maxCurrent: 32 });
  await waitFor(() => platform.api.balancerStatus(inst.id, 300), 10_000, 'balancer');
  scheduler = new Scheduler(new SimClock(1));
  site = new Site(inst, {
    scheduler,
    api: platform.api,
    listener: new Recorder({ reclaimThresholdA: 3, reclaimHeadroomA: 2, graceMs: 1_000 }),
    rnd: new Random(1),
    initialPassword: INITIAL_PASSWORD,
    charger: { ocppBaseUrl: platform.ocppBaseUrl, meterIntervalMs: 10_000, voltage: 230, callTimeoutRealMs: 5_000, log: () => undefined },
    log: () => undefined,
  });
  charger = site.chargers[0]!;
  scheduler.clock.start();
  scheduler.start();
  await charger.connect(true);
  await waitFor(() => charger.registration === 'Accepted' && charger.commandedA === 0, 10_000, 'registered with a first limit');
}, 30_000);

afterAll(async () => {
  scheduler?.stop();
  site?.stop();
  await platform?.stop();
});

const command = (action: string, payload: Record<string, unknown>) => platform.api.request('POST', `/chargers/calls-c1/commands/${action}`, payload) as Promise<Record<string, unknown>>;
/** Charging-profile calls go the balancer's way (the command subject): the API refuses them. */
const direct = async (action: string, payload: Record<string, unknown>): Promise<Record<string, unknown>> => {
  const reply = await new ChargerCommands(platform.nc).send('calls-c1', { action, payload, timeoutMs: 5_000 });
  if (!reply.ok) throw new Error(`${action}: ${reply.error.message}`);
  return reply.response as Record<string, unknown>;
};

describe('simulated charger against the platform', () => {
  it('stores the AuthorizationKey the platform pushes and reconnects with it', async () => {
    expect(charger.password).not.toBe(INITIAL_PASSWORD);
    charger.goOffline(scheduler.time, 0);
    await waitFor(() => (charger.online ? true : undefined), 10_000, 'reconnect with the new password');
  });

  it('answers configuration, trigger and local-list calls with valid 1.6 payloads', async () => {
    const all = await command('GetConfiguration', {});
    expect((all.configurationKey as { key: string }[]).map((k) => k.key)).toContain('MeterValueSampleInterval');
    const some = await command('GetConfiguration', { key: ['AuthorizationKey', 'NoSuchKey'] });
    expect(some).toEqual({ configurationKey: [{ key: 'AuthorizationKey', readonly: false }], unknownKey: ['NoSuchKey'] });
    expect(await command('ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '15' })).toEqual({ status: 'Accepted' });
    expect(await command('ChangeConfiguration', { key: 'NumberOfConnectors', value: '2' })).toEqual({ status: 'Rejected' });
    expect(await command('ChangeConfiguration', { key: 'NoSuchKey', value: 'x' })).toEqual({ status: 'NotSupported' });
    expect(await command('TriggerMessage', { requestedMessage: 'StatusNotification' })).toEqual({ status: 'Accepted' });
    expect(await command('TriggerMessage', { requestedMessage: 'Heartbeat' })).toEqual({ status: 'Accepted' });
    expect(await command('ChangeAvailability', { connectorId: 1, type: 'Inoperative' })).toEqual({ status: 'Accepted' });
    expect(await command('UnlockConnector', { connectorId: 1 })).toEqual({ status: 'Unlocked' });
    expect(await command('ClearCache', {})).toEqual({ status: 'Accepted' });
    expect(await command('DataTransfer', { vendorId: 'x' })).toEqual({ status: 'UnknownVendorId' });
    expect(await command('GetLocalListVersion', {})).toEqual({ listVersion: 0 });
    expect(await command('SendLocalList', { listVersion: 1, updateType: 'Full' })).toEqual({ status: 'Accepted' });
    expect(await command('ReserveNow', { connectorId: 1, expiryDate: new Date(Date.now() + 60_000).toISOString(), idTag: 'T', reservationId: 1 })).toEqual({ status: 'Rejected' });
    expect(await command('CancelReservation', { reservationId: 1 })).toEqual({ status: 'Rejected' });
    expect(await command('GetDiagnostics', { location: 'ftp://example.com/' })).toEqual({});
    expect(await command('UpdateFirmware', { location: 'ftp://example.com/fw', retrieveDate: new Date().toISOString() })).toEqual({});
  });

  it('composes charging profiles and reports the composite schedule', async () => {
    const cap = { connectorId: 0, csChargingProfiles: { chargingProfileId: 77, stackLevel: 3, chargingProfilePurpose: 'ChargePointMaxProfile', chargingProfileKind: 'Absolute', chargingSchedule: { startSchedule: new Date(Date.now() - 1000).toISOString(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 20 }] } } };
    expect(await direct('SetChargingProfile', cap)).toEqual({ status: 'Accepted' });
    const schedule = await command('GetCompositeSchedule', { connectorId: 0, duration: 600 });
    expect(schedule.status).toBe('Accepted');
    expect((schedule.chargingSchedule as { chargingSchedulePeriod: unknown[] }).chargingSchedulePeriod).toEqual([{ startPeriod: 0, limit: 20 }]);
    expect(await direct('ClearChargingProfile', { id: 77 })).toEqual({ status: 'Accepted' });
    expect(await direct('ClearChargingProfile', { id: 77 })).toEqual({ status: 'Unknown' });
  });

  it('starts and stops a transaction on request, and reboots on Reset', async () => {
    expect(await command('RemoteStartTransaction', { idTag: 'T' })).toEqual({ status: 'Rejected' });
    scheduler.external((t) => charger.plugIn(t, new Car(scenario.installations[0]!.cars[0] ?? { charger: 'calls-c1', arriveS: 0, phases: 3, maxA: 32, batteryKWh: 60, socStart: 0.2, socTarget: 1, taperFromSoc: 0.8, responseDelayS: 1, idTag: 'T' }, 3, new Random(1))));
    const txId = await waitFor(() => charger.transactionId, 10_000, 'transaction');
    expect(await command('RemoteStopTransaction', { transactionId: txId + 1000 })).toEqual({ status: 'Rejected' });
    expect(await command('RemoteStopTransaction', { transactionId: txId })).toEqual({ status: 'Accepted' });
    await waitFor(() => (charger.transactionId === undefined ? true : undefined), 5_000, 'stopped');
    expect(await command('RemoteStartTransaction', { idTag: 'T' })).toEqual({ status: 'Accepted' });
    await waitFor(() => charger.transactionId, 10_000, 'started again');
    const boots = charger.bootCount;
    expect(await command('Reset', { type: 'Soft' })).toEqual({ status: 'Accepted' });
    await waitFor(() => (charger.bootCount > boots && charger.registration === 'Accepted' ? true : undefined), 20_000, 'boot after reset');
  });
});
