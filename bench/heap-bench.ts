import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { sleep } from './children.js';
import { perSession, summarizeHeapSnapshot, type PerSessionUse } from './heap-summary.js';
import { type ConnectedReport, isEvent, spawnLoadClient } from './load-gen.js';
import { type ServerUnderTest, waitForBalancers } from './servers.js';

/**
 * What one idle charger holds on a server, by constructor: a heap snapshot before `chargers` connect
 * (Basic auth + one BootNotification, then idle) and one after, both after a full GC; the difference
 * per charger, largest first. Its own server process, because writing a snapshot leaves memory
 * behind that would spoil the RSS figures of the idle bench.
 */

export interface HeapRow {
  server: string;
  chargers: number;
  held: number;
  /** Self size of everything the sessions added, per charger (KiB). */
  heapKiBPerCharger: number;
  top: PerSessionUse[];
}

export async function measureHeapPerCharger(server: ServerUnderTest, chargers: number, settleMs: number, installations = 0): Promise<HeapRow> {
  const dir = join(tmpdir(), `bench-heap-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  const snapshot = async (name: string): Promise<string> => {
    server.child.send(`heap-snapshot ${join(dir, name)}`);
    return (await server.child.nextJson<{ file: string }>(isEvent('heap-snapshot'), 300_000, `heap snapshot ${name}`)).file;
  };
  await waitForBalancers([server], installations);
  await sleep(settleMs);
  const before = summarizeHeapSnapshot(await snapshot('before.heapsnapshot'));
  const load = spawnLoadClient({ name: 'heap load', urlTemplate: server.urlTemplate, from: 0, count: chargers, mode: 'idle', boot: true, batch: 500 });
  try {
    const connected = await load.nextJson<ConnectedReport>(isEvent('connected'), 300_000, 'connected');
    await load.nextJson(isEvent('ready'), 300_000, 'ready');
    await sleep(settleMs);
    const after = summarizeHeapSnapshot(await snapshot('after.heapsnapshot'));
    const held = connected.connected;
    const all = perSession(before, after, Math.max(1, held), Number.POSITIVE_INFINITY);
    const total = all.reduce((s, r) => s + r.bytesPerSession, 0);
    return { server: server.label, chargers, held, heapKiBPerCharger: Number((total / 1024).toFixed(1)), top: all.slice(0, 5) };
  } finally {
    load.send('stop');
    const timer = setTimeout(() => void load.stop(), 15_000);
    await load.exited;
    clearTimeout(timer);
    // BENCH_HEAP_KEEP=<dir>: keep both snapshots there (to look at them in DevTools or bench/heap-detail.ts).
    if (process.env.BENCH_HEAP_KEEP) cpSync(dir, process.env.BENCH_HEAP_KEEP, { recursive: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
