import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedNats, type EmbeddedNats } from '../../core/embedded-nats.js';

/** A real nats-server with JetStream on a free port and a throw-away store, per test file. */
export async function startTestNats(): Promise<EmbeddedNats & { cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'nats-test-'));
  const server = await startEmbeddedNats({ storeDir: dir });
  return {
    ...server,
    cleanup: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
