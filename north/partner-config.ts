import type { ResponseOf } from '../ocpp/actions.js';
import type { PartnerConfigValues } from '../core/partner-store.js';

/**
 * The virtual configuration the partner sees: keys the bridge owns (its own connection to the
 * partner) are answered and changed here; every other key belongs to the charger and is forwarded.
 */

type KeyValue = NonNullable<ResponseOf<'GetConfiguration'>['configurationKey']>[number];

export const AUTHORIZATION_KEY = 'AuthorizationKey';

/** Keys the bridge answers itself. Matched case-insensitively (chargers do), answered in 1.6's spelling. */
export const BRIDGE_KEYS = ['AuthorizationKey', 'HeartbeatInterval', 'WebSocketPingInterval', 'TransactionMessageAttempts', 'TransactionMessageRetryInterval'] as const;
export type BridgeKey = (typeof BRIDGE_KEYS)[number];

const BRIDGE_BY_LOWER: ReadonlyMap<string, BridgeKey> = new Map(BRIDGE_KEYS.map((k) => [k.toLowerCase(), k]));

/** 1.6's spelling of a bridge key in any case, else undefined. */
export function bridgeKey(key: string): BridgeKey | undefined {
  return BRIDGE_BY_LOWER.get(key.toLowerCase());
}

export function isBridgeKey(key: string): boolean {
  return bridgeKey(key) !== undefined;
}

/** The values in force: what the partner set, else the defaults. */
export interface EffectiveConfig {
  heartbeatIntervalS: number;
  webSocketPingIntervalS: number;
  transactionMessageAttempts: number;
  transactionMessageRetryIntervalS: number;
}

export function effectiveConfig(
  set: PartnerConfigValues,
  defaults: { heartbeatIntervalS: number; pingIntervalS: number; attempts: number; retryIntervalS: number },
): EffectiveConfig {
  return {
    heartbeatIntervalS: defaults.heartbeatIntervalS,
    webSocketPingIntervalS: set.WebSocketPingInterval ?? defaults.pingIntervalS,
    transactionMessageAttempts: Math.max(1, set.TransactionMessageAttempts ?? defaults.attempts),
    transactionMessageRetryIntervalS: set.TransactionMessageRetryInterval ?? defaults.retryIntervalS,
  };
}

/** GetConfiguration entries for bridge keys. AuthorizationKey is write-only: listed without a value. */
export function bridgeEntries(cfg: EffectiveConfig, keys: readonly BridgeKey[] = BRIDGE_KEYS): KeyValue[] {
  return keys.map((key): KeyValue => {
    switch (key) {
      case 'AuthorizationKey':
        return { key, readonly: false };
      case 'HeartbeatInterval':
        return { key, readonly: false, value: String(cfg.heartbeatIntervalS) };
      case 'WebSocketPingInterval':
        return { key, readonly: false, value: String(cfg.webSocketPingIntervalS) };
      case 'TransactionMessageAttempts':
        return { key, readonly: false, value: String(cfg.transactionMessageAttempts) };
      case 'TransactionMessageRetryInterval':
        return { key, readonly: false, value: String(cfg.transactionMessageRetryIntervalS) };
    }
  });
}

const LIMITS: Record<Exclude<BridgeKey, 'AuthorizationKey'>, { min: number; max: number }> = {
  HeartbeatInterval: { min: 0, max: 86_400 },
  WebSocketPingInterval: { min: 0, max: 86_400 },
  TransactionMessageAttempts: { min: 1, max: 100 },
  TransactionMessageRetryInterval: { min: 0, max: 86_400 },
};

/** A bridge key's new value as an integer, or undefined when it is not acceptable (-> Rejected). */
export function parseBridgeValue(key: Exclude<BridgeKey, 'AuthorizationKey'>, value: string): number | undefined {
  if (!/^\s*\d+\s*$/.test(value)) return undefined;
  const n = Number(value);
  const { min, max } = LIMITS[key];
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}
