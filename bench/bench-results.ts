import { relative } from 'node:path';
import { REPO_ROOT } from './children.js';
import type { HeapRow } from './heap-bench.js';
import type { IdleRow } from './idle-bench.js';
import type { ProfileSummary } from './cpu-profile.js';
import { table, tableOfObjects } from './report.js';
import type { RoundTripRow } from './round-trip-bench.js';
import { type TargetRow, verdict } from './targets.js';

/** The bench's sizes and time budget (bench/run.ts picks them from --quick and the fd limit). */
export interface BenchPlan {
  fleet: number;
  idlePerProcess: number;
  singleNodeMax: number;
  heapChargers: number;
  rtt: { clients: number; durationS: number; warmupS: number; batch: number; quietWaitMs: number };
  settleMs: number;
  /** Idle bench: how long the servers are left alone after the last charger booted, before the GC and the reading. */
  idleQuietMs: number;
  deadlineMs: number;
}

export const TARGET_CHARGERS = 20_000;
export const TARGET_PCT_OF_RAW = 60;
export const LOG_ON = 'platform node (OCPP log on, default)';
export const LOG_OFF = 'platform node (OCPP_LOG=off)';

/** What a bench run writes to reports/bench-<timestamp>.json. */
export interface BenchReport {
  startedAt: string;
  finishedAt?: string;
  mode: 'quick' | 'full';
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; openFileLimit: { soft: number; hard: number } };
  plan: BenchPlan;
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

/** Prints the tables of a finished run, and each target beside its figure. */
export async function printResults(report: BenchReport, { socketsPerProcess: SOCKETS_PER_PROCESS, log }: { socketsPerProcess: number; log: (line: string) => void }): Promise<void> {
  const { soft, hard } = report.machine.openFileLimit;
  const { plan } = report;
  const quick = report.mode === 'quick';
  log('\n================ RESULTS ================');
  log(`machine: ${report.machine.cpus} cores (${report.machine.cpuModel}), ${report.machine.memoryGiB} GiB, Node ${report.machine.node}; mode: ${report.mode}`);
  log(`open-file limit per process: soft ${soft}, hard ${hard} (read from /proc/self/limits; RLIMIT_NOFILE, cannot be raised here).`);
  log(`  => one process holds at most ~${soft - 100} sockets; the bench keeps every process at <= ${SOCKETS_PER_PROCESS} and reaches`);
  log(`     ${TARGET_CHARGERS.toLocaleString('en-US')} chargers with a 2-node platform cluster sharing one nats-server, load generators in separate processes.`);
  if (report.fleet) log(`fleet: ${report.fleet.chargers.toLocaleString('en-US')} chargers in ${report.fleet.installations} installations, each with a rotated (SHA-256) password; seeded in ${(report.fleet.seedMs / 1000).toFixed(1)} s`);

  if (report.idle.length > 0) {
    log('\nIdle capacity (connect with Basic auth + one BootNotification, then idle; memory after a full GC and settle: RSS from /proc,');
    log('  heap = live JS objects from process.memoryUsage(); per charger = (after - before) / chargers held by that process.');
    log(`  the servers are left alone ${plan.idleQuietMs / 1000} s after the last boot (the time V8 and a platform node's heap mode take to give back`);
    log(`  what the storm left: core/heap-mode.ts), then GC; RSS is read ${plan.settleMs / 1000} s after the GC; heap KiB/charger is the steadier figure)`);
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
    if (r0.rounds) {
      log(`  Each figure is the median of ${r0.rounds.length} rounds (every server measured in turn, round after round); per round, server us/rt and round trips/s:`);
      for (const r of report.roundTrips) if (r.rounds) log(`    ${r.server} ${r.mode}: ${r.rounds.map((x) => `${x.serverUsPerRoundTrip} us/rt at ${x.rate.toLocaleString('en-US')}/s`).join('; ')}`);
    }
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
