import type { KV } from '@nats-io/kv';
import { getJson, putJson } from './kv-json.js';
import { kvKeys } from './subjects.js';

/** What a charger last said about itself; the partner bridge boots as the charger with it. */
export interface ChargerBootInfo {
  chargePointVendor: string;
  chargePointModel: string;
  chargePointSerialNumber?: string;
  chargeBoxSerialNumber?: string;
  firmwareVersion?: string;
  iccid?: string;
  imsi?: string;
  meterType?: string;
  meterSerialNumber?: string;
  bootedAt: string;
}

export class ChargerStateStore {
  constructor(private readonly kv: KV) {}

  async putBoot(chargerId: string, info: ChargerBootInfo): Promise<void> {
    await putJson(this.kv, kvKeys.chargerState.boot(chargerId), info);
  }

  async getBoot(chargerId: string): Promise<ChargerBootInfo | undefined> {
    return (await getJson<ChargerBootInfo>(this.kv, kvKeys.chargerState.boot(chargerId)))?.value;
  }
}
