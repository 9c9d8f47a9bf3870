import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PlatformError } from './errors.js';

/**
 * Secrets at rest (partner passwords in the credentials bucket): AES-256-GCM from node:crypto with a
 * fresh 96-bit nonce per value. The store key the value lives under is the associated data, so a
 * sealed value copied to another key does not open. Sealed values read `v1:<base64 nonce|tag|ciphertext>`;
 * anything else is a value written before encryption and is read as it is (and sealed on its next write).
 */
const PREFIX = 'v1:';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SECRETS_KEY_FILE = 'secrets.key';

export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new PlatformError('CONFIG', 'the secrets key must be 32 bytes');
  }

  seal(plain: string, context: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64');
  }

  /** The plain value; throws when it was sealed with another key or for another context. */
  open(stored: string, context: string): string {
    if (!stored.startsWith(PREFIX)) return stored;
    const raw = Buffer.from(stored.slice(PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, NONCE_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}

/** SECRETS_KEY: 64 hex characters or base64 of 32 bytes. */
export function parseSecretsKey(raw: string): Buffer {
  const trimmed = raw.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new PlatformError('CONFIG', 'SECRETS_KEY must be 32 bytes: 64 hex characters or base64 (e.g. `openssl rand -hex 32`)');
  return key;
}

/**
 * Without SECRETS_KEY (a single node in development): a key generated once into DATA_DIR/secrets.key
 * (mode 0600) and read from there after. Nodes of a cluster must share one SECRETS_KEY instead.
 * Nodes started at once on one DATA_DIR (the cluster e2e, `npm run cluster`) race to create it: the
 * key is written whole to a file of this process's own, then linked to the name, which only one
 * process wins (a link never replaces a file); the others read the winner's key. An exclusive create
 * of the name itself failed the losers (EEXIST), and a reader could see it half written.
 */
export function keyFromFile(dataDir: string): { key: Buffer; created: boolean } {
  const file = join(dataDir, SECRETS_KEY_FILE);
  if (existsSync(file)) return { key: parseSecretsKey(readFileSync(file, 'utf8')), created: false };
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  const own = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(own, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    chmodSync(own, 0o600);
    linkSync(own, file);
    return { key, created: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return { key: parseSecretsKey(readFileSync(file, 'utf8')), created: false };
  } finally {
    rmSync(own, { force: true });
  }
}
