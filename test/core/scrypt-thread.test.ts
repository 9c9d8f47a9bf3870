import { execFileSync } from 'node:child_process';
import { randomBytes, scrypt } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { hashPassword, verifyPassword } from '../../core/passwords.js';
import { ScryptThread } from '../../core/scrypt-thread.js';

const poolScrypt = (password: string, salt: Buffer, keylen: number): Promise<Buffer> =>
  new Promise((resolve, reject) => scrypt(password, salt, keylen, (err, key) => (err ? reject(err) : resolve(key))));

describe('scrypt on a thread of its own', () => {
  it('gives the key crypto.scrypt gives, to each of several callers at once', async () => {
    const thread = new ScryptThread();
    try {
      const inputs = Array.from({ length: 5 }, (_, i) => ({ password: `pw-${i}`, salt: randomBytes(16) }));
      const keys = await Promise.all(inputs.map((x) => thread.hash(x.password, x.salt, 32)));
      const expected = await Promise.all(inputs.map((x) => poolScrypt(x.password, x.salt, 32)));
      expect(keys.map((k) => k.toString('hex'))).toEqual(expected.map((k) => k.toString('hex')));
      expect(thread.started).toBe(1);
    } finally {
      await thread.stop();
    }
  });

  it('ends the thread when idle and starts a new one for the next hash', async () => {
    const thread = new ScryptThread(50);
    try {
      const salt = randomBytes(16);
      const first = await thread.hash('pw', salt, 32);
      expect(thread.running).toBe(true);
      await vi.waitFor(() => expect(thread.running).toBe(false), { timeout: 5_000, interval: 20 });
      const again = await thread.hash('pw', salt, 32);
      expect(again.equals(first)).toBe(true);
      expect(thread.started).toBe(2);
    } finally {
      await thread.stop();
    }
  });

  it('rejects what scrypt refuses, and goes on hashing', async () => {
    const thread = new ScryptThread();
    try {
      await expect(thread.hash('pw', randomBytes(16), -1)).rejects.toThrow(/keylen/);
      expect((await thread.hash('pw', randomBytes(16), 32)).length).toBe(32);
    } finally {
      await thread.stop();
    }
  });

  it('still verifies hashes stored before (same parameters as crypto.scrypt)', async () => {
    const salt = randomBytes(16);
    const stored = { alg: 'scrypt' as const, salt: salt.toString('base64'), hash: (await poolScrypt('installation-pw', salt, 32)).toString('base64') };
    expect(await verifyPassword('installation-pw', stored)).toBe(true);
    expect(await verifyPassword('other-pw', stored)).toBe(false);
    expect(await verifyPassword('installation-pw', await hashPassword('installation-pw', 'scrypt'))).toBe(true);
  });

  // On libuv's pool each of its 4 threads kept a 16 MiB block: 64 MiB after a few hashes.
  it.runIf(process.platform === 'linux')('keeps at most one 16 MiB scrypt block resident after a burst of hashes', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(process.cwd(), 'test/core/fixtures/scrypt-memory.ts')], { encoding: 'utf8', timeout: 60_000 });
    const { grownKiB } = JSON.parse(out.trim().split('\n').at(-1)!) as { grownKiB: number };
    expect(grownKiB).toBeLessThan(32 * 1024);
  });
});
