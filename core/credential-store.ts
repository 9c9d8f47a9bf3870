import type { KV } from '@nats-io/kv';
import { getJson, putJson, updateJson } from './kv-json.js';
import { hashPassword, verifyPassword, type PasswordHash } from './passwords.js';
import { kvKeys } from './subjects.js';

/** South: how a charger authenticates to us. `pending` is a rotated password not yet confirmed. */
export interface SouthCredential {
  current?: PasswordHash;
  pending?: PasswordHash;
  rotatedAt?: string;
}

/** North: what the platform presents to the partner on a charger's behalf. */
export interface NorthCredential {
  /** Set by an operator for this charger; overrides everything. */
  configured?: string;
  /** Set by the partner with ChangeConfiguration AuthorizationKey. */
  partnerSet?: string;
}

const keys = kvKeys.credentials;

export type SouthAuthResult = 'current' | 'pending' | 'initial' | 'denied';

/** Secrets in the `credentials` bucket. Nothing here is ever returned by the API or logged. */
export class CredentialStore {
  constructor(private readonly kv: KV) {}

  async setInstallationChargerPassword(installationId: string, password: string): Promise<void> {
    await putJson(this.kv, keys.installationSouth(installationId), await hashPassword(password, 'scrypt'));
  }

  async setInstallationNorthPassword(installationId: string, password: string): Promise<void> {
    await putJson(this.kv, keys.installationNorth(installationId), { password });
  }

  async installationNorthPassword(installationId: string): Promise<string | undefined> {
    return (await getJson<{ password: string }>(this.kv, keys.installationNorth(installationId)))?.value.password;
  }

  async chargerSouth(chargerId: string): Promise<SouthCredential | undefined> {
    return (await getJson<SouthCredential>(this.kv, keys.chargerSouth(chargerId)))?.value;
  }

  /**
   * Checks a charger's Basic-auth password. Once a charger has its own password, the installation's
   * initial password no longer works for it. A charger presenting the pending password proves it
   * stored it, which confirms the rotation.
   */
  async verifySouth(chargerId: string, installationId: string, password: string): Promise<SouthAuthResult> {
    const own = await this.chargerSouth(chargerId);
    if (own?.current && (await verifyPassword(password, own.current))) return 'current';
    if (own?.pending && (await verifyPassword(password, own.pending))) {
      await this.confirmSouthRotation(chargerId);
      return 'pending';
    }
    if (own?.current) return 'denied';
    const initial = await getJson<PasswordHash>(this.kv, keys.installationSouth(installationId));
    if (initial && (await verifyPassword(password, initial.value))) return 'initial';
    return 'denied';
  }

  /** Written before the new password is sent, so a crash in between cannot lock the charger out. */
  async beginSouthRotation(chargerId: string, newPassword: string): Promise<void> {
    const pending = await hashPassword(newPassword, 'sha256');
    await updateJson<SouthCredential>(this.kv, keys.chargerSouth(chargerId), (cur) => ({ ...cur, pending }));
  }

  async confirmSouthRotation(chargerId: string): Promise<void> {
    await updateJson<SouthCredential>(this.kv, keys.chargerSouth(chargerId), (cur) =>
      cur?.pending ? { current: cur.pending, rotatedAt: new Date().toISOString() } : undefined,
    );
  }

  async abortSouthRotation(chargerId: string): Promise<void> {
    await updateJson<SouthCredential>(this.kv, keys.chargerSouth(chargerId), (cur) =>
      cur?.pending ? { ...(cur.current ? { current: cur.current } : {}), ...(cur.rotatedAt ? { rotatedAt: cur.rotatedAt } : {}) } : undefined,
    );
  }

  async chargerNorth(chargerId: string): Promise<NorthCredential> {
    return (await getJson<NorthCredential>(this.kv, keys.chargerNorth(chargerId)))?.value ?? {};
  }

  async updateChargerNorth(chargerId: string, change: Partial<NorthCredential>): Promise<void> {
    await updateJson<NorthCredential>(this.kv, keys.chargerNorth(chargerId), (cur) => {
      const next: NorthCredential = { ...cur, ...change };
      for (const k of Object.keys(next) as (keyof NorthCredential)[]) if (next[k] === undefined) delete next[k];
      return next;
    });
  }

  async deleteCharger(chargerId: string): Promise<void> {
    await this.kv.delete(keys.chargerSouth(chargerId));
    await this.kv.delete(keys.chargerNorth(chargerId));
  }

  async deleteInstallation(installationId: string): Promise<void> {
    await this.kv.delete(keys.installationSouth(installationId));
    await this.kv.delete(keys.installationNorth(installationId));
  }
}
