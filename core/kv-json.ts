import type { KV } from '@nats-io/kv';
import { PlatformError } from './errors.js';
import { decodeJson, encodeJson } from './nats.js';
import { classifyNatsError } from './nats-errors.js';

export interface Versioned<T> {
  value: T;
  revision: number;
}

export async function getJson<T>(kv: KV, key: string): Promise<Versioned<T> | undefined> {
  const entry = await kv.get(key);
  if (!entry || entry.operation !== 'PUT' || entry.length === 0) return undefined;
  return { value: decodeJson<T>(entry.value), revision: entry.revision };
}

export async function putJson(kv: KV, key: string, value: unknown): Promise<number> {
  return kv.put(key, encodeJson(value));
}

export const isWrongLastSequence = (err: unknown): boolean => classifyNatsError(err) === 'wrong-last-sequence';

/** Creates `key`; returns false when it already exists (compare-and-set on "absent"). */
export async function createJson(kv: KV, key: string, value: unknown): Promise<boolean> {
  try {
    await kv.create(key, encodeJson(value));
    return true;
  } catch (err) {
    if (isWrongLastSequence(err)) return false;
    throw err;
  }
}

/**
 * Read-modify-write with compare-and-set by revision, retried on conflict. `change` returns the new
 * value, or `undefined` to leave the entry as it is. `change` may throw to abort.
 */
export async function updateJson<T>(
  kv: KV,
  key: string,
  change: (current: T | undefined) => T | undefined,
  attempts = 10,
): Promise<T | undefined> {
  for (let i = 0; i < attempts; i++) {
    const current = await getJson<T>(kv, key);
    const next = change(current?.value);
    if (next === undefined) return current?.value;
    try {
      if (current) await kv.update(key, encodeJson(next), current.revision);
      else await kv.create(key, encodeJson(next));
      return next;
    } catch (err) {
      if (!isWrongLastSequence(err)) throw err;
    }
  }
  throw new PlatformError('STORE_CONFLICT', `Too many concurrent updates of ${key}`);
}

export async function listKeys(kv: KV, filter = '>'): Promise<string[]> {
  const keys: string[] = [];
  const it = await kv.keys(filter);
  for await (const k of it) keys.push(k);
  return keys.sort();
}
