import { Worker } from 'node:worker_threads';

/**
 * scrypt (Node's defaults: N=16384, r=8, p=1) on one thread of its own, started on first use and
 * ended after `idleMs` without work.
 *
 * Why not `crypto.scrypt`: every scrypt takes one 16 MiB block from the C allocator on the thread
 * that runs it. On libuv's pool that is any of its 4 threads, each with a glibc arena of its own;
 * once the first such block (mmapped) is freed, glibc raises its mmap threshold past that size, so
 * every later block is carved from the calling thread's arena, and an arena does not give a freed
 * 16 MiB back (its trim threshold is raised with it). After a few hashes 4 x 16 MiB stay resident for
 * the life of the process: 64 MiB of the load scenario's node (200 installations created, 2,000
 * chargers let in on their installation's password; /proc/<pid>/smaps showed four 16 MiB anonymous
 * mappings, full). On one thread one arena keeps one block, and the thread's own V8 isolate (about
 * 7 MiB) is given back when it ends. Started as `npm start` starts it (core/malloc-tunables.ts: a fixed
 * mmap threshold), the node keeps none: each block is mapped and given back.
 *
 * The price: hashes run one at a time (about 35 ms each on the bench machine, off the event loop as
 * before). They are the rare ones: an installation's charger password being set, a charger's first
 * connection on it; rotated charger passwords are checked with SHA-256 (core/passwords.ts).
 */

// Plain CommonJS, evaluated: no file to find next to the compiled build, no TypeScript loader in the thread.
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { scryptSync } = require('node:crypto');
parentPort.on('message', ({ id, password, salt, keylen }) => {
  try {
    parentPort.postMessage({ id, key: scryptSync(password, salt, keylen) });
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;

/** Long enough for a burst of new chargers (one hash every 35 ms) to share one thread start. */
export const SCRYPT_THREAD_IDLE_MS = 5_000;

interface Pending {
  resolve: (key: Buffer) => void;
  reject: (err: Error) => void;
}

interface Reply {
  id: number;
  key?: Uint8Array;
  error?: string;
}

export class ScryptThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Threads started so far (tests: one per busy spell, not one per hash). */
  started = 0;

  constructor(private readonly idleMs = SCRYPT_THREAD_IDLE_MS) {}

  /** The same key `crypto.scrypt(password, salt, keylen)` gives. */
  hash(password: string, salt: Uint8Array, keylen: number): Promise<Buffer> {
    const worker = this.worker ?? this.start();
    clearTimeout(this.idleTimer);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Held while a hash is asked for: a process waiting only on it must not exit.
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, password, salt, keylen });
    });
  }

  /** Whether the thread runs now. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Ends the thread now (hashes asked for meanwhile are rejected). */
  async stop(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.fail(worker, new Error('scrypt thread stopped'));
    await worker.terminate();
  }

  private start(): Worker {
    const worker = new Worker(THREAD_SOURCE, { eval: true });
    this.started++;
    worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.key) p.resolve(Buffer.from(reply.key.buffer, reply.key.byteOffset, reply.key.byteLength));
      else p.reject(new Error(reply.error ?? 'scrypt failed'));
      if (this.pending.size === 0) this.idle(worker);
    });
    worker.on('error', (err) => this.fail(worker, err));
    worker.on('exit', (code) => this.fail(worker, new Error(`scrypt thread exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private idle(worker: Worker): void {
    worker.unref();
    this.idleTimer = setTimeout(() => {
      if (this.worker !== worker || this.pending.size > 0) return;
      this.worker = undefined;
      void worker.terminate();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  /** The thread failed or ended: what it was asked is rejected, and the next hash starts a new one. */
  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    clearTimeout(this.idleTimer);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
