import { createHash, randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { ValidationError } from './errors.js';
import { isValidId, newId } from './ids.js';
import { createJson, getJson, listKeys, updateJson } from './kv-json.js';

/** An API token's scope. The token itself is never stored: the KV key is its SHA-256 hash. */
export interface ApiToken {
  id: string;
  role: 'installer';
  /** The installations this token may see and change. */
  installations: string[];
  createdAt: string;
}

const TOKEN_PREFIX = 'cpt_';
/** `cpt_` + 32 random bytes in base64url (43 characters). The prefix makes leaked tokens easy to scan for. */
const TOKEN_RE = /^cpt_[A-Za-z0-9_-]{43}$/;

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Installer tokens in the `tokens` bucket, keyed by the SHA-256 of the token. A 256-bit random token
 * needs no slow hash; a lookup by hash reveals nothing an attacker could use.
 */
export class TokenStore {
  constructor(private readonly kv: KV) {}

  /** Creates a token; the clear token is returned once and cannot be recovered later. */
  async create(installations: readonly string[], now = new Date()): Promise<{ token: string; record: ApiToken }> {
    installations.forEach((id, i) => {
      if (!isValidId(id)) throw new ValidationError(`installations.${i}`, 'must match [A-Za-z0-9_-]{1,48}');
    });
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const record: ApiToken = { id: newId('tok'), role: 'installer', installations: [...new Set(installations)], createdAt: now.toISOString() };
    await createJson(this.kv, hashToken(token), record);
    return { token, record };
  }

  /** The token's record, or undefined for an unknown, deleted or malformed token. */
  async verify(token: string): Promise<ApiToken | undefined> {
    if (!TOKEN_RE.test(token)) return undefined;
    return (await getJson<ApiToken>(this.kv, hashToken(token)))?.value;
  }

  async list(): Promise<ApiToken[]> {
    const all = await Promise.all((await listKeys(this.kv)).map(async (k) => (await getJson<ApiToken>(this.kv, k))?.value));
    return all.filter((t): t is ApiToken => !!t).sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1));
  }

  async delete(id: string): Promise<boolean> {
    for (const key of await listKeys(this.kv)) {
      if ((await getJson<ApiToken>(this.kv, key))?.value.id === id) {
        await this.kv.delete(key);
        return true;
      }
    }
    return false;
  }

  /**
   * Takes a deleted installation out of every token's scope, so that an installation created later
   * with the same id is not visible to the old tokens. Compare-and-set, so a concurrent change of a
   * token is neither lost nor undone.
   */
  async removeInstallation(installationId: string): Promise<void> {
    for (const key of await listKeys(this.kv)) {
      await updateJson<ApiToken>(this.kv, key, (cur) =>
        cur?.installations.includes(installationId) ? { ...cur, installations: cur.installations.filter((i) => i !== installationId) } : undefined,
      );
    }
  }
}
