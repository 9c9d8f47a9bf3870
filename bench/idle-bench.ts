import { type Child, type MemoryUse, settledMemory, sleep } from './children.js';
import { type ConnectedReport, isEvent, spawnLoadClient } from './load-gen.js';
import { type ServerUnderTest, waitForBalancers } from './servers.js';

/**
 * Idle capacity: load generators open `perServer` charger connections to every server process
 * (parallel batches), each charger sends one BootNotification and then stays idle. RSS of each
 * server process is read from /proc after a full GC and a settle time, before and after; the
 * difference divided by the connections it holds is the memory per charger.
 */

export interface IdleRow {
  server: string;
  serverProcesses: number;
  loadProcesses: number;
  attempted: number;
  held: number;
  failed: number;
  failures: Record<string, number>;
  bootFailed: number;
  closedUnexpectedly: number;
  /** Until every load process had opened its sockets (the handshake storm, Basic auth included). */
  handshakeS: number;
  /** Until every charger had its BootNotification answered. */
  connectS: number;
  rssBaselineMiB: number[];
  rssLoadedMiB: number[];
  /** Mean over the server processes of (loaded - baseline) RSS / held. */
  perChargerKiB: number;
  /** The same for the JS heap in use after a full GC (live objects only). */
  heapPerChargerKiB: number;
  /** The same for `external` (Buffers and other C++ memory bound to JS). */
  externalPerChargerKiB: number;
  /** Heap reserved by V8 (committed) after loading, per process, MiB. */
  heapTotalLoadedMiB: number[];
  serverCounted?: number;
  /** Warning/error log lines the servers printed (pino level >= 40), and the last of them. */
  serverWarnings: number;
  lastWarnings?: string;
}

export interface IdleOptions {
  perServer: number;
  /** At most this many sockets in one load-generator process. */
  maxPerLoadProcess: number;
  settleMs: number;
  /** After the last boot, before the GC and the reading: the servers finish what the storm left them. */
  quietMs: number;
  batch: number;
  /** Connect + boot of one load process may take this long. */
  connectTimeoutMs: number;
  /** Installations configured: platform nodes are measured once each has its balancer (waitForBalancers). */
  installations?: number;
}

interface LoadProc {
  child: Child;
  server: number;
  count: number;
}

export async function measureIdle(servers: readonly ServerUnderTest[], opts: IdleOptions, log: (line: string) => void): Promise<IdleRow> {
  const label = servers[0]?.label ?? '?';
  await waitForBalancers(servers, opts.installations ?? 0);
  const baseline = await Promise.all(servers.map((s) => settledMemory(s.child, opts.settleMs)));

  const procs: LoadProc[] = [];
  servers.forEach((s, i) => {
    const n = Math.ceil(opts.perServer / opts.maxPerLoadProcess);
    for (let k = 0; k < n; k++) {
      const from = i * opts.perServer + Math.floor((k * opts.perServer) / n);
      const to = i * opts.perServer + Math.floor(((k + 1) * opts.perServer) / n);
      const child = spawnLoadClient({ name: `idle load ${i}.${k}`, urlTemplate: s.urlTemplate, from, count: to - from, mode: 'idle', boot: true, batch: opts.batch });
      procs.push({ child, server: i, count: to - from });
    }
  });
  try {
    const t0 = Date.now();
    const connected = await Promise.all(procs.map((p) => p.child.nextJson<ConnectedReport>(isEvent('connected'), opts.connectTimeoutMs, 'connected')));
    const ready = await Promise.all(procs.map((p) => p.child.nextJson<{ booted: number; bootFailed: number }>(isEvent('ready'), opts.connectTimeoutMs, 'ready')));
    const connectS = (Date.now() - t0) / 1000;
    log(`    ${label}: ${connected.reduce((s, c) => s + c.connected, 0)} connected and booted in ${connectS.toFixed(1)} s; settling`);

    await sleep(opts.quietMs);
    const loaded = await Promise.all(servers.map((s) => settledMemory(s.child, opts.settleMs)));
    const status = await Promise.all(
      procs.map(async (p) => {
        p.child.send('status');
        return p.child.nextJson<{ open: number; closedUnexpectedly: number }>(isEvent('status'), 15_000, 'status');
      }),
    );
    const heldPerServer = servers.map((_, i) => procs.reduce((sum, p, j) => sum + (p.server === i ? (status[j]?.open ?? 0) : 0), 0));
    const counted = await Promise.all(servers.map((s) => s.connections?.()));
    const perCharger = (field: keyof MemoryUse): number => {
      const each = servers.map((_, i) => ((loaded[i]?.[field] ?? 0) - (baseline[i]?.[field] ?? 0)) / Math.max(1, heldPerServer[i] ?? 0));
      return Number((each.reduce((a, b) => a + b, 0) / each.length).toFixed(1));
    };
    const failures: Record<string, number> = {};
    for (const c of connected) for (const [k, v] of Object.entries(c.failures)) failures[k] = (failures[k] ?? 0) + v;
    const row: IdleRow = {
      server: label,
      serverProcesses: servers.length,
      loadProcesses: procs.length,
      attempted: opts.perServer * servers.length,
      held: heldPerServer.reduce((a, b) => a + b, 0),
      failed: connected.reduce((s, c) => s + c.failed, 0),
      failures,
      bootFailed: ready.reduce((s, r) => s + r.bootFailed, 0),
      closedUnexpectedly: status.reduce((s, r) => s + r.closedUnexpectedly, 0),
      handshakeS: Number((Math.max(...connected.map((c) => c.connectMs)) / 1000).toFixed(1)),
      connectS: Number(connectS.toFixed(1)),
      rssBaselineMiB: baseline.map((m) => mib(m.rssKiB)),
      rssLoadedMiB: loaded.map((m) => mib(m.rssKiB)),
      perChargerKiB: perCharger('rssKiB'),
      heapPerChargerKiB: perCharger('heapUsedKiB'),
      externalPerChargerKiB: perCharger('externalKiB'),
      heapTotalLoadedMiB: loaded.map((m) => mib(m.heapTotalKiB)),
      serverWarnings: 0,
    };
    row.serverWarnings = servers.reduce((n, srv) => n + srv.child.warnings, 0);
    if (row.serverWarnings > 0) row.lastWarnings = servers.map((srv) => srv.child.tail(2)).join('\n');
    if (counted.every((c) => c !== undefined)) row.serverCounted = counted.reduce((a: number, b) => a + (b ?? 0), 0);
    return row;
  } finally {
    for (const p of procs) p.child.send('stop');
    await Promise.all(
      procs.map(async (p) => {
        const timer = setTimeout(() => void p.child.stop(), 15_000);
        await p.child.exited;
        clearTimeout(timer);
      }),
    );
  }
}

const mib = (kib: number): number => Number((kib / 1024).toFixed(1));
