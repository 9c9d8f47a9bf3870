import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import { partnerMachine, type BootAnswer, type PartnerEmitted, type PartnerEvent } from '../../north/partner-machine.js';
import { capFromProfiles, compositeSchedule, type ChargingProfile, type StoredProfile } from '../../north/partner-profiles.js';
import { loadConfig } from '../../core/config.js';
import { validateResponse } from '../../ocpp/validator.js';
import { openPartnerConnection, partnerUrl, reconnectDelayMs } from '../../ocpp/partner-client.js';
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';

const T0 = Date.parse('2026-11-24T10:00:00.000Z');

const profile = (over: Partial<ChargingProfile> & { limit?: number; periods?: { startPeriod: number; limit: number }[] } = {}): StoredProfile => {
  const { limit = 16, periods, ...rest } = over;
  return {
    connectorId: 0,
    setAt: new Date(T0).toISOString(),
    profile: {
      chargingProfileId: 1,
      stackLevel: 0,
      chargingProfilePurpose: 'ChargePointMaxProfile',
      chargingProfileKind: 'Absolute',
      chargingSchedule: { chargingRateUnit: 'A', startSchedule: new Date(T0).toISOString(), chargingSchedulePeriod: periods ?? [{ startPeriod: 0, limit }] },
      ...rest,
    },
  };
};

describe('partner URL and backoff', () => {
  it('replaces {deviceId} with the serial; an override wins; only ws:// and wss://', () => {
    expect(partnerUrl('ws://ocpp.example.com/devices/{deviceId}', 'ZCS000143')).toBe('ws://ocpp.example.com/devices/ZCS000143');
    expect(partnerUrl('wss://x.example/{deviceId}', 'A B')).toBe('wss://x.example/A%20B');
    expect(partnerUrl('ws://t/{deviceId}', 'S1', 'wss://override.example/cp/S1')).toBe('wss://override.example/cp/S1');
    expect(partnerUrl(undefined, 'S1')).toBeUndefined();
    expect(partnerUrl('http://t/{deviceId}', 'S1')).toBeUndefined();
  });

  it('backs off exponentially up to the maximum, with jitter between 50 % and 100 %', () => {
    expect([0, 1, 2, 3, 10].map((a) => reconnectDelayMs(a, 1000, 8000, () => 1))).toEqual([1000, 2000, 4000, 8000, 8000]);
    expect(reconnectDelayMs(2, 1000, 8000, () => 0)).toBe(2000);
  });

  it('reads PARTNER_* settings and refuses nonsense', () => {
    expect(loadConfig({ PARTNER_PING_INTERVAL_S: '5' }).partner.pingIntervalS).toBe(5);
    expect(loadConfig({}).partner.pingIntervalS).toBe(30);
    expect(() => loadConfig({ PARTNER_CALL_TIMEOUT_MS: 'soon' })).toThrow(/PARTNER_CALL_TIMEOUT_MS/);
  });
});

describe('partner connection', () => {
  it('sends Basic auth and ocpp1.6; a peer that stops answering pings is dropped, a live one is kept', async () => {
    const seen: { auth?: string; protocol?: string }[] = [];
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false, handleProtocols: (p) => (p.has('ocpp1.6') ? 'ocpp1.6' : false) });
    server.on('connection', (_ws, req) => seen.push({ auth: req.headers.authorization, protocol: req.headers['sec-websocket-protocol'] }));
    await new Promise((r) => server.once('listening', r));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/cp/S1`;
    try {
      const conn = await openPartnerConnection({ url, identity: 'S1', password: 'pw', pingIntervalMs: 100, callTimeoutMs: 1000, connectTimeoutMs: 1000 });
      expect(seen[0]).toEqual({ auth: `Basic ${Buffer.from('S1:pw').toString('base64')}`, protocol: 'ocpp1.6' });
      const closed = await new Promise<number>((resolve) => conn.rpc.once('close', (code) => resolve(code)));
      expect(closed).toBe(1006);

      const quiet = await openPartnerConnection({ url, identity: 'S1', password: undefined, pingIntervalMs: 0, callTimeoutMs: 1000, connectTimeoutMs: 1000 });
      await new Promise((r) => setTimeout(r, 300));
      expect(quiet.rpc.isOpen).toBe(true);
      expect(seen[1]?.auth).toBeUndefined();
      quiet.close();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a ping interval set while connected starts pings at once (WebSocketPingInterval)', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', autoPong: false, handleProtocols: () => 'ocpp1.6' });
    let pings = 0;
    server.on('connection', (ws) => ws.on('ping', () => (pings += 1)));
    await new Promise((r) => server.once('listening', r));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/cp/S1`;
    try {
      const conn = await openPartnerConnection({ url, identity: 'S1', password: undefined, pingIntervalMs: 0, callTimeoutMs: 1000, connectTimeoutMs: 1000 });
      expect(conn.pingIntervalMs).toBe(0);
      const closed = new Promise<number>((resolve) => conn.rpc.once('close', (code) => resolve(code)));
      conn.setPingInterval(50);
      expect(conn.pingIntervalMs).toBe(50);
      // The peer never pongs: the second tick finds the first ping unanswered and drops it.
      expect(await closed).toBe(1006);
      expect(pings).toBe(1);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('reports a refused handshake with its HTTP status', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', verifyClient: (_info, cb) => cb(false, 401) });
    await new Promise((r) => server.once('listening', r));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/cp/S1`;
    try {
      await expect(openPartnerConnection({ url, identity: 'S1', password: 'bad', pingIntervalMs: 0, callTimeoutMs: 1000, connectTimeoutMs: 1000 })).rejects.toMatchObject({ status: 401 });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('partner profiles -> cap', () => {
  it('takes the period in force, and says when it changes', () => {
    const p = profile({ periods: [{ startPeriod: 0, limit: 20 }, { startPeriod: 600, limit: 8 }] });
    expect(capFromProfiles([p], T0 + 1000, 3)).toEqual({ limitA: 20, until: T0 + 600_000 });
    expect(capFromProfiles([p], T0 + 700_000, 3)).toEqual({ limitA: 8 });
  });

  it('the lower of the max profile and the transaction profile; highest stack level per purpose', () => {
    const max = profile({ limit: 16 });
    const txDefault = profile({ chargingProfileId: 2, chargingProfilePurpose: 'TxDefaultProfile', limit: 10 });
    const txDefaultHigher = profile({ chargingProfileId: 3, chargingProfilePurpose: 'TxDefaultProfile', stackLevel: 2, limit: 12 });
    expect(capFromProfiles([max, txDefault], T0, 3).limitA).toBe(10);
    expect(capFromProfiles([max, txDefault, txDefaultHigher], T0, 3).limitA).toBe(12);
    const tx = profile({ chargingProfileId: 4, chargingProfilePurpose: 'TxProfile', limit: 20 });
    expect(capFromProfiles([max, txDefault, tx], T0, 3).limitA).toBe(16);
  });

  it('watts to amperes per phase; expired, future and finished profiles do not limit', () => {
    const w = profile({ chargingSchedule: { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 7360, numberPhases: 1 }] } });
    expect(capFromProfiles([w], T0, 3).limitA).toBe(32);
    expect(capFromProfiles([profile({ validTo: new Date(T0 - 1).toISOString() })], T0, 3)).toEqual({});
    expect(capFromProfiles([profile({ validFrom: new Date(T0 + 5000).toISOString() })], T0, 3)).toEqual({ until: T0 + 5000 });
    const short = profile({ chargingSchedule: { chargingRateUnit: 'A', duration: 60, startSchedule: new Date(T0).toISOString(), chargingSchedulePeriod: [{ startPeriod: 0, limit: 6 }] } });
    expect(capFromProfiles([short], T0 + 61_000, 3)).toEqual({});
  });

  it('daily recurring profiles repeat', () => {
    const daily = profile({ chargingProfileKind: 'Recurring', recurrencyKind: 'Daily', periods: [{ startPeriod: 0, limit: 6 }, { startPeriod: 3600, limit: 32 }] });
    expect(capFromProfiles([daily], T0 + 24 * 3600_000 + 60_000, 3).limitA).toBe(6);
    expect(capFromProfiles([daily], T0 + 24 * 3600_000 + 3_700_000, 3).limitA).toBe(32);
  });

  it('composite schedules are valid GetCompositeSchedule answers with whole-number limits', () => {
    const p = profile({ periods: [{ startPeriod: 0, limit: 20.5 }, { startPeriod: 600, limit: 8 }] });
    const schedule = compositeSchedule([p], T0 + 300_000, 900, 'A', { maxCurrent: 16, phases: 3 });
    expect(schedule.chargingSchedulePeriod).toEqual([
      { startPeriod: 0, limit: 16 },
      { startPeriod: 300, limit: 8 },
    ]);
    const none = compositeSchedule([], T0, 60, 'W', { maxCurrent: 16, phases: 1 });
    expect(none.chargingSchedulePeriod).toEqual([{ startPeriod: 0, limit: 3680 }]);
    const answer = { status: 'Accepted', connectorId: 1, scheduleStart: schedule.startSchedule, chargingSchedule: schedule };
    expect(validateResponse('GetCompositeSchedule', answer)).toBeUndefined();
  });
});

describe('partner machine', () => {
  function start(boots: BootAnswer[], opts: { failConnect?: boolean } = {}) {
    const clock = new SimulatedClock();
    const emitted: PartnerEmitted[] = [];
    const calls: string[] = [];
    let send: ((e: PartnerEvent) => void) | undefined;
    const machine = partnerMachine.provide({
      actors: {
        connection: fromCallback(({ sendBack }) => {
          calls.push('connect');
          send = sendBack as (e: PartnerEvent) => void;
          sendBack(opts.failConnect ? { type: 'CLOSED', reason: 'refused' } : { type: 'OPENED' });
          return () => calls.push('close');
        }),
        boot: fromPromise(async () => {
          calls.push('boot');
          return boots.shift() ?? { status: 'Accepted' as const, interval: 10 };
        }),
        heartbeat: fromPromise(async (): Promise<void> => {
          calls.push('heartbeat');
        }),
        reportStatus: fromPromise(async (): Promise<void> => {
          calls.push('status');
        }),
        deliverQueue: fromCallback(() => {
          calls.push('queue');
          return () => calls.push('queue-stop');
        }),
      },
    });
    const actor = createActor(machine, {
      input: { chargerId: 'CP', timing: { reconnectMinMs: 100, reconnectMaxMs: 1000, defaultHeartbeatS: 300, bootRetryS: 5 }, random: () => 1 },
      clock,
    });
    actor.on('*', (e) => emitted.push(e));
    actor.start();
    return { actor, clock, emitted, calls, closed: (reason: string) => send?.({ type: 'CLOSED', reason }) };
  }

  const flush = () => new Promise((r) => setTimeout(r, 0));

  it('boots Pending, boots again after the interval, then heartbeats at the partner interval while it delivers the queue', async () => {
    const { actor, clock, calls } = start([{ status: 'Pending', interval: 20 }]);
    await flush();
    expect(actor.getSnapshot().context.registration).toBe('Pending');
    clock.increment(19_999);
    expect(calls.filter((c) => c === 'boot')).toHaveLength(1);
    clock.increment(1);
    await flush();
    expect(actor.getSnapshot().context.registration).toBe('Accepted');
    expect(calls).toEqual(['connect', 'boot', 'boot', 'status', 'queue']);
    clock.increment(10_000);
    await flush();
    clock.increment(10_000);
    await flush();
    expect(calls.filter((c) => c === 'heartbeat')).toHaveLength(2);
    actor.send({ type: 'SET_HEARTBEAT', intervalS: 2 });
    clock.increment(2_000);
    await flush();
    expect(calls.filter((c) => c === 'heartbeat')).toHaveLength(3);
  });

  it('reconnects with growing backoff after closes, and at once on RECONNECT', async () => {
    const { actor, clock, calls, emitted } = start([], { failConnect: true });
    await flush();
    expect(actor.getSnapshot().value).toBe('offline');
    clock.increment(99);
    expect(calls.filter((c) => c === 'connect')).toHaveLength(1);
    clock.increment(1);
    expect(calls.filter((c) => c === 'connect')).toHaveLength(2);
    clock.increment(199);
    expect(calls.filter((c) => c === 'connect')).toHaveLength(2);
    clock.increment(1);
    expect(calls.filter((c) => c === 'connect')).toHaveLength(3);
    actor.send({ type: 'RECONNECT' });
    expect(calls.filter((c) => c === 'connect')).toHaveLength(4);
    expect(emitted.filter((e) => e.type === 'disconnected').map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2, 3, 4]);
  });

  it('a close while Accepted stops the queue and closes the socket; the charger booting again boots again at the partner', async () => {
    const { actor, calls, closed } = start([]);
    await flush();
    expect(actor.getSnapshot().context.registration).toBe('Accepted');
    actor.send({ type: 'CHARGER_BOOTED' });
    await flush();
    expect(calls.filter((c) => c === 'boot')).toHaveLength(2);
    expect(calls).toContain('queue-stop');
    closed('gone');
    expect(actor.getSnapshot().value).toBe('offline');
    expect(actor.getSnapshot().context.registration).toBe('Unknown');
    expect(calls.at(-1)).toBe('close');
  });
});
