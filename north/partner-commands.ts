import { refusalOf, type CommandReply } from '../core/commands.js';
import type { Charger, ChargerLiveStatus } from '../core/model.js';
import { fromHexOrPlain } from '../core/passwords.js';
import type { OcppAction, RequestOf, ResponseOf } from '../ocpp/actions.js';
import { CHARGER_INITIATED_ACTIONS, SECURITY_EXTENSION_ACTIONS } from '../ocpp/actions.js';
import { createCallError, GenericError, NotImplementedError, NotSupportedError } from '../ocpp/errors.js';
import { AUTHORIZATION_KEY, bridgeEntries, bridgeKey, parseBridgeValue, type BridgeKey, type EffectiveConfig } from './partner-config.js';
import { readableKey, writableKey } from './partner-forwarded-keys.js';
import { compositeSchedule, matchesClear, withProfile, type StoredProfile } from './partner-profiles.js';
import type { PartnerConfigValues } from '../core/partner-store.js';

/**
 * What the partner's Central System may ask of the charge point the bridge stands in for. Commands
 * that act on the charger are forwarded to the real charger (over NATS, wherever it is connected) and
 * its answer passed back; what the platform knows is answered from its state; charging profiles
 * become a cap for the balancer and never reach the charger. Everything else: NotSupported.
 */
export interface PartnerCommandEnv {
  readonly chargerId: string;
  charger(): Charger | undefined;
  now(): number;
  /** A Central-System-initiated call to the real charger. */
  toCharger(action: string, payload: Record<string, unknown>): Promise<CommandReply>;
  liveStatus(): Promise<ChargerLiveStatus | undefined>;
  /** Platform transaction id of a partner transaction id, if the partner knows it. */
  platformTransaction(partnerTxId: number): Promise<number | undefined>;
  config(): Promise<EffectiveConfig>;
  /** Persists bridge-owned values; the session applies them (ping, heartbeat). */
  setConfig(change: PartnerConfigValues & { HeartbeatInterval?: number }): Promise<void>;
  /** Persists the partner-set password; resolves before the partner hears Accepted. */
  setAuthorizationKey(password: string): Promise<void>;
  updateProfiles(change: (current: StoredProfile[]) => StoredProfile[]): Promise<StoredProfile[]>;
  profiles(): Promise<StoredProfile[]>;
  /** Runs after the CALLRESULT went out (follow-up messages a TriggerMessage promised, a reconnect). */
  afterAnswer(fn: () => Promise<void> | void): void;
  trigger: {
    boot(): void;
    heartbeat(): void;
    status(connectorId?: number): Promise<void>;
    diagnosticsStatus(): Promise<void>;
    firmwareStatus(): Promise<void>;
  };
  /** A partner RemoteStartTransaction: its id tag is the partner's own, accepted and kept as is. */
  rememberRemoteStart(idTag: string): void;
  clearAuthorizationCache(): void;
}

type Handler<A extends OcppAction> = (req: RequestOf<A>, env: PartnerCommandEnv) => Promise<ResponseOf<A>> | ResponseOf<A>;
type HandlerTable = { [A in OcppAction]?: Handler<A> };

/**
 * The charger's answer; when it is not connected or does not answer, `fallback` (a valid 1.6 answer
 * such as Rejected). A CALLERROR from the charger reaches the partner with the charger's code.
 */
async function forward<A extends OcppAction>(env: PartnerCommandEnv, action: A, payload: RequestOf<A>, fallback: ResponseOf<A>): Promise<ResponseOf<A>> {
  const reply = await env.toCharger(action, payload as unknown as Record<string, unknown>);
  if (reply.ok) return reply.response as ResponseOf<A>;
  const refused = refusalOf(reply.error);
  if (refused) throw createCallError(refused.ocppCode, `charger answered: ${refused.message}`);
  return fallback;
}

const UNSUPPORTED: readonly OcppAction[] = [
  'GetDiagnostics',
  'UpdateFirmware',
  'GetLocalListVersion',
  'SendLocalList',
  'CancelReservation',
  'ReserveNow',
  ...SECURITY_EXTENSION_ACTIONS,
];

export const partnerHandlers: HandlerTable = {
  async RemoteStartTransaction(req, env) {
    const { chargingProfile, ...rest } = req;
    env.rememberRemoteStart(req.idTag);
    const answer = await forward(env, 'RemoteStartTransaction', rest, { status: 'Rejected' });
    if (answer.status === 'Accepted' && chargingProfile) {
      const connectorId = req.connectorId ?? 1;
      await env.updateProfiles((cur) => withProfile(cur, { connectorId, profile: chargingProfile, setAt: new Date(env.now()).toISOString() }));
    }
    return answer;
  },

  async RemoteStopTransaction(req, env) {
    const transactionId = await env.platformTransaction(req.transactionId);
    if (transactionId === undefined) return { status: 'Rejected' };
    return forward(env, 'RemoteStopTransaction', { transactionId }, { status: 'Rejected' });
  },

  // The partner runs the sessions, so it may restart the charger and free a stuck cable; the
  // charger keeps its charging profiles across a reset (1.6 errata 3.37), so the fuse stays safe.
  Reset: (req, env) => forward(env, 'Reset', req, { status: 'Rejected' }),
  UnlockConnector: (req, env) => forward(env, 'UnlockConnector', req, { status: 'UnlockFailed' }),
  ChangeAvailability: (req, env) => forward(env, 'ChangeAvailability', req, { status: 'Rejected' }),
  // Vendor-specific: it could do anything on the charger, so it is not passed on.
  DataTransfer: () => ({ status: 'UnknownVendorId' }),

  async ClearCache(req, env) {
    // Partner answers the bridge remembered are its cache too.
    env.clearAuthorizationCache();
    return forward(env, 'ClearCache', req, { status: 'Accepted' });
  },

  async TriggerMessage(req, env) {
    switch (req.requestedMessage) {
      case 'BootNotification':
        env.afterAnswer(() => env.trigger.boot());
        return { status: 'Accepted' };
      case 'Heartbeat':
        env.afterAnswer(() => env.trigger.heartbeat());
        return { status: 'Accepted' };
      case 'StatusNotification':
        env.afterAnswer(() => env.trigger.status(req.connectorId));
        return { status: 'Accepted' };
      case 'DiagnosticsStatusNotification':
        env.afterAnswer(() => env.trigger.diagnosticsStatus());
        return { status: 'Accepted' };
      case 'FirmwareStatusNotification':
        env.afterAnswer(() => env.trigger.firmwareStatus());
        return { status: 'Accepted' };
      case 'MeterValues':
        // Only the charger can measure now; its MeterValues reach the partner through the bridge.
        return forward(env, 'TriggerMessage', req, { status: 'Rejected' });
    }
    return { status: 'NotImplemented' };
  },

  async GetConfiguration(req, env) {
    const cfg = await env.config();
    const asked = req.key;
    if (asked !== undefined && asked.length > 0) {
      const own = [...new Set(asked.map(bridgeKey).filter((k): k is BridgeKey => k !== undefined))];
      const forwarded = [...new Set(asked.map(readableKey).filter((k): k is string => k !== undefined))];
      // Neither the bridge's nor on the allow list: unknown to the partner, never asked of the charger.
      const unknownKey = asked.filter((k) => bridgeKey(k) === undefined && readableKey(k) === undefined);
      const entries = bridgeEntries(cfg, own);
      if (forwarded.length > 0) {
        const reply = await env.toCharger('GetConfiguration', { key: forwarded });
        if (reply.ok) {
          const r = reply.response as ResponseOf<'GetConfiguration'>;
          entries.push(...onlyReadable(r.configurationKey ?? []));
          unknownKey.push(...(r.unknownKey ?? []).filter((k) => readableKey(k) !== undefined));
        } else unknownKey.push(...forwarded);
      }
      return unknownKey.length > 0 ? { configurationKey: entries, unknownKey } : { configurationKey: entries };
    }
    const reply = await env.toCharger('GetConfiguration', {});
    const charger = reply.ok ? ((reply.response as ResponseOf<'GetConfiguration'>).configurationKey ?? []) : [];
    // The charger's own values of bridge keys describe its link to the platform, not to the partner.
    return { configurationKey: [...bridgeEntries(cfg), ...onlyReadable(charger)] };
  },

  async ChangeConfiguration(req, env) {
    const key = bridgeKey(req.key);
    if (key === undefined) {
      const forwarded = writableKey(req.key);
      if (forwarded === undefined) return { status: 'NotSupported' };
      return forward(env, 'ChangeConfiguration', { key: forwarded, value: req.value }, { status: 'Rejected' });
    }
    if (key === AUTHORIZATION_KEY) {
      // 1.6 security whitepaper: hex-encoded; partners that send it plain are understood too.
      const password = fromHexOrPlain(req.value);
      if (password.length === 0 || password.length > 64) return { status: 'Rejected' };
      await env.setAuthorizationKey(password);
      return { status: 'Accepted' };
    }
    const value = parseBridgeValue(key, req.value);
    if (value === undefined) return { status: 'Rejected' };
    await env.setConfig({ [key]: value });
    return { status: 'Accepted' };
  },

  async SetChargingProfile(req, env) {
    const profile = req.csChargingProfiles;
    if (profile.chargingProfilePurpose === 'ChargePointMaxProfile' && req.connectorId !== 0) return { status: 'Rejected' };
    if (profile.chargingProfilePurpose === 'TxProfile') {
      if (req.connectorId === 0) return { status: 'Rejected' };
      if (profile.transactionId !== undefined) {
        if ((await env.platformTransaction(profile.transactionId)) === undefined) return { status: 'Rejected' };
      } else {
        const live = await env.liveStatus();
        if (!live?.activeTransactions.some((t) => t.connectorId === req.connectorId)) return { status: 'Rejected' };
      }
    }
    await env.updateProfiles((cur) => withProfile(cur, { connectorId: req.connectorId, profile, setAt: new Date(env.now()).toISOString() }));
    return { status: 'Accepted' };
  },

  async ClearChargingProfile(req, env) {
    let removed = 0;
    await env.updateProfiles((cur) => {
      const kept = cur.filter((p) => !matchesClear(p, req));
      removed = cur.length - kept.length;
      return kept;
    });
    return { status: removed > 0 ? 'Accepted' : 'Unknown' };
  },

  async GetCompositeSchedule(req, env) {
    const charger = env.charger();
    if (!charger) return { status: 'Rejected' };
    const now = env.now();
    const schedule = compositeSchedule(await env.profiles(), now, req.duration, req.chargingRateUnit, charger);
    return { status: 'Accepted', connectorId: req.connectorId, scheduleStart: schedule.startSchedule ?? new Date(now).toISOString(), chargingSchedule: schedule };
  },
};

type KeyValue = NonNullable<ResponseOf<'GetConfiguration'>['configurationKey']>[number];

/** What the charger answered, kept to the allow list (so never its AuthorizationKey, in any spelling). */
function onlyReadable(entries: readonly KeyValue[]): KeyValue[] {
  return entries.filter((e) => typeof e.key === 'string' && readableKey(e.key) !== undefined && bridgeKey(e.key) === undefined);
}

const CHARGER_SIDE: ReadonlySet<string> = new Set(CHARGER_INITIATED_ACTIONS.filter((a) => a !== 'DataTransfer'));

/** Routes one call from the partner. Unsupported actions get NotSupported, never silence. */
export async function handlePartnerCall(action: OcppAction, payload: Record<string, unknown>, env: PartnerCommandEnv): Promise<unknown> {
  const handler = partnerHandlers[action] as Handler<OcppAction> | undefined;
  if (handler) return handler(payload as never, env);
  if (CHARGER_SIDE.has(action)) throw new NotImplementedError(`${action} is sent by a charge point, not to one`);
  if (UNSUPPORTED.includes(action)) throw new NotSupportedError(`${action} is not supported by this charge point`);
  throw new GenericError(`${action} is not handled`);
}
