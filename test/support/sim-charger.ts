import type { RPCClient } from 'ocpp-rpc';
import { CLOCK_SKEW_MS } from '../../balancer/charging-profile.js';
import type { PlatformNode } from '../../main.js';
import { INITIAL_PASSWORD, newStrictClient, ocppCall, waitFor, type IncomingCall } from './platform.js';

export interface ProfileCall {
  chargerId: string;
  limit: number;
  purpose: string;
  /** When it arrived at the charger. */
  at: number;
  /** When the platform built it (its schedule's start, less the skew allowance): the platform's clock. */
  builtAt: number;
  answered: 'Accepted' | 'Rejected' | 'none';
  /** The period's numberPhases, when the platform sent one (1/3-phase switching). */
  numberPhases?: number;
}

/**
 * A charger for balancer tests: a strict ocpp-rpc client that boots, reports status and meter
 * values, and applies or rejects SetChargingProfile as told. Every profile call is recorded in the
 * shared `log` with its arrival order, so tests can assert the order the platform chose.
 */
export class TestCharger {
  client: RPCClient;
  limit: number | undefined;
  /** The numberPhases of the last accepted profile (undefined: none sent). */
  numberPhases: number | undefined;
  policy: 'accept' | 'reject' | 'ignore' = 'accept';
  /** Reports MeterValues drawing each accepted limit during a transaction (on terminal 1 only when told numberPhases 1). */
  drawsLimit = false;
  txId: number | undefined;
  /** Starts as the installation's initial password; replaced by the one the platform pushes. */
  password = INITIAL_PASSWORD;

  constructor(
    readonly id: string,
    private readonly node: () => PlatformNode,
    readonly log: ProfileCall[],
  ) {
    this.client = this.makeClient();
  }

  private makeClient(): RPCClient {
    const client = newStrictClient(this.node(), this.id, this.password);
    client.handle(async ({ method, params = {} }: IncomingCall): Promise<Record<string, unknown>> => {
      if (method === 'ChangeConfiguration' && params.key === 'AuthorizationKey') {
        this.password = Buffer.from(String(params.value), 'hex').toString('utf8');
        return { status: 'Accepted' };
      }
      if (method === 'SetChargingProfile') {
        const p = params.csChargingProfiles as { chargingProfilePurpose: string; chargingSchedule: { startSchedule: string; chargingSchedulePeriod: { limit: number; numberPhases?: number }[] } };
        const { limit, numberPhases } = p.chargingSchedule.chargingSchedulePeriod[0]!;
        const builtAt = Date.parse(p.chargingSchedule.startSchedule) + CLOCK_SKEW_MS;
        const entry: ProfileCall = { chargerId: this.id, limit, purpose: p.chargingProfilePurpose, at: Date.now(), builtAt, answered: 'none', ...(numberPhases !== undefined ? { numberPhases } : {}) };
        this.log.push(entry);
        if (this.policy === 'ignore') return new Promise(() => undefined);
        if (this.policy === 'reject') {
          entry.answered = 'Rejected';
          return { status: 'Rejected' };
        }
        this.limit = limit;
        this.numberPhases = numberPhases;
        entry.answered = 'Accepted';
        if (this.drawsLimit && this.txId !== undefined) {
          const other = numberPhases === 1 ? 0 : limit;
          setTimeout(() => void this.meter(limit, other, other).catch(() => undefined), 20);
        }
        return { status: 'Accepted' };
      }
      return { status: 'Accepted' };
    });
    return client;
  }

  async connect(): Promise<void> {
    await this.client.connect();
    await ocppCall(this.client, 'BootNotification', { chargePointVendor: 'Test', chargePointModel: 'Sim' });
    await ocppCall(this.client, 'StatusNotification', { connectorId: 1, status: 'Available', errorCode: 'NoError' });
  }

  /** Plugs a car in and starts a transaction. */
  async plugIn(): Promise<void> {
    await ocppCall(this.client, 'StatusNotification', { connectorId: 1, status: 'Preparing', errorCode: 'NoError' });
    const res = await ocppCall(this.client, 'StartTransaction', { connectorId: 1, idTag: 'TAG', meterStart: 0, timestamp: new Date().toISOString() });
    this.txId = res.transactionId;
    await ocppCall(this.client, 'StatusNotification', { connectorId: 1, status: 'Charging', errorCode: 'NoError' });
  }

  async meter(t1: number, t2 = t1, t3 = t1): Promise<void> {
    await ocppCall(this.client, 'MeterValues', {
      connectorId: 1,
      ...(this.txId ? { transactionId: this.txId } : {}),
      meterValue: [
        {
          timestamp: new Date().toISOString(),
          sampledValue: [
            { value: String(t1), measurand: 'Current.Import', phase: 'L1', unit: 'A' },
            { value: String(t2), measurand: 'Current.Import', phase: 'L2', unit: 'A' },
            { value: String(t3), measurand: 'Current.Import', phase: 'L3', unit: 'A' },
          ],
        },
      ],
    });
  }

  /** A fresh socket (after a platform restart or a drop), with the password the platform gave it. */
  async reconnect(): Promise<void> {
    await this.client.close({ force: true }).catch(() => undefined);
    this.client = this.makeClient();
    await this.client.connect();
  }

  async close(): Promise<void> {
    await this.client.close({ force: true });
  }

  waitForLimit(predicate: (limit: number) => boolean, what = `${this.id} limit`): Promise<number> {
    return waitFor(() => (this.limit !== undefined && predicate(this.limit) ? this.limit : undefined), 8_000, what);
  }
}
