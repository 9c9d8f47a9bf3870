import { streams, subjects } from '../core/subjects.js';
import type { ApiDeps } from './deps.js';

/**
 * What a deleted charger leaves behind that its id would hand to the next owner: its OCPP message
 * log (id tags, ICCID, its partner session) is purged, since a charger id is global and may be
 * created again in another installation. Transactions stay: they carry their installation, and
 * the lists show installers only their own.
 */
export async function forgetCharger(deps: Pick<ApiDeps, 'bus'>, chargerId: string): Promise<void> {
  for (const filter of [subjects.ocppLog(chargerId), subjects.partnerOcppLog(chargerId)]) {
    await deps.bus.jsm.streams.purge(streams.ocppLog, { filter });
  }
}
