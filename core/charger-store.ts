import type { KV } from '@nats-io/kv';
import type { CredentialStore } from './credential-store.js';
import { ROOT_CIRCUIT_ID } from './circuits.js';
import { PlatformError, ValidationError } from './errors.js';
import { isValidId } from './ids.js';
import type { InstallationStore } from './installation-store.js';
import { getJson, listKeys, putJson } from './kv-json.js';
import type { Charger } from './model.js';
import { chargerInputSchema } from './schemas.js';
import { validateWith } from './validate.js';

export const VERBOSE_LOGGING_MS = 24 * 3600 * 1000;

type ValidInput = Omit<Charger, 'id' | 'installationId' | 'serial' | 'ocpp' | 'createdAt' | 'updatedAt'> & {
  serial?: string;
  ocpp: { url?: string; password?: string; webSocketPing: boolean; verboseLogging?: boolean };
};

export class ChargerStore {
  constructor(
    private readonly kv: KV,
    private readonly installations: InstallationStore,
    private readonly credentials: CredentialStore,
  ) {}

  /** Create or replace (PUT). A charger belongs to one installation; moving it needs a delete first. */
  async put(installationId: string, chargerId: string, input: unknown, now = new Date()): Promise<{ charger: Charger; created: boolean }> {
    if (!isValidId(chargerId)) throw new ValidationError('chargerId', 'must match [A-Za-z0-9_-]{1,48}');
    const installation = await this.installations.require(installationId);
    const valid = validateWith<ValidInput>(chargerInputSchema, { ocpp: {}, ...(input as object) });
    if (valid.circuitId === ROOT_CIRCUIT_ID) delete valid.circuitId;
    if (valid.circuitId !== undefined && !installation.circuits?.some((c) => c.id === valid.circuitId)) {
      throw new ValidationError('circuitId', `no circuit ${valid.circuitId} in installation ${installationId}`);
    }
    if (valid.phaseSwitching === true && valid.phases !== 3) throw new ValidationError('phaseSwitching', 'only a 3-phase charger can switch to one phase');
    if (valid.minCurrent > valid.maxCurrent) throw new ValidationError('minCurrent', 'must be <= maxCurrent');
    const existing = await this.get(chargerId);
    if (existing && existing.installationId !== installationId) {
      throw new PlatformError('CONFLICT', `Charger ${chargerId} belongs to another installation`);
    }
    const { password, verboseLogging, ...ocpp } = valid.ocpp;
    const verboseLoggingUntil =
      verboseLogging === true
        ? new Date(now.getTime() + VERBOSE_LOGGING_MS).toISOString()
        : verboseLogging === false
          ? undefined
          : existing?.ocpp.verboseLoggingUntil;
    const ts = now.toISOString();
    const charger: Charger = {
      ...valid,
      id: chargerId,
      installationId,
      serial: valid.serial ?? chargerId,
      ocpp: { ...ocpp, ...(verboseLoggingUntil ? { verboseLoggingUntil } : {}) },
      createdAt: existing?.createdAt ?? ts,
      updatedAt: ts,
    };
    await putJson(this.kv, chargerId, charger);
    if (password !== undefined) await this.credentials.updateChargerNorth(chargerId, { configured: password });
    return { charger, created: !existing };
  }

  async get(chargerId: string): Promise<Charger | undefined> {
    if (!isValidId(chargerId)) return undefined;
    return (await getJson<Charger>(this.kv, chargerId))?.value;
  }

  async listByInstallation(installationId: string): Promise<Charger[]> {
    const all = await Promise.all((await listKeys(this.kv)).map((k) => this.get(k)));
    return all.filter((c): c is Charger => !!c && c.installationId === installationId);
  }

  async delete(chargerId: string): Promise<boolean> {
    const existed = !!(await this.get(chargerId));
    if (existed) {
      await this.kv.delete(chargerId);
      await this.credentials.deleteCharger(chargerId);
    }
    return existed;
  }
}
