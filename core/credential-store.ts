import type { KV } from '@nats-io/kv';
import { getJson, putJson, updateJson } from './kv-json.js';
import { hashPassword, verifyPassword, type PasswordHash } from './passwords.js';
import { kvKeys } from './subjects.js';
import type { SecretBox } from './secret-box.js';

/**
 * South: how a charger authenticates to us. `pending` is a rotated password not yet confirmed;
 * `earlier` are older rotations whose answer never came (the charger may hold one of them), kept
 * until a newer rotation is confirmed, so a lost `.conf` cannot lock the charger out.
 */
export interface SouthCredential {
  current?: PasswordHash;
  pending?: PasswordHash;
  earlier?: PasswordHash[];
  rotatedAt?: string;
}

/** Unconfirmed rotations kept besides the newest. */
const EARLIER_KEPT = 3;

/** North: what the platform presents to the partner on a charger's behalf (sealed at rest). */
export interface NorthCredential {
  /** Set by an operator for this charger; overrides everything. */
  configured?: string;
  /** Set by the partner with ChangeConfiguration AuthorizationKey. */
  partnerSet?: string;
  /** The partner host that set `partnerSet`: the password is not sent to any other host. */
  partnerSetHost?: string;
}

const keys = kvKeys.credentials;

export type SouthAuthResult = 'current' | 'pending' | 'initial' | 'denied';

/** Secrets in the `credentials` bucket. Nothing here is ever returned by the API or logged. */
export class CredentialStore {
  /** `box` seals partner passwords; without one (tools and tests) they are stored as they are. */
  constructor(
    private readonly kv: KV,
    private readonly box?: SecretBox,
  ) {}

  private seal(value: string, context: string): string {
    return this.box ? this.box.seal(value, context) : value;
  }

  /** Undefined when the value does not open (another SECRETS_KEY): treated as not set, never as plain text. */
  private open(value: string | undefined, context: string): string | undefined {
    if (value === undefined) return undefined;
    if (!this.box) return value;
    try {
      return this.box.open(value, context);
    } catch {
      return undefined;
    }
  }

  async setInstallationChargerPassword(installationId: string, password: string): Promise<void> {
    await putJson(this.kv, keys.installationSouth(installationId), await hashPassword(password, 'scrypt'));
  }

  async setInstallationNorthPassword(installationId: string, password: string): Promise<void> {
    const key = keys.installationNorth(installationId);
    await putJson(this.kv, key, { password: this.seal(password, key) });
  }

  async installationNorthPassword(installationId: string): Promise<string | undefined> {
    const key = keys.installationNorth(installationId);
    return this.open((await getJson<{ password: string }>(this.kv, key))?.value.password, key);
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
    for (const candidate of [own?.pending, ...(own?.earlier ?? [])]) {
      if (candidate && (await verifyPassword(password, candidate))) {
        await this.confirmSouthRotation(chargerId, candidate);
        return 'pending';
      }
    }
    if (own?.current) return 'denied';
    const initial = await getJson<PasswordHash>(this.kv, keys.installationSouth(installationId));
    if (initial && (await verifyPassword(password, initial.value))) return 'initial';
    return 'denied';
  }

  /** Written before the new password is sent, so a crash in between cannot lock the charger out. */
  async beginSouthRotation(chargerId: string, newPassword: string): Promise<void> {
    const pending = await hashPassword(newPassword, 'sha256');
    await updateJson<SouthCredential>(this.kv, keys.chargerSouth(chargerId), (cur) => {
      // An unconfirmed earlier rotation may be the key the charger holds: it stays valid.
      const earlier = [...(cur?.pending ? [cur.pending] : []), ...(cur?.earlier ?? [])].slice(0, EARLIER_KEPT);
      return { ...cur, pending, ...(earlier.length > 0 ? { earlier } : {}) };
    });
  }

  /** The charger accepted (or presented) `which` (default: the newest rotation): it becomes current, older ones go. */
  async confirmSouthRotation(chargerId: string, which?: PasswordHash): Promise<void> {
    await updateJson<SouthCredential>(this.kv, keys.chargerSouth(chargerId), (cur) => {
      const confirmed = which ?? cur?.pending;
      return confirmed ? { current: confirmed, rotatedAt: new Date().toISOString() } : undefined;
    });
  }

  /** The charger refused the newest rotation: only that one goes; earlier unconfirmed ones stay valid. */
  async abortSouthRotation(chargerId: string): Promise<void> {
    await updateJson<SouthCredential>(this.kv, keys.chargerSouth(chargerId), (cur) => {
      if (!cur?.pending) return undefined;
      const { pending: _refused, earlier, ...rest } = cur;
      const [previous, ...older] = earlier ?? [];
      return { ...rest, ...(previous ? { pending: previous } : {}), ...(older.length > 0 ? { earlier: older } : {}) };
    });
  }

  async chargerNorth(chargerId: string): Promise<NorthCredential> {
    const key = keys.chargerNorth(chargerId);
    const stored = (await getJson<NorthCredential>(this.kv, key))?.value ?? {};
    const out: NorthCredential = {};
    const configured = this.open(stored.configured, `${key}.configured`);
    const partnerSet = this.open(stored.partnerSet, `${key}.partnerSet`);
    if (configured !== undefined) out.configured = configured;
    if (partnerSet !== undefined) out.partnerSet = partnerSet;
    if (stored.partnerSetHost !== undefined) out.partnerSetHost = stored.partnerSetHost;
    return out;
  }

  async updateChargerNorth(chargerId: string, change: Partial<NorthCredential>): Promise<void> {
    const key = keys.chargerNorth(chargerId);
    const sealed: Partial<NorthCredential> = { ...change };
    if (change.configured !== undefined) sealed.configured = this.seal(change.configured, `${key}.configured`);
    if (change.partnerSet !== undefined) sealed.partnerSet = this.seal(change.partnerSet, `${key}.partnerSet`);
    await updateJson<NorthCredential>(this.kv, key, (cur) => {
      const next: NorthCredential = { ...cur, ...sealed };
      for (const k of Object.keys(next) as (keyof NorthCredential)[]) if (next[k] === undefined) delete next[k];
      return next;
    });
  }

  /** Purged, not deleted: no earlier revision of a secret stays in the bucket. */
  async deleteCharger(chargerId: string): Promise<void> {
    await this.kv.purge(keys.chargerSouth(chargerId));
    await this.kv.purge(keys.chargerNorth(chargerId));
  }

  async deleteInstallation(installationId: string): Promise<void> {
    await this.kv.purge(keys.installationSouth(installationId));
    await this.kv.purge(keys.installationNorth(installationId));
  }
}
