import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedNats } from '../../core/embedded-nats.js';
import { waitFor } from '../support/platform.js';

/** Issue 16: the embedded nats-server requires the node's generated user, and SIGKILL leaves no second server. */

const dir = mkdtempSync(join(tmpdir(), 'embedded-nats-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('embedded nats-server', () => {
  it('refuses clients without the generated user; the node connects with it', async () => {
    const server = await startEmbeddedNats({ storeDir: join(dir, 'auth'), auth: true });
    try {
      expect(server.auth).toBeDefined();
      await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow();
      const nc = await connect({ servers: server.url, reconnect: false, ...server.auth });
      await nc.flush();
      await nc.close();
    } finally {
      await server.stop();
    }
  });

  it('a node killed with SIGKILL leaves its nats-server; the next start on the store stops it first', async () => {
    const storeDir = join(dir, 'orphan');
    const child = spawn(join(process.cwd(), 'node_modules/.bin/tsx'), [join(process.cwd(), 'test/core/fixtures/embedded-child.ts'), storeDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const line = await waitFor(() => (out.includes('\n') ? out.split('\n')[0] : undefined), 20_000, 'the child node');
    const { pid: orphan, nodePid } = JSON.parse(line ?? '{}') as { pid: number; nodePid: number };
    // tsx runs the script in a node child of its own: that process is the node to kill.
    process.kill(nodePid, 'SIGKILL');
    child.kill('SIGKILL');
    await waitFor(() => !alive(nodePid) || undefined, 5_000, 'the node to die');
    expect(alive(orphan)).toBe(true);
    const server = await startEmbeddedNats({ storeDir });
    try {
      expect(alive(orphan)).toBe(false);
      expect(server.pid).not.toBe(orphan);
    } finally {
      await server.stop();
      if (alive(orphan)) process.kill(orphan, 'SIGKILL');
    }
  }, 40_000);
});
