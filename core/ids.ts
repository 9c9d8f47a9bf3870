/**
 * Ids appear in NATS subjects, KV keys and URL paths, so they are restricted to characters that are
 * safe in all three (no `.`, `*`, `>` or whitespace).
 */
export const ID_PATTERN = '^[A-Za-z0-9_-]{1,48}$';
const ID_RE = new RegExp(ID_PATTERN);

export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

export function newId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`;
}
