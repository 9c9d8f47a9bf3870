import type { Phase } from '../core/model.js';
import type { RequestOf, ResponseOf } from '../ocpp/actions.js';
import { callAnswerer } from './charger-calls.js';
import { decodeAuthorizationKey, defaultConfiguration } from './charger-config.js';
import {
  clearChargingProfile,
  compositeLimit,
  compositeNumberPhases,
  compositeSchedule,
  endTransaction,
  oneConnectorContext,
  profileLimitAt,
  setChargingProfile,
  type InstalledProfile,
  type ProfileContext,
} from './charging-profiles.js';
import type { TimerHandle } from './clock.js';
import type { Car } from './ev.js';
import { OcppSocket } from './ocpp-socket.js';
import { TERMINAL_ORDER, type ChargerHost } from './charger-host.js';
import { connectorStatusOf, type ConnectorStatus } from './connector-status.js';
import { meterValuesRequest, type MeterContext } from './meter-values.js';
import { FirmwareQuirks } from './firmware-quirks.js';
import { Outlet } from './outlet.js';
import type { ChargerSpec } from './scenario.js';

export { TERMINAL_ORDER, type ChargerHost, type ChargerObserver } from './charger-host.js';
export type { ConnectorStatus } from './connector-status.js';

/**
 * A simulated OCPP 1.6 charge point with one connector, speaking OCPP-J over a real socket, and the
 * physics of the car on it: the limit its profiles set, the current the car draws per terminal,
 * and the energy register. Terminals map to grid phases through the charger's wiring.
 */
export class SimCharger {
  readonly id: string;
  /** Grid phase of each terminal (1-phase chargers have one). */
  readonly terminals: readonly Phase[];
  readonly minCurrent: number;
  password: string;
  online = false;
  registration: 'None' | 'Accepted' | 'Pending' | 'Rejected' = 'None';
  readonly config: Map<string, string>;
  profiles: readonly InstalledProfile[] = [];
  status: ConnectorStatus = 'Available';
  tx: { transactionId: number; startedAtWall: number } | undefined;
  /** Limit per the installed profiles, or the hardware maximum when none applies. */
  commandedA: number;
  /** What the charger actually offers the car (differs from `commandedA` only when misbehaving). */
  enforcedA: number;
  bootCount = 0;
  readonly outlet: Outlet;
  private socket: OcppSocket | undefined;
  private readonly quirks: FirmwareQuirks;
  private meterTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  private pendingStop: { transactionId: number; reason: 'Reboot' | 'EVDisconnected' } | undefined;
  private starting = false;
  private stopped = false;

  constructor(
    readonly spec: ChargerSpec,
    initialPassword: string,
    private readonly host: ChargerHost,
  ) {
    this.id = spec.id;
    this.password = initialPassword;
    this.terminals = spec.phases === 1 ? [spec.gridPhase ?? 'L1'] : TERMINAL_ORDER[spec.phaseRotation ?? 'L1L2L3'];
    this.minCurrent = spec.minCurrent ?? 6;
    this.config = defaultConfiguration(host.meterIntervalMs / 1000);
    this.commandedA = spec.maxCurrent;
    this.enforcedA = spec.maxCurrent;
    this.quirks = new FirmwareQuirks(spec.behaviour, spec.maxCurrent);
    this.outlet = new Outlet(this.terminals.length, host.scheduler, host.voltage, (t, changed) => {
      if (changed) host.changed(t);
      this.refreshStatus();
    });
  }

  get car(): Car | undefined {
    return this.outlet.car;
  }

  set car(car: Car | undefined) {
    this.outlet.car = car;
  }

  /** Current per terminal (A). */
  get draw(): readonly [number, number, number] {
    return this.outlet.draw;
  }

  get energyWh(): number {
    return this.outlet.energyWh;
  }

  private get t(): number {
    return this.host.scheduler.time;
  }

  /** Grid phases the car on this charger draws on (empty without a car). */
  carPhases(): Phase[] {
    return this.car ? this.terminals.slice(0, Math.min(this.car.phases, this.outlet.commandedPhases)) : [];
  }

  profileContext(): ProfileContext {
    return oneConnectorContext({ maxStackLevel: Number(this.config.get('ChargeProfileMaxStackLevel') ?? 8), tx: this.tx, voltage: this.host.voltage, phases: this.spec.phases, maxCurrent: this.spec.maxCurrent });
  }

  // ---- connection ----

  /** Connects (and boots when `boot`); resolves once registered, or rejects when refused. */
  async connect(boot: boolean): Promise<void> {
    const socket = new OcppSocket({
      baseUrl: this.host.ocppBaseUrl,
      id: this.id,
      password: this.password,
      callTimeoutMs: this.host.callTimeoutRealMs,
      onCall: (action, payload) => this.onCall(action, payload),
      onClose: () => this.host.scheduler.external((t) => this.onSocketClosed(t)),
    });
    await socket.connect();
    this.socket = socket;
    this.host.scheduler.external(() => (this.online = true));
    if (boot) await this.boot();
    else await this.sendStatus(true);
    if (this.pendingStop) await this.flushStop();
    if (this.car && !this.tx && !this.starting) this.host.scheduler.external((t) => this.startSession(t));
  }

  private onSocketClosed(t: number): void {
    if (!this.online) return;
    this.online = false;
    this.host.log(this.id, 'socket closed by the platform; reconnecting');
    if (!this.stopped) this.host.scheduler.at(t + 2_000, () => void this.connect(false).catch((e: unknown) => this.host.log(this.id, `reconnect failed: ${String(e)}`)));
  }

  private async boot(): Promise<void> {
    const res = await this.call('BootNotification', { chargePointVendor: 'SimVendor', chargePointModel: 'SimCharger-1', chargePointSerialNumber: this.id.slice(0, 25), firmwareVersion: '1.0.0' });
    if (!res) return;
    this.bootCount++;
    this.registration = res.status;
    if (res.status === 'Accepted') {
      this.config.set('HeartbeatInterval', String(res.interval));
      this.armHeartbeat();
      await this.sendStatus(true);
    } else if (res.status === 'Pending') {
      // The platform provisions the charger (AuthorizationKey) and usually triggers a new boot; if it
      // does not, boot again after the interval it gave (real seconds), as 1.6 §4.2 says.
      this.host.scheduler.after(this.host.scheduler.clock.toSim(Math.max(1, res.interval) * 1000), () => {
        if (this.online && this.registration === 'Pending') void this.boot();
      });
    }
  }

  private armHeartbeat(): void {
    this.heartbeatTimer?.cancel();
    const intervalS = Number(this.config.get('HeartbeatInterval') ?? 300);
    if (!(intervalS > 0) || this.stopped) return;
    // The interval comes from the platform, which runs in real time.
    this.heartbeatTimer = this.host.scheduler.after(this.host.scheduler.clock.toSim(intervalS * 1000), () => {
      if (this.online) void this.call('Heartbeat', {});
      this.armHeartbeat();
    });
  }

  /** A dropped socket (cable, network) for `durationMs`; charging goes on at the limit in force. */
  goOffline(t: number, durationMs: number): void {
    this.online = false;
    this.socket?.terminate();
    this.host.scheduler.at(t + durationMs, () => void this.connect(false).catch((e: unknown) => this.host.log(this.id, `reconnect failed: ${String(e)}`)));
  }

  /** A reboot: the relay opens, the transaction is lost, the charger boots again after `durationMs`. */
  reboot(t: number, durationMs: number): void {
    this.online = false;
    this.registration = 'None';
    this.socket?.terminate();
    this.heartbeatTimer?.cancel();
    if (this.tx) this.pendingStop = { transactionId: this.tx.transactionId, reason: 'Reboot' };
    this.endTx(t);
    const losesProfiles = this.spec.behaviour.rebootLosesProfiles === true;
    if (losesProfiles) this.profiles = [];
    this.applyOffer(t);
    this.host.scheduler.at(t + durationMs, (tt) => {
      if (losesProfiles && this.car) {
        // This firmware resumes charging at once, at its maximum, before it is even connected.
        this.applyOffer(tt);
        this.outlet.energise(tt, this.enforcedA);
      }
      void this.connect(true).catch((e: unknown) => this.host.log(this.id, `boot after reboot failed: ${String(e)}`));
    });
  }

  stop(): void {
    this.stopped = true;
    for (const timer of [this.meterTimer, this.heartbeatTimer]) timer?.cancel();
    this.outlet.stop();
    this.socket?.terminate();
    this.online = false;
  }

  // ---- sessions ----

  plugIn(t: number, car: Car): void {
    this.outlet.plug(t, car);
    this.host.observer.sessionChanged(this, t, 'arrived');
    this.setStatus('Preparing');
    if (this.online && this.registration === 'Accepted') this.startSession(t);
  }

  private startSession(t: number): void {
    const car = this.car;
    if (!car || this.tx || this.starting || !this.online) return;
    this.starting = true;
    void (async () => {
      try {
        const auth = await this.call('Authorize', { idTag: car.spec.idTag });
        if (!auth || auth.idTagInfo.status !== 'Accepted' || this.car !== car) return;
        const res = await this.call('StartTransaction', { connectorId: 1, idTag: car.spec.idTag, meterStart: Math.round(this.energyWh), timestamp: new Date().toISOString() });
        if (!res || this.car !== car) return;
        this.host.scheduler.external((tt) => {
          this.tx = { transactionId: res.transactionId, startedAtWall: Date.now() };
          this.quirks.sessionStarted();
          this.host.observer.sessionChanged(this, tt, 'started');
          this.applyOffer(tt);
          this.outlet.energise(tt, this.enforcedA);
          this.armMeter();
        });
      } finally {
        this.starting = false;
      }
    })();
    void t;
  }

  unplug(t: number): void {
    if (!this.car) return;
    this.outlet.unplug(t);
    this.host.observer.sessionChanged(this, t, 'departed');
    if (this.tx) this.pendingStop = { transactionId: this.tx.transactionId, reason: 'EVDisconnected' };
    this.endTx(t);
    this.applyOffer(t);
    this.setStatus('Available');
    if (this.online) void this.flushStop();
  }

  private endTx(t: number): void {
    this.tx = undefined;
    this.quirks.sessionEnded();
    this.profiles = endTransaction(this.profiles, 1);
    this.meterTimer?.cancel();
    this.outlet.cut(t);
  }

  private async flushStop(): Promise<void> {
    const stop = this.pendingStop;
    if (!stop) return;
    this.pendingStop = undefined;
    await this.call('StopTransaction', { transactionId: stop.transactionId, meterStop: Math.round(this.energyWh), timestamp: new Date().toISOString(), reason: stop.reason });
    await this.sendStatus(false);
  }

  // ---- physics ----

  /** Recomputes the limit and phases (numberPhases) from the profiles and the behaviour, tells the car (after its delay); a phase switch is reported as a new limit is. */
  applyOffer(t: number, byPlatform = false): void {
    const composite = compositeLimit(this.profiles, 1, Date.now(), this.profileContext());
    const commanded = Math.min(this.spec.maxCurrent, composite ?? this.spec.maxCurrent);
    const [before, phasesBefore] = [this.commandedA, this.outlet.commandedPhases];
    this.outlet.commandedPhases = compositeNumberPhases(this.profiles, 1, Date.now(), this.profileContext()) ?? 3;
    this.commandedA = commanded;
    if (commanded !== before || this.outlet.commandedPhases !== phasesBefore) this.host.observer.commandedChanged(this, t, before, commanded, byPlatform);
    const enforced = this.quirks.enforced(commanded, this.tx !== undefined, this.enforcedA);
    const changed = enforced !== this.enforcedA;
    this.enforcedA = enforced;
    if (changed) this.refreshStatus();
    this.outlet.offer(t, enforced);
  }

  private refreshStatus(): void {
    this.setStatus(connectorStatusOf(this.status, this.car, this.tx !== undefined, this.enforcedA, this.t));
  }

  private setStatus(status: ConnectorStatus): void {
    if (status === this.status) return;
    this.status = status;
    if (this.online) void this.sendStatus(false);
  }

  private async sendStatus(withStation: boolean): Promise<void> {
    const timestamp = new Date().toISOString();
    if (withStation) await this.call('StatusNotification', { connectorId: 0, status: 'Available', errorCode: 'NoError', timestamp });
    await this.call('StatusNotification', { connectorId: 1, status: this.status, errorCode: 'NoError', timestamp });
  }

  private armMeter(): void {
    this.meterTimer?.cancel();
    this.meterTimer = this.host.scheduler.after(this.host.meterIntervalMs, (t) => {
      if (!this.tx) return;
      // A profile may have a time-varying schedule: re-evaluate it at every sample.
      this.applyOffer(t);
      this.outlet.update(t);
      if (this.online) void this.sendMeterValues('Sample.Periodic');
      this.armMeter();
    });
  }

  private sendMeterValues(context: MeterContext): Promise<unknown> {
    return this.call('MeterValues', meterValuesRequest({ terminals: this.terminals, draw: this.draw, offeredA: this.enforcedA, energyWh: this.energyWh, voltage: this.host.voltage, transactionId: this.tx?.transactionId }, context));
  }

  private async call<A extends Parameters<OcppSocket['call']>[0]>(action: A, payload: RequestOf<A>) {
    if (!this.socket || !this.online) return undefined;
    try {
      return await this.socket.call(action, payload);
    } catch (err) {
      if (this.online) this.host.log(this.id, `${action} failed: ${String((err as Error).message ?? err)}`);
      return undefined;
    }
  }

  // ---- calls from the Central System ----

  private readonly onCall = callAnswerer(this);

  // ---- what the Central System's calls may do (see charger-calls.ts) ----

  get transactionId(): number | undefined {
    return this.tx?.transactionId;
  }

  clearProfiles(t: number, req: RequestOf<'ClearChargingProfile'>): ResponseOf<'ClearChargingProfile'> {
    const r = clearChargingProfile(this.profiles, req);
    this.profiles = r.profiles;
    this.applyOffer(t, true);
    return { status: r.status };
  }

  compositeSchedule(req: RequestOf<'GetCompositeSchedule'>): ResponseOf<'GetCompositeSchedule'> {
    return compositeSchedule(this.profiles, req, Date.now(), this.profileContext());
  }

  configurationChanged(key: string, value: string): void {
    if (key === 'AuthorizationKey') this.password = decodeAuthorizationKey(value);
    if (key === 'HeartbeatInterval') this.armHeartbeat();
  }

  /** The message a TriggerMessage asks for, to send after the answer; undefined when not supported. */
  triggered(message: string): (() => Promise<unknown>) | undefined {
    const follow: Record<string, () => Promise<unknown>> = {
      BootNotification: () => this.boot(),
      Heartbeat: () => this.call('Heartbeat', {}),
      StatusNotification: () => this.sendStatus(false),
      MeterValues: () => this.sendMeterValues('Trigger'),
      DiagnosticsStatusNotification: () => this.call('DiagnosticsStatusNotification', { status: 'Idle' }),
      FirmwareStatusNotification: () => this.call('FirmwareStatusNotification', { status: 'Idle' }),
    };
    return follow[message];
  }

  remoteStart(t: number, connectorId: number | undefined): boolean {
    if (!this.car || this.tx || (connectorId !== undefined && connectorId !== 1)) return false;
    this.startSession(t);
    return true;
  }

  remoteStop(t: number, transactionId: number): boolean {
    if (!this.tx || this.tx.transactionId !== transactionId) return false;
    this.pendingStop = { transactionId, reason: 'EVDisconnected' };
    this.endTx(t);
    this.status = 'Finishing';
    setImmediate(() => void this.flushStop());
    return true;
  }

  withTime<T>(fn: (t: number) => T): T {
    let out: T | undefined;
    this.host.scheduler.external((t) => (out = fn(t)));
    return out as T;
  }

  async setChargingProfile(req: RequestOf<'SetChargingProfile'>): Promise<ResponseOf<'SetChargingProfile'>> {
    const p = req.csChargingProfiles;
    const limitNow = (): number | undefined => profileLimitAt(p, Date.now(), this.profileContext(), this.tx?.startedAtWall);
    this.withTime((t) => this.host.observer.profileReceived(this, t, limitNow(), p.chargingProfilePurpose));
    const late = this.spec.behaviour.acceptLateS;
    if (late) await new Promise<void>((resolve) => this.host.scheduler.after(late * 1000, () => resolve()));
    return this.withTime((t) => {
      const r = setChargingProfile(this.profiles, req, this.profileContext());
      if (r.status === 'Accepted') {
        this.profiles = r.profiles;
        this.quirks.profileAccepted(this.tx !== undefined, this.enforcedA);
        this.applyOffer(t, true);
      }
      this.host.observer.profileAnswered(this, t, r.status, limitNow());
      return { status: r.status };
    });
  }
}
