import type { KV } from '@nats-io/kv';
import { getJson, putJson, updateJson } from './kv-json.js';
import { kvKeys } from './subjects.js';
import type { RequestOf } from '../ocpp/actions.js';

/**
 * The partner bridge's memory in the `north` KV bucket, per charger:
 * - `tx.<chargerId>.<platformTxId>` -> the partner's transaction id, and
 *   `ptx.<chargerId>.<partnerTxId>` -> the platform's (RemoteStopTransaction, TxProfile);
 * - `config.<chargerId>`: the values the partner set for the bridge's own configuration keys;
 * - `profiles.<chargerId>`: the partner's charging profiles, from which the partner cap follows.
 */

/** Bridge-owned configuration keys the partner may change; absent = the default. */
export interface PartnerConfigValues {
  WebSocketPingInterval?: number;
  TransactionMessageAttempts?: number;
  TransactionMessageRetryInterval?: number;
}

export type ChargingProfile = RequestOf<'SetChargingProfile'>['csChargingProfiles'];

/** A partner charging profile as kept for the bridge (the charger never receives it). */
export interface StoredProfile {
  connectorId: number;
  profile: ChargingProfile;
  /** ISO time the partner set it: the start of a Relative schedule. */
  setAt: string;
}

export interface TxMapping {
  partnerTxId: number;
  connectorId: number;
}

const keys = kvKeys.north;

export class PartnerStore {
  constructor(private readonly kv: KV) {}

  async mapTransaction(chargerId: string, transactionId: number, mapping: TxMapping): Promise<void> {
    await putJson(this.kv, keys.tx(chargerId, transactionId), mapping);
    await putJson(this.kv, keys.ptx(chargerId, mapping.partnerTxId), { transactionId });
  }

  async partnerTransaction(chargerId: string, transactionId: number): Promise<TxMapping | undefined> {
    return (await getJson<TxMapping>(this.kv, keys.tx(chargerId, transactionId)))?.value;
  }

  async platformTransaction(chargerId: string, partnerTxId: number): Promise<number | undefined> {
    return (await getJson<{ transactionId: number }>(this.kv, keys.ptx(chargerId, partnerTxId)))?.value.transactionId;
  }

  /** After the partner got the StopTransaction: the ids are no longer needed. */
  async forgetTransaction(chargerId: string, transactionId: number): Promise<void> {
    const m = await this.partnerTransaction(chargerId, transactionId);
    if (m) await this.kv.delete(keys.ptx(chargerId, m.partnerTxId));
    await this.kv.delete(keys.tx(chargerId, transactionId));
  }

  async config(chargerId: string): Promise<PartnerConfigValues> {
    return (await getJson<PartnerConfigValues>(this.kv, keys.config(chargerId)))?.value ?? {};
  }

  async setConfig(chargerId: string, change: PartnerConfigValues): Promise<PartnerConfigValues> {
    const next = await updateJson<PartnerConfigValues>(this.kv, keys.config(chargerId), (cur) => ({ ...cur, ...change }));
    return next ?? {};
  }

  async clearConfig(chargerId: string, key: keyof PartnerConfigValues): Promise<void> {
    await updateJson<PartnerConfigValues>(this.kv, keys.config(chargerId), (cur) => {
      if (!cur || cur[key] === undefined) return undefined;
      const { [key]: _gone, ...rest } = cur;
      return rest;
    });
  }

  async profiles(chargerId: string): Promise<StoredProfile[]> {
    return (await getJson<StoredProfile[]>(this.kv, keys.profiles(chargerId)))?.value ?? [];
  }

  /** Compare-and-set update of the profile list; returns the new list. */
  async updateProfiles(chargerId: string, change: (current: StoredProfile[]) => StoredProfile[]): Promise<StoredProfile[]> {
    return (await updateJson<StoredProfile[]>(this.kv, keys.profiles(chargerId), (cur) => change(cur ?? []))) ?? [];
  }
}
