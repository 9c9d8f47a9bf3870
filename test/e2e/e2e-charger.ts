import { RPCClient } from 'ocpp-rpc';
import type { NodeProcess } from './processes.js';

type ClientOptions = ConstructorParameters<typeof RPCClient>[0];
interface IncomingCall {
  method?: string;
  params?: Record<string, unknown>;
}

/** A SetChargingProfile as the charger applied it (on arrival: the worst case for the fuse). */
export interface GrantedLimit {
  chargerId: string;
  limit: number;
  at: number;
  /** Date.now() at arrival, to read beside the nodes' logs. */
  wall: number;
}

export const INITIAL_PASSWORD = 'e2e-initial-password';

/**
 * A simulated charger speaking through ocpp-rpc's strict client (an independent OCPP-J 1.6
 * implementation validating every message both ways). It keeps the password the platform pushes,
 * applies SetChargingProfile (recorded in a shared log), draws its limit while charging, and after
 * losing its socket connects to another node as a real charger behind a load balancer would.
 */
export class E2eCharger {
  client: RPCClient | undefined;
  node: NodeProcess | undefined;
  password = INITIAL_PASSWORD;
  keyReceived = false;
  limit: number | undefined;
  txId: number | undefined;
  /** Every transaction id the platform answered StartTransaction with. */
  readonly started: number[] = [];
  drops = 0;
  retriedTransactionMessages = 0;
  lastClose: { code: number; reason: string } | undefined;
  readonly failures: unknown[] = [];
  private meterTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    private readonly log: GrantedLimit[],
  ) {}

  get connected(): boolean {
    return this.client?.state === 1;
  }

  async connect(node: NodeProcess): Promise<void> {
    const client = new RPCClient({
      endpoint: `ws://127.0.0.1:${node.ocppPort}/ocpp`,
      identity: this.id,
      password: this.password,
      protocols: ['ocpp1.6'],
      strictMode: true,
      reconnect: false,
    } as ClientOptions);
    client.on('strictValidationFailure', (f: unknown) => this.failures.push(f));
    client.handle(async ({ method, params = {} }: IncomingCall): Promise<Record<string, unknown>> => {
      if (method === 'ChangeConfiguration' && params.key === 'AuthorizationKey') {
        this.password = Buffer.from(String(params.value), 'hex').toString('utf8');
        this.keyReceived = true;
        return { status: 'Accepted' };
      }
      if (method === 'SetChargingProfile') {
        const p = params.csChargingProfiles as { chargingSchedule: { chargingSchedulePeriod: { limit: number }[] } };
        const limit = p.chargingSchedule.chargingSchedulePeriod[0]!.limit;
        this.limit = limit;
        this.log.push({ chargerId: this.id, limit, at: performance.now(), wall: Date.now() });
        return { status: 'Accepted' };
      }
      return { status: 'Accepted' };
    });
    await client.connect();
    this.client = client;
    this.node = node;
    client.once('close', (e: { code?: number; reason?: unknown }) => {
      if (this.client !== client) return;
      this.drops++;
      this.lastClose = { code: e?.code ?? 0, reason: String(e?.reason ?? '') };
    });
    await client.call('BootNotification', { chargePointVendor: 'E2E', chargePointModel: 'Strict' });
    await client.call('StatusNotification', { connectorId: 1, status: this.txId ? 'Charging' : 'Available', errorCode: 'NoError' });
  }

  /** Closes its socket and connects to `node` (its transaction goes on). */
  async moveTo(node: NodeProcess): Promise<void> {
    const old = this.client;
    this.client = undefined;
    await old?.close({ force: true }).catch(() => undefined);
    await this.connect(node);
  }

  async plugIn(): Promise<void> {
    const c = this.client!;
    await c.call('StatusNotification', { connectorId: 1, status: 'Preparing', errorCode: 'NoError' });
    const start = { connectorId: 1, idTag: 'E2ETAG', meterStart: 0, timestamp: new Date().toISOString() };
    const res = (await this.transactionMessage(() => c.call('StartTransaction', start))) as { transactionId: number };
    this.txId = res.transactionId;
    this.started.push(res.transactionId);
    await c.call('StatusNotification', { connectorId: 1, status: 'Charging', errorCode: 'NoError' });
    this.meterTimer = setInterval(() => void this.meter().catch(() => undefined), 500);
  }

  async unplug(): Promise<void> {
    clearInterval(this.meterTimer);
    const c = this.client!;
    const stop = { transactionId: this.txId!, meterStop: 1000, timestamp: new Date().toISOString(), reason: 'EVDisconnected' };
    await this.transactionMessage(() => c.call('StopTransaction', stop));
    this.txId = undefined;
    await c.call('StatusNotification', { connectorId: 1, status: 'Available', errorCode: 'NoError' });
  }

  /**
   * Transaction messages are retried as OCPP 1.6 says a charger does (TransactionMessageAttempts,
   * TransactionMessageRetryInterval): the platform answers one only once it is durable, and refuses
   * it (InternalError) while JetStream cannot store it. The same message is sent again each time.
   */
  private async transactionMessage(send: () => Promise<unknown>, attempts = 10, intervalMs = 1_000): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (err) {
        if ((err as { rpcErrorCode?: string }).rpcErrorCode !== 'InternalError' || attempt >= attempts) throw err;
        this.retriedTransactionMessages++;
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    }
  }

  /** Draws what it was granted on all three phases. */
  private async meter(): Promise<void> {
    if (!this.connected || !this.txId) return;
    const a = String(this.limit ?? 0);
    await this.client!.call('MeterValues', {
      connectorId: 1,
      transactionId: this.txId,
      meterValue: [
        {
          timestamp: new Date().toISOString(),
          sampledValue: ['L1', 'L2', 'L3'].map((phase) => ({ value: a, measurand: 'Current.Import', phase, unit: 'A' })),
        },
      ],
    });
  }

  async close(): Promise<void> {
    clearInterval(this.meterTimer);
    await this.client?.close({ force: true }).catch(() => undefined);
  }
}

/**
 * The highest per-phase sum of granted limits at any instant (every charger here is 3-phase on
 * L1L2L3, so each phase carries the same sum): each charger counts at the last limit it applied,
 * which is what it may draw, from the moment the SetChargingProfile arrived.
 */
export function worstGrantedSum(log: readonly GrantedLimit[]): { max: number; at: number; wall?: number; granted?: Record<string, number> } {
  const granted = new Map<string, number>();
  let max: { max: number; at: number; wall?: number; granted?: Record<string, number> } = { max: 0, at: 0 };
  for (const e of [...log].sort((a, b) => a.at - b.at)) {
    granted.set(e.chargerId, e.limit);
    // Limits have one decimal: rounding to milliamperes drops the float noise of the sum, nothing real.
    const sum = Math.round([...granted.values()].reduce((a, b) => a + b, 0) * 1000) / 1000;
    if (sum > max.max) max = { max: sum, at: e.at, wall: e.wall, granted: Object.fromEntries(granted) };
  }
  return max;
}
