import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ScryptThread } from './scrypt-thread.js';

// One per process: one thread, so one 16 MiB allocator block stays resident, not one per pool thread (scrypt-thread.ts).
const scryptThread = new ScryptThread();
const scrypt = (password: string, salt: Buffer, keylen: number): Promise<Buffer> => scryptThread.hash(password, salt, keylen);

/**
 * Stored password hashes. Human-chosen passwords (an installation's initial charger password) use
 * scrypt; the random 20-character passwords the platform generates (~119 bits) are hashed with a
 * salted SHA-256, because a slow KDF adds nothing to a high-entropy secret and would cost ~50 ms of
 * CPU on every one of thousands of charger reconnects.
 */
export interface PasswordHash {
  alg: 'scrypt' | 'sha256';
  salt: string;
  hash: string;
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';

/** A random password of printable characters, as the 1.6 security whitepaper allows (16–40). */
export function generatePassword(length = 20): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

export async function hashPassword(password: string, alg: PasswordHash['alg']): Promise<PasswordHash> {
  const salt = randomBytes(16);
  const hash = alg === 'scrypt' ? await scrypt(password, salt, 32) : sha256(salt, password);
  return { alg, salt: salt.toString('base64'), hash: hash.toString('base64') };
}

export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const salt = Buffer.from(stored.salt, 'base64');
  const expected = Buffer.from(stored.hash, 'base64');
  const actual = stored.alg === 'scrypt' ? await scrypt(password, salt, 32) : sha256(salt, password);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function sha256(salt: Buffer, password: string): Buffer {
  return createHash('sha256').update(salt).update(password, 'utf8').digest();
}

/** AuthorizationKey values travel hex-encoded (1.6 security whitepaper, ChangeConfiguration). */
export const toHex = (text: string): string => Buffer.from(text, 'utf8').toString('hex');
/** Hex is decoded when it decodes to printable ASCII; anything else is taken as a plain key. */
export function fromHexOrPlain(value: string): string {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(value)) return value;
  const decoded = Buffer.from(value, 'hex').toString('latin1');
  return /^[\x20-\x7e]+$/.test(decoded) ? decoded : value;
}
