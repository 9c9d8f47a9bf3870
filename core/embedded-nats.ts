import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { PlatformError } from './errors.js';

export interface EmbeddedNats {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  stop(): Promise<void>;
}

const INSTALL_HINT =
  'nats-server was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install -y nats-server`, ' +
  'or run `bash scripts/setup.sh`), or set NATS_URL to an existing NATS server with JetStream enabled.';

export function findNatsServer(): string | undefined {
  for (const candidate of [process.env.NATS_SERVER_BIN, 'nats-server', '/usr/sbin/nats-server', '/usr/bin/nats-server']) {
    if (!candidate) continue;
    const probe = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts a private `nats-server -js` child on a free loopback port. Used by `main.ts` when NATS_URL
 * is unset and by the test setup, so that both run against the same kind of server.
 */
export async function startEmbeddedNats(opts: { storeDir: string; port?: number; log?: (line: string) => void }): Promise<EmbeddedNats> {
  const bin = findNatsServer();
  if (!bin) throw new PlatformError('NATS_SERVER_MISSING', INSTALL_HINT);
  const storeDir = resolve(opts.storeDir);
  mkdirSync(storeDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const child: ChildProcess = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new PlatformError('NATS_SERVER_START', `nats-server did not become ready: ${output}`)), 15_000);
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString();
      output += text;
      if (output.includes('Server is ready')) {
        clearTimeout(timer);
        ready();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new PlatformError('NATS_SERVER_START', `nats-server exited with ${code}: ${output}`));
    });
  });
  child.stdout?.removeAllListeners('data');
  child.stderr?.removeAllListeners('data');
  if (opts.log) {
    child.stderr?.on('data', (c: Buffer) => opts.log?.(c.toString().trimEnd()));
  } else {
    child.stderr?.resume();
    child.stdout?.resume();
  }
  const stopOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', stopOnExit);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop: () =>
      new Promise<void>((done) => {
        process.off('exit', stopOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(kill);
          done();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** A nats-server with a store in a fresh temp folder, removed on stop (or at exit): for tests and benches. */
export async function startThrowawayNats(prefix: string): Promise<EmbeddedNats> {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  let server: EmbeddedNats;
  try {
    server = await startEmbeddedNats({ storeDir: join(dir, 'store') });
  } catch (err) {
    cleanup();
    throw err;
  }
  process.once('exit', cleanup);
  return {
    ...server,
    stop: async () => {
      await server.stop();
      process.off('exit', cleanup);
      cleanup();
    },
  };
}
