import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { PlatformError } from './errors.js';

export interface EmbeddedNats {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** The nats-server process. */
  readonly pid: number | undefined;
  /** The generated user the server requires, when started with `auth`. */
  readonly auth: NatsAuth | undefined;
  stop(): Promise<void>;
}

export interface NatsAuth {
  user: string;
  pass: string;
}

/** Which node runs which nats-server on a store: the next start finds an orphan by it. */
export const PID_FILE = 'nats-server.pid';
interface PidRecord {
  nodePid: number;
  natsPid: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a process (Linux /proc), '' when it cannot be read. */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/**
 * A node killed with SIGKILL cannot stop its nats-server: the server lives on, holding the store.
 * Before starting on a store: refuse when a live node still owns it; stop an orphaned server of it
 * (one whose command line names this store) so that no two servers ever share one store.
 */
async function takeOverStore(storeDir: string): Promise<void> {
  const file = join(storeDir, PID_FILE);
  if (!existsSync(file)) return;
  let record: PidRecord;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
  } catch {
    return;
  }
  if (record.nodePid !== process.pid && alive(record.nodePid) && commandLine(record.natsPid).includes(storeDir)) {
    throw new PlatformError('NATS_STORE_IN_USE', `${storeDir} is in use by the node with pid ${record.nodePid}; give each node its own DATA_DIR`);
  }
  if (alive(record.natsPid) && commandLine(record.natsPid).includes(storeDir)) {
    process.kill(record.natsPid, 'SIGTERM');
    if (!(await waitForExit(record.natsPid, 10_000))) {
      process.kill(record.natsPid, 'SIGKILL');
      await waitForExit(record.natsPid, 5_000);
    }
  }
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
export async function startEmbeddedNats(opts: { storeDir: string; port?: number; log?: (line: string) => void; auth?: boolean }): Promise<EmbeddedNats> {
  const bin = findNatsServer();
  if (!bin) throw new PlatformError('NATS_SERVER_MISSING', INSTALL_HINT);
  const storeDir = resolve(opts.storeDir);
  mkdirSync(storeDir, { recursive: true });
  await takeOverStore(storeDir);
  const port = opts.port ?? (await freePort());
  // A user generated per start: other local processes cannot use the node's bus. Passed in the
  // arguments (readable by the same user only through /proc), never written to disk.
  const auth: NatsAuth | undefined = opts.auth ? { user: `node-${randomBytes(4).toString('hex')}`, pass: randomBytes(24).toString('base64url') } : undefined;
  const args = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir, ...(auth ? ['--user', auth.user, '--pass', auth.pass] : [])];
  const child: ChildProcess = spawn(bin, args, {
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
  const pidFile = join(storeDir, PID_FILE);
  if (child.pid !== undefined) writeFileSync(pidFile, JSON.stringify({ nodePid: process.pid, natsPid: child.pid } satisfies PidRecord));
  const removePidFile = (): void => rmSync(pidFile, { force: true });
  const stopOnExit = (): void => {
    child.kill('SIGKILL');
    removePidFile();
  };
  process.once('exit', stopOnExit);
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    pid: child.pid,
    auth,
    stop: () =>
      new Promise<void>((done) => {
        process.off('exit', stopOnExit);
        if (child.exitCode !== null || child.signalCode !== null) {
          removePidFile();
          return done();
        }
        const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(kill);
          removePidFile();
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
