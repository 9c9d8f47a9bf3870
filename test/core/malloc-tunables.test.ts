import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MALLOC_TUNABLES, mallocTunablesEnv, mallocTunablesMissing } from '../../core/malloc-tunables.js';

/** The fixture's figures, run in a node process started with `env`. */
function freedAfterScrypt(env: NodeJS.ProcessEnv): { heldKiB: number; keptKiB: number } {
  const fixture = join(process.cwd(), 'test/core/fixtures/freed-after-scrypt.ts');
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', fixture], { encoding: 'utf8', timeout: 60_000, env });
  return JSON.parse(out.trim().split('\n').at(-1)!) as { heldKiB: number; keptKiB: number };
}

describe('malloc tunables of a node process', () => {
  // glibc's dynamic thresholds: one scrypt's 16 MiB block freed, and every arena kept up to 32 MiB it freed.
  it.runIf(process.platform === 'linux')('a node started as npm start starts it gives back a burst freed after a scrypt', () => {
    const { heldKiB, keptKiB } = freedAfterScrypt({ ...process.env, ...mallocTunablesEnv() });
    expect(heldKiB).toBeGreaterThan(30 * 1024);
    expect(keptKiB).toBeLessThan(8 * 1024);
  });

  it('adds the tunables to what the environment sets', () => {
    expect(mallocTunablesEnv({})).toEqual({ GLIBC_TUNABLES: MALLOC_TUNABLES });
    expect(mallocTunablesEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })).toEqual({ GLIBC_TUNABLES: `glibc.malloc.arena_max=2:${MALLOC_TUNABLES}` });
  });

  it('a node started without them on glibc is told so (main.ts warns)', () => {
    expect(mallocTunablesMissing({ GLIBC_TUNABLES: MALLOC_TUNABLES })).toBe(false);
    const glibc = process.platform === 'linux' && /\/libc\.so\.6$/m.test(readFileSync('/proc/self/maps', 'utf8'));
    expect(mallocTunablesMissing({})).toBe(glibc);
  });

  it('npm start and scripts/cluster.sh start nodes with the same tunables', () => {
    const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
    expect(start).toContain(`GLIBC_TUNABLES=\${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}${MALLOC_TUNABLES} node dist/main.js`);
    expect(readFileSync('scripts/cluster.sh', 'utf8')).toContain(`GLIBC_TUNABLES="\${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}${MALLOC_TUNABLES}"`);
  });
});
