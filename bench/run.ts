import { existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { openFileLimit, REPO_ROOT } from './children.js';
import { measureHeapPerCharger } from './heap-bench.js';
import { type IdleOptions, type IdleRow, measureIdle } from './idle-bench.js';
import type { RoundTripMode } from './load-gen.js';
import { mainThreadProfile, summarizeProfile } from './cpu-profile.js';
import { platformEntry, seedFleet, startBenchNats, type BenchNats } from './platform-fleet.js';
import { LOG_OFF, LOG_ON, printResults, type BenchPlan, type BenchReport } from './bench-results.js';
import { writeJsonReport } from './report.js';
import { measureRoundTrips, medianOfRounds, type RoundTripOptions, type RoundTripRow } from './round-trip-bench.js';
import { startPeerServer, startPlatformServer, type ServerUnderTest } from './servers.js';
import { issue14Targets } from './targets.js';

/**
 * `npm run bench [-- --quick] [-- --only=idle,heap,rtt,allocate,balancer,cluster] [-- --profile] [-- --idle-chargers=N] [-- --cluster-chargers=N] [-- --rtt-rounds=N] [-- --trace-stalls]`
 * (rtt: every server measured in turn, N rounds (3; 1 with --quick or --profile); each figure is the median of its rounds)
 * (cluster: not in the default set; 10,000 chargers unless --cluster-chargers, 1,000 with --quick)
 * (--trace-stalls, cluster: the steady round's slowest events beside every process's pauses and the bus stages they passed)
 * (--profile: the platform nodes of the round-trip runs write a V8 CPU profile; the bench prints where their time went)
 * (--platform-node-options='--max-semi-space-size=2': node/V8 options on the command line of the platform nodes of the idle, heap and rtt sections)
 * (--versus=<checkout>: rtt also measures that checkout's compiled build (OCPP log on), in turn with the others in every round: an A/B of two versions in one run)
 * (--versus-env=NAME=value[,NAME=value]: the versus node's environment on top of the others' (e.g. --versus=. --versus-env=GLIBC_TUNABLES= for this build without the malloc setting))
 * (--rtt-servers=raw,rpc,platform,platform-log-off,versus: the round-trip servers to measure, default all)
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
    'trace-stalls': { type: 'boolean', default: false },
    'idle-chargers': { type: 'string' },
    'cluster-chargers': { type: 'string' },
    'rtt-rounds': { type: 'string' },
    'platform-node-options': { type: 'string' },
    versus: { type: 'string' },
    'versus-env': { type: 'string' },
    'rtt-servers': { type: 'string' },
  },
});
const quick = flags.quick;
const only = new Set((flags.only ?? 'idle,heap,rtt,allocate,balancer').split(',').map((s) => s.trim()));

const fdLimit = openFileLimit();
/** Sockets one process may hold, with room for its listening socket, NATS, stdio and the module loader. */
const SOCKETS_PER_PROCESS = Math.min(19_000, fdLimit.soft - 1_000);

const plan: BenchPlan = quick
  ? { fleet: 2_000, idlePerProcess: 1_000, singleNodeMax: 0, heapChargers: 500, rtt: { clients: 200, durationS: 3, warmupS: 0.5, batch: 500, quietWaitMs: 0 }, settleMs: 500, idleQuietMs: 500, deadlineMs: 300_000 }
  : {
      fleet: 20_000,
      idlePerProcess: 10_000,
      singleNodeMax: SOCKETS_PER_PROCESS,
      // Two heap snapshots of 10,000 sessions take gigabytes to write and parse on this shared machine.
      heapChargers: 5_000,
      rtt: { clients: 2_000, durationS: 10, warmupS: 2, batch: 500, quietWaitMs: 20_000 },
      settleMs: 3_000,
      // A node after a connect storm: V8's memory reducer and the node's heap mode (core/heap-mode.ts) act within about 10 s of the quiet.
      idleQuietMs: 15_000,
      deadlineMs: 14 * 60_000,
    };
// --idle-chargers=N: N per server process in the idle bench, and no single node at the fd limit (a shorter run).
if (flags['idle-chargers']) Object.assign(plan, { idlePerProcess: Number(flags['idle-chargers']), singleNodeMax: 0 });
/** Node/V8 options for the platform nodes of the idle, heap and rtt sections (V8 flags to compare): on their command line, as NODE_OPTIONS refuses most V8 flags. */
const platformArgv = (flags['platform-node-options'] ?? '').split(' ').filter((a) => a !== '');
const platformEnv: Record<string, string> = {};

/** `NAME=value,NAME=value` (a value may be empty) as an environment; anything else is refused. */
function envAssignments(list: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of (list ?? '').split(',').filter((i) => i !== '')) {
    const at = item.indexOf('=');
    const name = at < 0 ? item : item.slice(0, at);
    if (at < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`--versus-env: "${item}" is not NAME=value`);
    env[name] = item.slice(at + 1);
  }
  return env;
}
const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const report: BenchReport = {
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
  const opts: IdleOptions = { perServer: n, maxPerLoadProcess: SOCKETS_PER_PROCESS, settleMs: plan.settleMs, quietMs: plan.idleQuietMs, batch: 500, connectTimeoutMs: 300_000, installations: report.fleet?.installations ?? 0 };
  const add = (row: IdleRow): void => {
    report.idle.push(row);
  };
  add(await using(() => startPeerServer('raw'), (s) => measureIdle(s, opts, log)));
  add(await using(() => startPeerServer('rpc'), (s) => measureIdle(s, opts, log)));
  add(
    await using(
      () => all([() => startPlatformServer(nats.url, 'bench-1', 'platform cluster, 2 nodes', platformEnv, platformArgv), () => startPlatformServer(nats.url, 'bench-2', 'platform cluster, 2 nodes', platformEnv, platformArgv)]),
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
    () => startPlatformServer(nats.url, 'bench-heap', 'platform node', platformEnv, platformArgv),
    ([server]) => measureHeapPerCharger(server!, plan.heapChargers, plan.settleMs, report.fleet?.installations ?? 0),
  );
}

async function roundTripBench(nats: BenchNats): Promise<void> {
  const opts: RoundTripOptions = plan.rtt;
  const modes: RoundTripMode[] = ['heartbeat', 'metervalues'];
  const profileDir = (name: string): string => resolve(REPO_ROOT, 'reports', `profile-${report.startedAt.replace(/[:.]/g, '-')}`, name);
  const profiling = (name: string): string[] => [...platformArgv, ...(flags.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir(name)}`] : [])];
  const servers: [string, () => Promise<ServerUnderTest>][] = [
    ['raw', () => startPeerServer('raw')],
    ['rpc', () => startPeerServer('rpc')],
    ['platform', () => startPlatformServer(nats.url, 'bench-rt-1', LOG_ON, platformEnv, profiling('platform'))],
    ['platform-log-off', () => startPlatformServer(nats.url, 'bench-rt-2', LOG_OFF, { OCPP_LOG: 'off', ...platformEnv }, profiling('platform-log-off'))],
  ];
  const versus = flags.versus;
  const versusEnv = envAssignments(flags['versus-env']);
  if (!versus && Object.keys(versusEnv).length > 0) throw new Error('--versus-env needs --versus (--versus=. for this checkout)');
  const versusLabel = `${LOG_ON} of ${versus}${Object.entries(versusEnv).map(([k, v]) => ` ${k}=${v}`).join('')}`;
  if (versus) servers.push(['versus', () => startPlatformServer(nats.url, 'bench-rt-3', versusLabel, { ...platformEnv, ...versusEnv }, profiling('versus'), versus)]);
  const wanted = flags['rtt-servers']?.split(',').map((s) => s.trim());
  const unknown = wanted?.filter((name) => !servers.some(([known]) => known === name));
  if (unknown?.length) throw new Error(`--rtt-servers: no server ${unknown.join(', ')} (of ${servers.map(([name]) => name).join(', ')}; versus needs --versus)`);
  if (wanted) servers.splice(0, servers.length, ...servers.filter(([name]) => wanted.includes(name)));
  // A profiled run measures one round: its profile is the one summarized.
  const rounds = Number(flags['rtt-rounds'] ?? (quick || flags.profile ? 1 : 3));
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new Error(`--rtt-rounds must be an integer >= 1, got ${flags['rtt-rounds']}`);
  const rows: RoundTripRow[] = [];
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) log(`   round ${round} of ${rounds}`);
    for (const [name, start] of servers) {
      try {
        await using(start, async ([server]) => {
          rows.push(...(await measureRoundTrips(server!, modes, opts, log)));
          if (server!.child.warnings > 0) report.notes.push(`${server!.label} logged ${server!.child.warnings} warnings (round ${round}); last lines:\n${server!.child.tail(3)}`);
        });
      } catch (err) {
        report.errors.push({ section: `round trips: ${name}, round ${round}`, message: err instanceof Error ? err.message : String(err) });
        log(`   FAILED (${name}, round ${round}): ${err instanceof Error ? err.message : String(err)}`);
      }
      const profile = flags.profile && (name.startsWith('platform') || name === 'versus') ? mainThreadProfile(profileDir(name)) : undefined;
      if (profile) report.profiles.push(summarizeProfile(profile));
    }
  }
  report.roundTrips.push(...medianOfRounds(rows));
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
  report.cluster = await runClusterBench({ chargers, samples: Math.min(300, Math.ceil(chargers / 10)), traceStalls: flags['trace-stalls'], log });
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
  if (platformArgv.length > 0) report.notes.push(`idle, heap and rtt platform nodes ran with node options ${platformArgv.join(' ')}`);
  // The node's own heap settings (core/heap-mode.ts) follow V8_OPTIMIZE_FOR_SIZE and V8_PRETENURING of this environment.
  for (const name of ['V8_OPTIMIZE_FOR_SIZE', 'V8_PRETENURING']) if (process.env[name]) report.notes.push(`platform nodes ran with ${name}=${process.env[name]}`);
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
  await printResults(report, { socketsPerProcess: SOCKETS_PER_PROCESS, log });
  const file = writeJsonReport(resolve(REPO_ROOT, 'reports'), report);
  log(`\nJSON report: ${file}`);
  clearTimeout(deadline);
  process.exitCode = report.errors.length > 0 ? 1 : 0;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
