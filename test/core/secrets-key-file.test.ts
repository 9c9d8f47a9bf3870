import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyFromFile, SECRETS_KEY_FILE } from '../../core/secret-box.js';

/** One child process taking the key at `go` (epoch ms); what it printed, or its error output. */
function childKey(dataDir: string, go: number): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(process.cwd(), 'test/core/fixtures/secrets-key-race.ts'), dataDir, String(go)]);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

describe('the secrets key file (no SECRETS_KEY)', () => {
  it('is generated once, 0600, and read back after', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'secrets-')), 'data');
    const first = keyFromFile(dir);
    expect(first.created).toBe(true);
    expect(statSync(join(dir, SECRETS_KEY_FILE)).mode & 0o777).toBe(0o600);
    const again = keyFromFile(dir);
    expect(again.created).toBe(false);
    expect(again.key.equals(first.key)).toBe(true);
    expect(readdirSync(dir)).toEqual([SECRETS_KEY_FILE]);
  });

  it('nodes starting at once on one DATA_DIR all start, with one key: one creates it, the others read it whole', async () => {
    // Seen in CI: three cluster e2e nodes on one DATA_DIR, one of them exited with EEXIST.
    const dir = join(mkdtempSync(join(tmpdir(), 'secrets-race-')), 'data');
    // Far enough ahead for every child to have loaded tsx and be spinning.
    const go = Date.now() + 4_000;
    const results = await Promise.all(Array.from({ length: 6 }, () => childKey(dir, go)));
    for (const r of results) expect(r.code, r.err).toBe(0);
    const taken = results.map((r) => JSON.parse(r.out.trim()) as { key: string; created: boolean });
    expect(new Set(taken.map((t) => t.key)).size).toBe(1);
    expect(taken.filter((t) => t.created)).toHaveLength(1);
    expect(keyFromFile(dir).key.toString('hex')).toBe(taken[0]!.key);
    // No process's own file left behind.
    expect(readdirSync(dir)).toEqual([SECRETS_KEY_FILE]);
  }, 30_000);
});
