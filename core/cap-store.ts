import type { KV } from '@nats-io/kv';
import { getJson, updateJson } from './kv-json.js';

/** A limit imposed on one charger from outside the balancer. */
export interface ChargerCap {
  /** Amperes per phase; 0 means "do not charge". */
  limitA: number;
  /** Why: the partner's profile id/purpose, or the operator's note. */
  reason?: string;
  /** ISO time after which the cap no longer applies (a profile's validTo / duration). */
  validTo?: string;
  setAt: string;
}

export type CapSource = 'partner' | 'api';
export type ChargerCaps = Partial<Record<CapSource, ChargerCap>>;

/** Caps per charger in the `caps` bucket; the balancer uses the lowest one in force. */
export class CapStore {
  constructor(readonly kv: KV) {}

  async get(chargerId: string): Promise<ChargerCaps> {
    return (await getJson<ChargerCaps>(this.kv, chargerId))?.value ?? {};
  }

  async set(chargerId: string, source: CapSource, cap: ChargerCap | undefined): Promise<void> {
    await updateJson<ChargerCaps>(this.kv, chargerId, (cur) => {
      const next: ChargerCaps = { ...cur };
      if (cap) next[source] = cap;
      else delete next[source];
      return next;
    });
  }
}

/** The cap in force at `now` (the lowest of the unexpired ones), or undefined. */
export function effectiveCap(caps: ChargerCaps, now: number): number | undefined {
  let best: number | undefined;
  for (const cap of Object.values(caps)) {
    if (!cap || (cap.validTo && Date.parse(cap.validTo) <= now)) continue;
    best = best === undefined ? cap.limitA : Math.min(best, cap.limitA);
  }
  return best;
}
