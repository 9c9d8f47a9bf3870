import { existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { openFileLimit, REPO_ROOT } from './children.js';
import { type HeapRow, measureHeapPerCharger } from './heap-bench.js';
import { type IdleOptions, type IdleRow, measureIdle } from './idle-bench.js';
import type { RoundTripMode } from './load-gen.js';
import { mainThreadProfile, summarizeProfile, type ProfileSummary } from './cpu-profile.js';
import { platformEntry, seedFleet, startBenchNats, type BenchNats } from './platform-fleet.js';
import { table, tableOfObjects, writeJsonReport } from './report.js';
import { measureRoundTrips, type RoundTripOptions, type RoundTripRow } from './round-trip-bench.js';
import { startPeerServer, startPlatformServer, type ServerUnderTest } from './servers.js';
import { issue14Targets, type TargetRow, verdict } from './targets.js';

/**
 * `npm run bench [-- --quick] [-- --only=idle,heap,rtt,allocate,balancer,cluster] [-- --profile] [-- --idle-chargers=N] [-- --cluster-chargers=N]`
 * (cluster: not in the default set; 10,000 chargers unless --cluster-chargers, 1,000 with --quick)
 * (--profile: the platform nodes of the round-trip runs write a V8 CPU profile; the bench prints where their time went)
 *
 * Issue 2's benchmark: idle chargers per node and memory per charger, Heartbeat and MeterValues round
 * trips per second with validation, each measured in the same run against a raw `ws` echo server
 * (the ceiling) and ocpp-rpc's RPCServer in strict mode (the peer). Every server, the nats-server and
 * every load generator run in their own processes on 127.0.0.1. Prints tables and writes
 * reports/bench-<timestamp>.json. `heap`: what one idle charger holds on a platform node, by constructor
 * (two heap snapshots). Last, issue 14's targets: each figure beside the peer and the ceiling of this run.
 */

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'idle-chargers': { type: 'string' },
    'cluster-chargers': { type: 'string' },
  },
});
const quick = flags.quick;
const only = new Set((flags.only ?? 'idle,heap,rtt,allocate,balancer').split(',').map((s) => s.trim()));

const fdLimit = openFileLimit();
/** Sockets one process may hold, with room for its listening socket, NATS, stdio and the module loader. */
const SOCKETS_PER_PROCESS = Math.min(19_000, fdLimit.soft - 1_000);

const plan = quick
  ? { fleet: 2_000, idlePerProcess: 1_000, singleNodeMax: 0, heapChargers: 500, rtt: { clients: 200, durationS: 3, warmupS: 0.5, batch: 500, quietWaitMs: 0 }, settleMs: 500, deadlineMs: 300_000 }
  : {
      fleet: 20_000,
      idlePerProcess: 10_000,
      singleNodeMax: SOCKETS_PER_PROCESS,
      // Two heap snapshots of 10,000 sessions take gigabytes to write and parse on this shared machine.
      heapChargers: 5_000,
      rtt: { clients: 2_000, durationS: 10, warmupS: 2, batch: 500, quietWaitMs: 20_000 },
      settleMs: 3_000,
      deadlineMs: 14 * 60_000,
    };
// --idle-chargers=N: N per server process in the idle bench, and no single node at the fd limit (a shorter run).
if (flags['idle-chargers']) Object.assign(plan, { idlePerProcess: Number(flags['idle-chargers']), singleNodeMax: 0 });
const TARGET_CHARGERS = 20_000;
const TARGET_PCT_OF_RAW = 60;
const LOG_ON = 'platform node (OCPP log on, default)';
const LOG_OFF = 'platform node (OCPP_LOG=off)';

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

interface Report {
  startedAt: string;
  finishedAt?: string;
  mode: 'quick' | 'full';
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; openFileLimit: { soft: number; hard: number } };
  plan: typeof plan;
  fleet?: { chargers: number; installations: number; seedMs: number };
  idle: IdleRow[];
  heap?: HeapRow;
  roundTrips: RoundTripRow[];
  allocate?: unknown;
  balancer?: { name: string; rows: Record<string, unknown>[]; notes: string[] };
  cluster?: { headers: string[]; rows: (string | number | null)[][]; notes: string[] };
  profiles: ProfileSummary[];
  targets: TargetRow[];
  notes: string[];
  errors: { section: string; message: string }[];
}

const report: Report = {
  startedAt: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? '?',
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    openFileLimit: fdLimit,
  },
  plan,
  idle: [],
  roundTrips: [],
  profiles: [],
  targets: [],
  notes: [],
  errors: [],
};

async function section(name: string, fn: () => Promise<void>): Promise<void> {
  const t0 = Date.now();
  log(`\n== ${name}`);
  try {
    await fn();
    log(`   (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    report.errors.push({ section: name, message });
    log(`   FAILED: ${message}`);
  }
}

/** Starts a server, runs `fn`, stops the server whatever happens. */
async function using<T>(start: () => Promise<ServerUnderTest[]> | Promise<ServerUnderTest>, fn: (servers: ServerUnderTest[]) => Promise<T>): Promise<T> {
  const started = await start();
  const servers = Array.isArray(started) ? started : [started];
  try {
    return await fn(servers);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** Starts several servers; if one fails, the others are stopped. */
async function all(starts: (() => Promise<ServerUnderTest>)[]): Promise<ServerUnderTest[]> {
  const results = await Promise.allSettled(starts.map((s) => s()));
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(ok.map((s) => s.stop()));
    throw failed.reason;
  }
  return ok;
}

async function idleBench(nats: BenchNats): Promise<void> {
  const n = plan.idlePerProcess;
  const opts: IdleOptions = { perServer: n, maxPerLoadProcess: SOCKETS_PER_PROCESS, settleMs: plan.settleMs, batch: 500, connectTimeoutMs: 300_000 };
  const add = (row: IdleRow): void => {
    report.idle.push(row);
  };
  add(await using(() => startPeerServer('raw'), (s) => measureIdle(s, opts, log)));
  add(await using(() => startPeerServer('rpc'), (s) => measureIdle(s, opts, log)));
  add(
    await using(
      () => all([() => startPlatformServer(nats.url, 'bench-1', 'platform cluster, 2 nodes'), () => startPlatformServer(nats.url, 'bench-2', 'platform cluster, 2 nodes')]),
      (s) => measureIdle(s, opts, log),
    ),
  );
  if (plan.singleNodeMax > 0) {
    const single: IdleOptions = { ...opts, perServer: plan.singleNodeMax, maxPerLoadProcess: Math.ceil(plan.singleNodeMax / 2) };
    add(await using(() => startPlatformServer(nats.url, 'bench-3', 'platform, 1 node at the fd limit'), (s) => measureIdle(s, single, log)));
  }
}

async function heapBench(nats: BenchNats): Promise<void> {
  report.heap = await using(
    () => startPlatformServer(nats.url, 'bench-heap', 'platform node'),
    ([server]) => measureHeapPerCharger(server!, plan.heapChargers, plan.settleMs),
  );
}

async function roundTripBench(nats: BenchNats): Promise<void> {
  const opts: RoundTripOptions = plan.rtt;
  const modes: RoundTripMode[] = ['heartbeat', 'metervalues'];
  const profileDir = (name: string): string => resolve(REPO_ROOT, 'reports', `profile-${report.startedAt.replace(/[:.]/g, '-')}`, name);
  const profiling = (name: string): string[] | undefined => (flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir(name)}`] : undefined);
  const servers: [string, () => Promise<ServerUnderTest>][] = [
    ['raw', () => startPeerServer('raw')],
    ['rpc', () => startPeerServer('rpc')],
    ['platform', () => startPlatformServer(nats.url, 'bench-rt-1', LOG_ON, {}, profiling('platform'))],
    ['platform-log-off', () => startPlatformServer(nats.url, 'bench-rt-2', LOG_OFF, { OCPP_LOG: 'off' }, profiling('platform-log-off'))],
  ];
  for (const [name, start] of servers) {
    try {
      await using(start, async ([server]) => {
        report.roundTrips.push(...(await measureRoundTrips(server!, modes, opts, log)));
        if (server!.child.warnings > 0) report.notes.push(`${server!.label} logged ${server!.child.warnings} warnings; last lines:\n${server!.child.tail(3)}`);
      });
    } catch (err) {
      report.errors.push({ section: `round trips: ${name}`, message: err instanceof Error ? err.message : String(err) });
      log(`   FAILED (${name}): ${err instanceof Error ? err.message : String(err)}`);
    }
    const profile = flags.profile && name.startsWith('platform') ? mainThreadProfile(profileDir(name)) : undefined;
    if (profile) report.profiles.push(summarizeProfile(profile));
  }
  for (const row of report.roundTrips) {
    const raw = report.roundTrips.find((r) => r.mode === row.mode && r.server.startsWith('raw'));
    if (raw && raw.rate > 0) row.pctOfRaw = Math.round((row.rate / raw.rate) * 100);
  }
}

async function allocateBench(): Promise<void> {
  const file = resolve(REPO_ROOT, 'bench/allocate-bench.ts');
  if (!existsSync(file)) {
    report.allocate = { skipped: 'bench/allocate-bench.ts does not exist yet' };
    log('   skipped: bench/allocate-bench.ts does not exist yet');
    return;
  }
  const mod = (await import(pathToFileURL(file).href)) as { runAllocateBench?: (opts?: { quick: boolean }) => unknown };
  if (typeof mod.runAllocateBench !== 'function') throw new Error('bench/allocate-bench.ts does not export runAllocateBench()');
  report.allocate = await mod.runAllocateBench({ quick });
}

/** Event-to-SetChargingProfile latency with 1,000 chargers, and the same with 10 as the peer. */
async function balancerBench(): Promise<void> {
  const { runBalancerLatencyBench } = await import('./balancer-latency.js');
  const { name, rows, notes } = await runBalancerLatencyBench({ quick });
  report.balancer = { name, rows, notes };
}

/** Issue 10: 3 nodes on a 3-server NATS cluster beside 1 node, same fleet: storm, cross-node latency, failover. */
async function clusterBench(): Promise<void> {
  const { runClusterBench } = await import('./cluster-bench.js');
  const chargers = Number(flags['cluster-chargers'] ?? (quick ? 1_000 : 10_000));
  if (!(chargers >= 10)) throw new Error(`--cluster-chargers must be a number >= 10, got ${flags['cluster-chargers']}`);
  report.cluster = await runClusterBench({ chargers, samples: Math.min(300, Math.ceil(chargers / 10)), log });
}

const pct = (n: number): string => `${n}%`;

/** Scalars as `key: value`, arrays of objects as tables, anything else as JSON. */
function renderAny(value: unknown, indent = '  '): string {
  if (Array.isArray(value) && value.length > 0 && value.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) {
    return tableOfObjects(value as Record<string, unknown>[])
      .split('\n')
      .map((l) => indent + l)
      .join('\n');
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return Object.entries(value)
      .map(([k, v]) => (typeof v === 'object' && v !== null ? `${indent}${k}:\n${renderAny(v, indent + '  ')}` : `${indent}${k}: ${String(v)}`))
      .join('\n');
  }
  return indent + JSON.stringify(value);
}

async function printTables(): Promise<void> {
  const { soft, hard } = fdLimit;
  log('\n================ RESULTS ================');
  log(`machine: ${report.machine.cpus} cores (${report.machine.cpuModel}), ${report.machine.memoryGiB} GiB, Node ${report.machine.node}; mode: ${report.mode}`);
  log(`open-file limit per process: soft ${soft}, hard ${hard} (read from /proc/self/limits; RLIMIT_NOFILE, cannot be raised here).`);
  log(`  => one process holds at most ~${soft - 100} sockets; the bench keeps every process at <= ${SOCKETS_PER_PROCESS} and reaches`);
  log(`     ${TARGET_CHARGERS.toLocaleString('en-US')} chargers with a 2-node platform cluster sharing one nats-server, load generators in separate processes.`);
  if (report.fleet) log(`fleet: ${report.fleet.chargers.toLocaleString('en-US')} chargers in ${report.fleet.installations} installations, each with a rotated (SHA-256) password; seeded in ${(report.fleet.seedMs / 1000).toFixed(1)} s`);

  if (report.idle.length > 0) {
    log('\nIdle capacity (connect with Basic auth + one BootNotification, then idle; memory after a full GC and settle: RSS from /proc,');
    log('  heap = live JS objects from process.memoryUsage(); per charger = (after - before) / chargers held by that process.');
    log(`  RSS is read ${plan.settleMs / 1000} s after the GC; it keeps falling for a while as V8 returns pages, so heap KiB/charger is the steadier figure)`);
    log(
      table(
        ['server', 'procs', 'chargers held', 'attempted', 'failed', 'handshakes s', '+ boot s', 'RSS before MiB', 'RSS after MiB', 'RSS KiB/charger', 'heap KiB/charger', 'V8 heap reserved MiB'],
        report.idle.map((r) => [
          r.server,
          r.serverProcesses,
          r.held,
          r.attempted,
          r.failed + r.bootFailed,
          r.handshakeS,
          r.connectS,
          r.rssBaselineMiB.join(' + '),
          r.rssLoadedMiB.join(' + '),
          r.perChargerKiB,
          r.heapPerChargerKiB,
          r.heapTotalLoadedMiB.join(' + '),
        ]),
      ),
    );
    for (const r of report.idle) {
      if (r.failed > 0 || r.bootFailed > 0 || r.closedUnexpectedly > 0) {
        log(`  ${r.server}: failures ${JSON.stringify(r.failures)}, boot failed ${r.bootFailed}, closed by the server ${r.closedUnexpectedly}`);
      }
      if (r.serverWarnings > 0) log(`  ${r.server}: the servers logged ${r.serverWarnings} warnings/errors; last:\n${r.lastWarnings ?? ''}`);
    }
    const cluster = report.idle.find((r) => r.server.startsWith('platform cluster'));
    if (cluster) {
      const pass = cluster.held >= TARGET_CHARGERS;
      log(`  target >= ${TARGET_CHARGERS.toLocaleString('en-US')} connected chargers on this machine: ${cluster.held.toLocaleString('en-US')} held by ${cluster.serverProcesses} nodes -> ${pass ? 'MET' : quick ? 'not measured at full size (--quick)' : 'NOT MET'}`);
    }
  }

  if (report.heap) {
    const h = report.heap;
    log(`\nWhat an idle charger holds on a platform node: heap snapshots before and after ${h.held.toLocaleString('en-US')} chargers connected and booted`);
    log(`  (after a full GC; self sizes; ${h.heapKiBPerCharger} KiB of JS heap per charger in all). Top five constructors:`);
    log(table(['constructor', 'objects per charger', 'bytes per charger'], h.top.map((r) => [r.name, r.perSession, r.bytesPerSession])));
  }

  if (report.roundTrips.length > 0) {
    const r0 = report.roundTrips[0]!;
    log(`\nRound trips (${r0.clients.toLocaleString('en-US')} active clients in one load-generator process, one CALL at a time each, ${plan.rtt.durationS} s after ${plan.rtt.warmupS} s warm-up)`);
    log('  raw ws echoes frames unchanged (no parsing, no validation); ocpp-rpc and the platform validate requests and responses against the 1.6 schemas');
    log(
      table(
        ['server', 'message', 'round trips/s', '% of raw ws', 'p50 ms', 'p99 ms', 'errors', 'timeouts', 'server us/rt', 'nats us/rt', 'CPU server', 'CPU load gen', 'CPU nats+bench', 'CPU outside'],
        report.roundTrips.map((r) => [
          r.server,
          r.mode,
          r.rate,
          r.pctOfRaw,
          r.p50Ms,
          r.p99Ms,
          r.errors,
          r.timeouts,
          r.serverUsPerRoundTrip,
          r.natsUsPerRoundTrip,
          pct(r.cpu.serverPct),
          pct(r.cpu.loadPct),
          pct(r.cpu.benchOtherPct),
          pct(r.cpu.foreignPct),
        ]),
      ),
    );
    log('  CPU in % of one core over the counted window (the machine has 200%). "us/rt" = CPU time per round trip, which does not depend on');
    log('  how busy the machine was; "CPU outside" is work outside the bench (other sessions), which lowers every rate measured meanwhile.');
    for (const r of report.roundTrips) if (r.firstError) log(`  ${r.server} ${r.mode}: first CALLERROR ${r.firstError}`);
    for (const r of report.roundTrips) {
      if (r.serverCalls > 0) log(`  ${r.server} ${r.mode}: the server also sent ${r.serverCalls} calls to the chargers during the counted window (e.g. SetChargingProfile)`);
    }
    for (const mode of ['heartbeat', 'metervalues'] as const) {
      const on = report.roundTrips.find((r) => r.mode === mode && r.server === LOG_ON);
      const off = report.roundTrips.find((r) => r.mode === mode && r.server === LOG_OFF);
      if (on?.pctOfRaw !== undefined) {
        log(
          `  target >= ${TARGET_PCT_OF_RAW}% of raw ws, ${mode}: platform (log on) ${on.pctOfRaw}% -> ${on.pctOfRaw >= TARGET_PCT_OF_RAW ? 'MET' : 'NOT MET'}` +
            (off?.pctOfRaw !== undefined ? `; with OCPP_LOG=off ${off.pctOfRaw}% -> ${off.pctOfRaw >= TARGET_PCT_OF_RAW ? 'MET' : 'NOT MET'}` : ''),
        );
      }
    }
  }

  log('\nAllocate (bench/allocate-bench.ts)');
  log(renderAny(report.allocate ?? 'not run'));

  log('\nBalancer: event -> SetChargingProfile latency (bench/balancer-latency.ts)');
  if (report.balancer) {
    const { renderTable } = await import('./balancer-report.js');
    log(renderTable(report.balancer.rows));
    for (const n of report.balancer.notes) log(`  ${n}`);
  } else log('  not run');

  if (report.cluster) {
    log('\nCluster (bench/cluster-bench.ts): 3 nodes on 3 nats-servers (R3) beside 1 node on 1 nats-server, same fleet, same run');
    log(table(report.cluster.headers, report.cluster.rows));
    for (const n of report.cluster.notes) log(`  ${n}`);
  }

  for (const p of report.profiles) {
    log(`\nCPU profile ${relative(REPO_ROOT, p.file)} (whole process life: start-up, handshakes, both modes; busy ${p.sampledMs - p.idleMs} ms of ${p.sampledMs} ms)`);
    log(table(['self time by source', 'ms', '% of busy'], p.bySource.slice(0, 15).map((s) => [s.source, s.selfMs, s.pctOfBusy])));
    log(table(['function (self time)', 'where', 'ms', '% of busy'], p.byFunction.map((f) => [f.fn, f.where, f.selfMs, f.pctOfBusy])));
  }
  log('\nIssue 14 targets: the platform (default configuration) beside ocpp-rpc (peer) and raw ws (ceiling), same run');
  log(table(['figure', 'platform', 'peer', 'ceiling', 'ratio', 'target', ''], report.targets.map((t) => [t.figure, t.platform, t.peer, t.ceiling, t.ratio, t.target, verdict(t.met)])));
  log('  The load scenario (2,000 chargers, 200 installations, RSS < 200 MiB) is measured by the simulator (npm run sim), not here.');
  for (const note of report.notes) log(`\nnote: ${note}`);
  for (const e of report.errors) log(`\nERROR in ${e.section}: ${e.message}`);
}

async function main(): Promise<void> {
  // The cluster section seeds and connects its fleet twice (1 node, then 3): it has its own budget.
  if (only.has('cluster')) plan.deadlineMs += 25 * 60_000;
  const deadline = setTimeout(() => {
    log(`\nbench exceeded its deadline of ${plan.deadlineMs / 1000} s: stopping (children are killed)`);
    process.exit(1);
  }, plan.deadlineMs);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

  log(`bench (${quick ? 'quick' : 'full'}): ${cpus().length} cores, Node ${process.version}, open files per process ${fdLimit.soft}`);
  const entry = platformEntry();
  log(`platform nodes run ${entry.label}`);
  report.notes.push(`platform nodes ran ${entry.label}`);
  let nats: BenchNats | undefined;
  try {
    if (only.has('idle') || only.has('heap') || only.has('rtt')) {
      await section('setup: nats-server and charger fleet', async () => {
        nats = await startBenchNats();
        const chargers = Math.max(plan.fleet, plan.singleNodeMax);
        const seeded = await seedFleet(nats.url, chargers, { perInstallation: 100, concurrency: 200 });
        report.fleet = { chargers, installations: seeded.installations, seedMs: seeded.ms };
        log(`   ${chargers} chargers in ${seeded.installations} installations written in ${(seeded.ms / 1000).toFixed(1)} s`);
      });
    }
    if (nats && only.has('idle')) await section('idle capacity', () => idleBench(nats!));
    if (nats && only.has('heap')) await section('heap per idle charger', () => heapBench(nats!));
    if (nats && only.has('rtt')) await section('round trips', () => roundTripBench(nats!));
    if (only.has('allocate')) await section('allocate', allocateBench);
    if (only.has('balancer')) await section('balancer latency', balancerBench);
    if (only.has('cluster')) await section('cluster', clusterBench);
  } finally {
    await nats?.stop().catch(() => undefined);
  }
  report.finishedAt = new Date().toISOString();
  report.targets = issue14Targets({ platformLabel: LOG_ON, roundTrips: report.roundTrips, idle: report.idle, heap: report.heap, allocate: report.allocate });
  await printTables();
  const file = writeJsonReport(resolve(REPO_ROOT, 'reports'), report);
  log(`\nJSON report: ${file}`);
  clearTimeout(deadline);
  process.exitCode = report.errors.length > 0 ? 1 : 0;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
