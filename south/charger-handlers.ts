import type { ChargerEvent as BusEvent } from '../core/events.js';
import type { Charger, Installation } from '../core/model.js';
import type { ChargerStateStore } from '../core/charger-state-store.js';
import type { TransactionStore } from '../core/transaction-store.js';
import type { OcppAction, RequestOf, ResponseOf } from '../ocpp/actions.js';
import { NotImplementedError, SecurityError } from '../ocpp/errors.js';
import { EMPTY_RESPONSE } from '../ocpp/rpc-types.js';
import type { ChargerContext, ChargerEvent, Registration } from './charger-machine.js';
import type { ChargerObserver, ChargerRef } from './node-deps.js';
import { meterEventDue, readMeterValues, type AcceptedLimit, type MeterEventRules, type PublishedMeter } from './meter-values.js';

export type IdTagInfo = ResponseOf<'Authorize'>['idTagInfo'];

/** Decides an id tag for an installation. The default is local; the partner bridge supplies its own. */
export type Authorizer = (installation: Installation | undefined, idTag: string, chargerId: string) => Promise<IdTagInfo>;

export const localAuthorizer: Authorizer = async (installation, idTag) => {
  if (!installation) return { status: 'Invalid' };
  if (!installation.authorization.required) return { status: 'Accepted' };
  return { status: installation.authorization.idTags.includes(idTag) ? 'Accepted' : 'Invalid' };
};

/** What a handler may use: the session's state and the edges (stores, bus). */
export interface HandlerEnv {
  readonly chargerId: string;
  readonly nodeId: string;
  charger(): Charger;
  installation(): Installation | undefined;
  /** The time (ms): a number, so that the calls answered at once allocate no Date. */
  now(): number;
  context(): ChargerContext;
  /** Whether the actor has this transaction active (the same as finding it in `context().transactions`, without reading the actor). */
  hasTransaction(transactionId: number): boolean;
  /** The registration the machine decided (after BOOT: the answer). */
  registration(): Registration;
  /** Whether the machine lets the charger make this call in its registration state. */
  callAllowed(action: string): boolean;
  send(event: ChargerEvent): void;
  /** Tells every observer what was done (see ChargerObserver), one after the other; undefined when none returned a promise. */
  observe(notify: (observer: ChargerObserver, charger: ChargerRef) => Promise<void> | void): Promise<void> | undefined;
  /** The charger said something (any call): cheaper than an actor event for periodic traffic. */
  touch(at: number): void;
  publish(event: BusEvent): void;
  /** The last meter event published for this charger (the session keeps it), and when to publish. */
  lastMeterEvent: PublishedMeter | undefined;
  /** The per-phase limit (A) the charger last accepted from a SetChargingProfile, and when; see meterEventDue. */
  limit: AcceptedLimit | undefined;
  readonly meterEvents: MeterEventRules;
  readonly transactions: TransactionStore;
  readonly chargerState: ChargerStateStore;
  readonly authorize: Authorizer;
  readonly heartbeatIntervalS: number;
  readonly pendingIntervalS: number;
  readonly logger: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
}

type Handler<A extends OcppAction> = (req: RequestOf<A>, env: HandlerEnv) => Promise<ResponseOf<A>> | ResponseOf<A>;
type HandlerTable = { [A in OcppAction]?: Handler<A> };

// Chargers at the same millisecond (a node answers thousands a second) share one ISO string.
let isoMs = Number.NaN;
let isoText = '';
function iso(ms: number): string {
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

/** Every charger-initiated OCPP action is handled here, and only here. */
export const chargerHandlers: HandlerTable = {
  async BootNotification(req, env) {
    const now = env.now();
    await env.chargerState.putBoot(env.chargerId, { ...req, bootedAt: iso(now) });
    env.send({ type: 'BOOT', installationKnown: !!env.installation(), at: now });
    const status = env.registration() as Exclude<Registration, 'Unknown'>;
    env.publish({ kind: 'boot', chargerId: env.chargerId, installationId: env.charger().installationId, status, at: iso(now) });
    await env.observe((o, charger) => o.booted?.(charger));
    return { status, currentTime: iso(now), interval: status === 'Accepted' ? env.heartbeatIntervalS : env.pendingIntervalS };
  },

  Heartbeat(_req, env) {
    const now = env.now();
    env.touch(now);
    return { currentTime: iso(now) };
  },

  async StatusNotification(req, env) {
    const now = env.now();
    const connector = {
      connectorId: req.connectorId,
      status: req.status,
      errorCode: req.errorCode,
      ...(req.info ? { info: req.info } : {}),
      ...(req.vendorErrorCode ? { vendorErrorCode: req.vendorErrorCode } : {}),
      updatedAt: req.timestamp ?? iso(now),
    };
    env.send({ type: 'STATUS', connector, at: now });
    env.publish({ kind: 'status', chargerId: env.chargerId, installationId: env.charger().installationId, ...connector, timestamp: connector.updatedAt });
    await env.observe((o, charger) => o.statusNotified?.(charger, req));
    return EMPTY_RESPONSE;
  },

  async Authorize(req, env) {
    env.touch(env.now());
    return { idTagInfo: await env.authorize(env.installation(), req.idTag, env.chargerId) };
  },

  async StartTransaction(req, env) {
    const now = env.now();
    const installationId = env.charger().installationId;
    const idTagInfo = await env.authorize(env.installation(), req.idTag, env.chargerId);
    // Durable before the charger hears the answer: the stream sequence is the transaction id.
    const { transactionId } = await env.transactions.start({
      chargerId: env.chargerId,
      installationId,
      connectorId: req.connectorId,
      idTag: req.idTag,
      meterStartWh: req.meterStart,
      timestamp: req.timestamp,
      ...(req.reservationId !== undefined ? { reservationId: req.reservationId } : {}),
      nodeId: env.nodeId,
    });
    const tx = { transactionId, connectorId: req.connectorId, idTag: req.idTag, meterStartWh: req.meterStart, startedAt: req.timestamp };
    env.send({ type: 'TX_STARTED', tx, at: now });
    env.publish({ kind: 'transaction', chargerId: env.chargerId, installationId, transactionId, connectorId: req.connectorId, event: 'started', at: iso(now) });
    await env.observe((o, charger) => o.transactionStarted?.(charger, transactionId, req));
    return { transactionId, idTagInfo };
  },

  async StopTransaction(req, env) {
    const now = env.now();
    const installationId = env.charger().installationId;
    const active = env.context().transactions.find((t) => t.transactionId === req.transactionId);
    const start = active ? undefined : await env.transactions.getStart(req.transactionId, env.chargerId);
    const known = !!active || !!start;
    if (!known) env.logger.warn({ chargerId: env.chargerId, transactionId: req.transactionId }, 'StopTransaction for an unknown transaction; recorded anyway');
    // A stop for an unknown id is still acknowledged and recorded (the charger would retry forever).
    await env.transactions.stop({
      chargerId: env.chargerId,
      installationId,
      transactionId: req.transactionId,
      known,
      ...(req.idTag ? { idTag: req.idTag } : {}),
      meterStopWh: req.meterStop,
      timestamp: req.timestamp,
      ...(req.reason ? { reason: req.reason } : {}),
      ...(req.transactionData ? { transactionData: req.transactionData } : {}),
      nodeId: env.nodeId,
    });
    env.send({ type: 'TX_STOPPED', transactionId: req.transactionId, at: now });
    const connectorId = active?.connectorId ?? start?.connectorId ?? 0;
    env.publish({ kind: 'transaction', chargerId: env.chargerId, installationId, transactionId: req.transactionId, connectorId, event: 'stopped', at: iso(now) });
    await env.observe((o, charger) => o.transactionStopped?.(charger, req));
    return req.idTag ? { idTagInfo: await env.authorize(env.installation(), req.idTag, env.chargerId) } : {};
  },

  MeterValues(req, env) {
    const now = env.now();
    if (req.transactionId !== undefined && !env.hasTransaction(req.transactionId)) return meterValuesOfUnknownTransaction(req, env, now);
    return meterValuesObserved(req, env, now);
  },

  DataTransfer(req, env) {
    env.touch(env.now());
    env.logger.info({ chargerId: env.chargerId, vendorId: req.vendorId, messageId: req.messageId }, 'DataTransfer from charger');
    // No vendor extensions are implemented; 1.6 §4.3 answers UnknownVendorId.
    return { status: 'UnknownVendorId' };
  },

  DiagnosticsStatusNotification(req, env) {
    env.send({ type: 'DIAGNOSTICS_STATUS', status: req.status, at: env.now() });
    return {};
  },

  FirmwareStatusNotification(req, env) {
    env.send({ type: 'FIRMWARE_STATUS', status: req.status, at: env.now() });
    return {};
  },
};

/** Routes one incoming call to its handler, after the registration-state check. Sync handlers answer in the same turn. */
export function handleChargerCall(action: OcppAction, payload: Record<string, unknown>, env: HandlerEnv): unknown {
  const handler = chargerHandlers[action] as Handler<OcppAction> | undefined;
  if (!handler) throw new NotImplementedError(`${action} is not supported by this Central System`);
  if (!env.callAllowed(action)) {
    throw new SecurityError(`${action} is not allowed while the charger's registration is Rejected`);
  }
  return handler(payload as never, env);
}

type MeterValuesRequest = RequestOf<'MeterValues'>;
const EMPTY: ResponseOf<'MeterValues'> = EMPTY_RESPONSE;

/** After a platform restart the charger carries on with a transaction this session never saw. */
async function meterValuesOfUnknownTransaction(req: MeterValuesRequest, env: HandlerEnv, now: number): Promise<ResponseOf<'MeterValues'>> {
  const transactionId = req.transactionId as number;
  const start = await env.transactions.getStart(transactionId, env.chargerId);
  if (start) {
    const tx = { transactionId, connectorId: start.connectorId, idTag: start.idTag, meterStartWh: start.meterStartWh, startedAt: start.timestamp };
    env.send({ type: 'TX_STARTED', tx, at: now });
  }
  return meterValuesObserved(req, env, now);
}

/** Every sample reaches the observers (the partner's transaction log) first, also those the bus skips. */
function meterValuesObserved(req: MeterValuesRequest, env: HandlerEnv, now: number): Promise<ResponseOf<'MeterValues'>> | ResponseOf<'MeterValues'> {
  const observed = env.observe((o, charger) => o.meterValues?.(charger, req));
  if (observed === undefined) return meterValuesRead(req, env, now);
  return observed.then(() => meterValuesRead(req, env, now));
}

/**
 * The sampled values are read once; the actor hears of them (METER) and the bus gets an event only
 * when the reading is news for the balancer (see meterEventDue), else the sample only proves the
 * charger alive (`touch`, which reaches the actor at most every few seconds).
 */
function meterValuesRead(req: MeterValuesRequest, env: HandlerEnv, now: number): ResponseOf<'MeterValues'> {
  const charger = env.charger();
  const reading = readMeterValues(req.meterValue, charger.phases);
  if (!reading) {
    env.touch(now);
    return EMPTY;
  }
  const published = { currents: reading.currents, transactionId: req.transactionId, at: now };
  if (!meterEventDue(env.lastMeterEvent, published, env.meterEvents, env.limit)) {
    env.touch(now);
    return EMPTY;
  }
  env.lastMeterEvent = published;
  env.send({ type: 'METER', measured: { ...reading.currents, at: reading.timestamp }, ...(reading.energyWh !== undefined ? { energyWh: reading.energyWh } : {}), at: now });
  env.publish({
    kind: 'meter',
    chargerId: env.chargerId,
    installationId: charger.installationId,
    connectorId: req.connectorId,
    ...(req.transactionId !== undefined ? { transactionId: req.transactionId } : {}),
    currents: reading.currents,
    ...(reading.offered !== undefined ? { offered: reading.offered } : {}),
    ...(reading.powerW !== undefined ? { powerW: reading.powerW } : {}),
    ...(reading.energyWh !== undefined ? { energyWh: reading.energyWh } : {}),
    timestamp: reading.timestamp,
  });
  return EMPTY;
}
