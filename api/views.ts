import type { Charger, Installation } from '../core/model.js';
import type { ApiDeps } from './deps.js';

/** Records as the API returns them: no secrets, only whether one is set. */
export async function installationView(deps: ApiDeps, inst: Installation): Promise<Installation & { ocpp: { hasInitialPassword: boolean } }> {
  const hasInitialPassword = (await deps.credentials.installationNorthPassword(inst.id)) !== undefined;
  return { ...inst, ocpp: { ...inst.ocpp, hasInitialPassword } };
}

export async function chargerView(deps: ApiDeps, charger: Charger): Promise<Charger & { ocpp: { hasPassword: boolean } }> {
  const hasPassword = (await deps.credentials.chargerNorth(charger.id)).configured !== undefined;
  return { ...charger, ocpp: { ...charger.ocpp, hasPassword } };
}
