import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { ConnectAnswer, EventsAnswer, FleetSpec, FuseAnswer, LimitMatch, QuietAnswer } from './balancer-chargers.js';
import { mainThreadProfile, monotonicUs, summarizeProfile, type ProfileSummary } from './balancer-profile.js';
import { perEvent, profileNote, renderTable, stats, type Stats } from './balancer-report.js';
import { ADMIN_TOKEN, benchTreeCpuSeconds, CHARGER_PASSWORD, countMessages, cpuSeconds, machineBusySeconds, killAll, LoadGenerator, REPO_ROOT, seedFleet, sleep, startNats, startPlatform, type PlatformProcess } from './balancer-procs.js';

/**
 * Issue 3's latency bench: event-to-SetChargingProfile latency of the installation balancer with
 * 1,000 chargers connected to one platform node (target p99 < 50 ms, settle waits excluded), and as
 * the peer in the same run the same measurement with 10 chargers, so the cost of scale shows.
 *
 * Processes (all on 127.0.0.1): a private nats-server per fleet, one platform node
 * (`node --import tsx main.ts`), one load generator (`bench/balancer-chargers.ts`, raw `ws`
 * chargers) and this process (seeds the fleet through the stores, drives the load generator).
 * The event is a StatusNotification `Preparing` where capacity is free (so the balancer raises at
 * once: no decrease to wait for), and `Available` for the decrease to 0; the fuse change is an HTTP
 * PATCH. Latency runs from the send of the event to the arrival of the matching SetChargingProfile,
 * both timed in the load generator. Installations have settleMs 0, no minimum interval, run or pause.
 *
 *   npx tsx bench/balancer-latency.ts [--quick] [--cpu-prof] [--ocpp-log=off] [--coalesce-ms=5]
 */

export interface BalancerLatencyOptions {
  quick: boolean;
  /** The platform's OCPP message log (default on, as in production). */
  ocppLog?: boolean;
  /** BALANCER_COALESCE_MS of the node (default 5). */
  coalesceMs?: number;
  /** Profile the 1,000-charger node (--cpu-prof) over the measured window; the summary goes into the notes. */
  cpuProf?: boolean;
  log?: (line: string) => void;
}

export interface BalancerLatencyResult {
  name: string;
  rows: Record<string, unknown>[];
  notes: string[];
  profile?: ProfileSummary;
}

const TARGET_P99_MS = 50;
const FUSE_HIGH_A = 400;
const FUSE_LOW_A = 100;
const MAX_CURRENT_A = 32;
const PER_INSTALLATION = 10;
const RAISE: LimitMatch = { min: MAX_CURRENT_A };
const ZERO: LimitMatch = { max: 0 };
const LOWERED: LimitMatch = { min: 0.1, max: MAX_CURRENT_A - 1 };
const EVENT_TIMEOUT_MS = 10_000;
/** "other" CPU (% of one core) above which tail figures measure the neighbours more than the platform. */
const BUSY_MACHINE_PCT = 50;

interface FleetPlan {
  label: string;
  installations: number;
  /** Plug-in samples at `spacingMs`; each is followed (per pass) by an unplug sample. */
  samples: number;
  spacingMs: number;
  /** A second plug-in pass with events closer together (0 = none). */
  burstSamples: number;
  burstSpacingMs: number;
  /** Fuse lowered then raised back, on this many installations (cycles on one installation for a single one). */
  fuseChanges: number;
}

function plans(quick: boolean): { small: FleetPlan; large: FleetPlan; deadlineMs: number } {
  return {
    small: { label: 'peer: 10 chargers (1 inst.)', installations: 1, samples: quick ? 200 : 1_000, spacingMs: 10, burstSamples: 0, burstSpacingMs: 0, fuseChanges: quick ? 5 : 20 },
    large: {
      label: 'target: 1,000 chargers (100 inst. x 10)',
      installations: 100,
      samples: quick ? 500 : 1_000,
      spacingMs: 10,
      burstSamples: quick ? 500 : 1_000,
      burstSpacingMs: 2,
      fuseChanges: quick ? 10 : 30,
    },
    deadlineMs: quick ? 150_000 : 10 * 60_000,
  };
}

/** Chargers in the order events visit them: slot 0 of every installation, then slot 1, ... */
function interleaved(fleet: FleetSpec['installations']): string[] {
  const out: string[] = [];
  for (let k = 0; k < PER_INSTALLATION; k++) for (const inst of fleet) if (inst.chargers[k]) out.push(inst.chargers[k]!);
  return out;
}

/** CPU over a step, in % of one core (the machine has `cpus().length` x 100 %). */
interface Cpu {
  node: number;
  /** Every process of the bench: this one, the node, the nats-server, the load generator. */
  bench: number;
  /** Everything else on the machine: other work that makes the figures noisy. */
  other: number;
}

/** CPU seconds and wall seconds summed over the measured parts of a step (waits between them left out). */
class CpuMeter {
  private wall = 0;
  private node = 0;
  private bench = 0;
  private machine = 0;

  constructor(private readonly nodePid: number) {}

  async measure<T>(fn: () => Promise<T>): Promise<T> {
    const sample = () => ({ t: performance.now() / 1000, node: cpuSeconds(this.nodePid), bench: benchTreeCpuSeconds(), machine: machineBusySeconds() });
    const a = sample();
    const value = await fn();
    const b = sample();
    this.wall += b.t - a.t;
    this.node += b.node - a.node;
    this.bench += b.bench - a.bench;
    this.machine += b.machine - a.machine;
    return value;
  }

  get pct(): Cpu {
    const pct = (s: number): number => (this.wall > 0 ? Math.max(0, Math.round((s / this.wall) * 100)) : 0);
    return { node: pct(this.node), bench: pct(this.bench), other: pct(this.machine - this.bench) };
  }
}

interface Step {
  event: string;
  spacingMs: number | string;
  values: (number | null)[];
  cpu: Cpu;
  extra?: string;
}

class FleetRun {
  readonly steps: Step[] = [];
  readonly notes: string[] = [];
  private unmatched = 0;
  /** When set (diagnosis with --cpu-prof), NATS messages are counted over the first plug-in and unplug pass. */
  counter: Awaited<ReturnType<typeof countMessages>> | undefined;

  constructor(
    private readonly plan: FleetPlan,
    private readonly fleet: FleetSpec['installations'],
    private readonly load: LoadGenerator,
    private readonly node: PlatformProcess,
    private readonly log: (line: string) => void,
  ) {}

  async connect(): Promise<void> {
    const total = this.fleet.reduce((s, i) => s + i.chargers.length, 0);
    const c = await this.load.request<ConnectAnswer>({ op: 'connect', fleet: { url: `ws://127.0.0.1:${this.node.ocppPort}/ocpp/{id}`, password: CHARGER_PASSWORD, installations: this.fleet }, batch: 100 }, 120_000);
    if (c.connected !== total) throw new Error(`only ${c.connected} of ${total} chargers connected: ${JSON.stringify(c.failures)}`);
    const q = await this.quiet(500, 60_000);
    this.log(`   ${c.connected} chargers connected and booted in ${(c.ms / 1000).toFixed(1)} s; initial profiles: ${q.profiles.zero} at 0 A, ${q.profiles.positive} above; last limit 0 A on ${q.lastLimit.zero}, none on ${q.lastLimit.none}`);
    if (q.lastLimit.zero !== total) this.notes.push(`${this.plan.label}: after connecting, ${q.lastLimit.zero} of ${total} chargers had their safe default profile (0 A); ${q.lastLimit.none} had none.`);
  }

  quiet(quietMs = 300, timeoutMs = 30_000): Promise<QuietAnswer> {
    return this.load.request<QuietAnswer>({ op: 'quiet', quietMs, timeoutMs }, timeoutMs + 5_000);
  }

  async events(status: 'Preparing' | 'Available', ids: string[], spacingMs: number, match: LimitMatch): Promise<EventsAnswer> {
    const answer = await this.load.request<EventsAnswer>({ op: 'events', status, ids, spacingMs, match, timeoutMs: EVENT_TIMEOUT_MS }, ids.length * spacingMs + EVENT_TIMEOUT_MS + 10_000);
    this.unmatched += answer.unmatched;
    if (answer.callErrors > 0) this.notes.push(`${this.plan.label}: ${answer.callErrors} StatusNotification calls failed.`);
    return answer;
  }

  /** Plug-in then unplug, `samples` times, `spacingMs` apart. */
  async plugCycles(samples: number, spacingMs: number): Promise<void> {
    const order = interleaved(this.fleet);
    const raise: (number | null)[] = [];
    const zero: (number | null)[] = [];
    const [raiseCpu, zeroCpu] = [new CpuMeter(this.node.pid), new CpuMeter(this.node.pid)];
    while (raise.length < samples) {
      const ids = order.slice(0, Math.min(order.length, samples - raise.length));
      this.counter?.take();
      raise.push(...(await raiseCpu.measure(() => this.events('Preparing', ids, spacingMs, RAISE))).latencies);
      await this.quietIfLarge();
      const plugMsgs = this.counter?.take();
      zero.push(...(await zeroCpu.measure(() => this.events('Available', ids, spacingMs, ZERO))).latencies);
      await this.quietIfLarge();
      const unplugMsgs = this.counter?.take();
      if (plugMsgs && unplugMsgs) {
        this.notes.push(`${this.plan.label}: NATS messages through the server per event (${ids.length} events each; counted by a '>' subscriber):\n${perEvent(plugMsgs, unplugMsgs, ids.length)}`);
        this.counter = undefined;
      }
    }
    this.steps.push({ event: 'plug-in -> raise (SN Preparing)', spacingMs, values: raise, cpu: raiseCpu.pct }, { event: 'unplug -> 0 A (SN Available)', spacingMs, values: zero, cpu: zeroCpu.pct });
    this.log(`   plug-in/unplug every ${spacingMs} ms: ${raise.length} + ${zero.length} samples`);
  }

  /** Between passes over a large fleet, let every answer arrive; a 10-charger cycle just pauses. */
  private async quietIfLarge(): Promise<void> {
    if (this.fleet.length > 1) await this.quiet();
    else await sleep(this.plan.spacingMs);
  }

  /** Plugs in the first `samples` chargers (left charging); a burst is recorded as a step of its own. */
  async plugIn(samples: number, spacingMs: number, record: boolean): Promise<string[]> {
    const ids = interleaved(this.fleet).slice(0, samples);
    const meter = new CpuMeter(this.node.pid);
    const answer = await meter.measure(() => this.events('Preparing', ids, spacingMs, RAISE));
    await this.quiet();
    if (!record) return ids;
    this.steps.push({ event: 'plug-in -> raise (SN Preparing)', spacingMs, values: answer.latencies, cpu: meter.pct, extra: 'burst' });
    this.log(`   plug-in burst every ${spacingMs} ms (sends spread over ${answer.sendSpanMs} ms): ${answer.latencies.length} samples`);
    return ids;
  }

  /** Lowers the fuse over the HTTP API and raises it back; times until every charging charger of the installation got its new limit. */
  async fuseChanges(charging: readonly string[], apiPort: number): Promise<void> {
    const chargingSet = new Set(charging);
    const targets = this.fleet.length === 1 ? Array.from({ length: this.plan.fuseChanges }, () => this.fleet[0]!) : this.fleet.slice(0, this.plan.fuseChanges);
    const lower = { event: `fuse ${FUSE_HIGH_A}->${FUSE_LOW_A} A (PATCH) -> every charger lowered`, values: [] as (number | null)[] };
    const raise = { event: `fuse ${FUSE_LOW_A}->${FUSE_HIGH_A} A (PATCH) -> every charger raised`, values: [] as (number | null)[] };
    const http: number[] = [];
    let perInstallation = 0;
    const meters = [new CpuMeter(this.node.pid), new CpuMeter(this.node.pid)] as const;
    const change = async (inst: FleetSpec['installations'][number], fuseA: number, match: LimitMatch, meter: CpuMeter): Promise<FuseAnswer> => {
      const ids = inst.chargers.filter((id) => chargingSet.has(id));
      perInstallation = ids.length;
      const fuse = { L1: fuseA, L2: fuseA, L3: fuseA };
      const a = await meter.measure(() => this.load.request<FuseAnswer>({ op: 'fuse', apiUrl: `http://127.0.0.1:${apiPort}`, token: ADMIN_TOKEN, installationId: inst.id, ids, fuse, match, timeoutMs: EVENT_TIMEOUT_MS }, EVENT_TIMEOUT_MS + 5_000));
      if (a.httpStatus !== 200) throw new Error(`PATCH fuse of ${inst.id} answered ${a.httpStatus}`);
      await sleep(50);
      return a;
    };
    // The node's first PATCH runs its API route cold (tens of ms): one warm-up round, not counted.
    const cold = await change(targets[0]!, FUSE_LOW_A, LOWERED, new CpuMeter(this.node.pid));
    await change(targets[0]!, FUSE_HIGH_A, RAISE, new CpuMeter(this.node.pid));
    for (const inst of targets) {
      for (const [step, fuseA, match, meter] of [
        [lower, FUSE_LOW_A, LOWERED, meters[0]],
        [raise, FUSE_HIGH_A, RAISE, meters[1]],
      ] as const) {
        const a = await change(inst, fuseA, match, meter);
        step.values.push(a.lastMs);
        http.push(a.httpMs);
      }
    }
    const extra = `${perInstallation} chargers each`;
    this.steps.push({ ...lower, spacingMs: 'one at a time', cpu: meters[0].pct, extra }, { ...raise, spacingMs: 'one at a time', cpu: meters[1].pct, extra });
    const h = stats(http);
    this.notes.push(
      `${this.plan.label}: fuse PATCH answered in p50 ${h.p50} ms / max ${h.max} ms (HTTP round trip, part of the fuse figures). ` +
        `Not counted: the warm-up, the node's first PATCH (cold route): answered in ${cold.httpMs.toFixed(1)} ms, every charger lowered after ${cold.lastMs?.toFixed(1) ?? 'never'} ms.`,
    );
    this.log(`   fuse lowered and raised ${targets.length} times on ${new Set(targets).size} installation(s), ${perInstallation} charging chargers each`);
  }

  finish(): void {
    if (this.unmatched > 0) this.notes.push(`${this.plan.label}: ${this.unmatched} SetChargingProfile calls arrived that no event waited for (a neighbour lowered, or a repeat).`);
  }
}

async function runFleet(plan: FleetPlan, opts: Required<Omit<BalancerLatencyOptions, 'log'>> & { log: (l: string) => void }): Promise<{ run: FleetRun; profile?: ProfileSummary }> {
  const log = opts.log;
  log(`-- ${plan.label}`);
  const nats = await startNats();
  const profDir = opts.cpuProf && plan.installations > 1 ? mkdtempSync(join(tmpdir(), 'bench-balancer-prof-')) : undefined;
  let node: PlatformProcess | undefined;
  let load: LoadGenerator | undefined;
  let counter: Awaited<ReturnType<typeof countMessages>> | undefined;
  try {
    const t0 = performance.now();
    const fleet = await seedFleet(nats.url, { prefix: 'bal', installations: plan.installations, perInstallation: PER_INSTALLATION, fuseA: FUSE_HIGH_A, maxCurrentA: MAX_CURRENT_A });
    log(`   seeded ${plan.installations} installation(s) x ${PER_INSTALLATION} chargers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    node = await startPlatform({ natsUrl: nats.url, nodeId: 'bench-bal', ocppLog: opts.ocppLog, coalesceMs: opts.coalesceMs, ...(profDir ? { cpuProfDir: profDir } : {}) });
    load = new LoadGenerator();
    const run = new FleetRun(plan, fleet, load, node, log);
    await run.connect();
    counter = profDir ? await countMessages(nats.url) : undefined;
    run.counter = counter;
    const from = monotonicUs();
    await run.plugCycles(plan.samples, plan.spacingMs);
    const charging = plan.burstSamples > 0 ? await run.plugIn(plan.burstSamples, plan.burstSpacingMs, true) : await run.plugIn(PER_INSTALLATION, plan.spacingMs, false);
    await run.fuseChanges(charging, node.apiPort);
    const to = monotonicUs();
    run.finish();
    if (node.warnings() > 0) run.notes.push(`${plan.label}: the node logged ${node.warnings()} warnings; last:\n${node.tail(3)}`);
    await load.request({ op: 'stop' }, 5_000).catch(() => undefined);
    await node.stop();
    const file = profDir ? mainThreadProfile(profDir) : undefined;
    return { run, ...(file ? { profile: summarizeProfile(file, REPO_ROOT, { fromUs: from, toUs: to }) } : {}) };
  } finally {
    await counter?.stop();
    await load?.stop();
    await node?.stop();
    await nats.stop();
    // A profile is kept (its path is in the notes) to open in Chrome DevTools; anything else goes.
    if (profDir && !mainThreadProfile(profDir)) rmSync(profDir, { recursive: true, force: true });
  }
}

/** A miss while other work held the machine's cores says more about the machine than the platform: say so. */
function verdict(st: Stats, cpu: Cpu): string {
  const met = st.missing === 0 && st.p99 < TARGET_P99_MS;
  return `p99 < ${TARGET_P99_MS} ms: ${met ? 'MET' : cpu.other > BUSY_MACHINE_PCT ? `NOT MET (other load ${cpu.other}%: rerun when the machine is quiet)` : 'NOT MET'}`;
}

function rowsOf(plan: FleetPlan, run: FleetRun, target: boolean): Record<string, unknown>[] {
  return run.steps.map((s) => {
    const st = stats(s.values);
    const isTarget = target && s.event.startsWith('plug-in') && !s.extra;
    return {
      set: plan.label,
      event: s.event + (s.extra ? ` [${s.extra}]` : ''),
      'every ms': s.spacingMs,
      n: st.n,
      missing: st.missing,
      'p50 ms': st.p50,
      'p99 ms': st.p99,
      'max ms': st.max,
      'mean ms': st.mean,
      'CPU % node': s.cpu.node,
      'bench procs': s.cpu.bench,
      'other': s.cpu.other,
      target: isTarget ? verdict(st, s.cpu) : '',
    };
  });
}

export async function runBalancerLatencyBench(opts: BalancerLatencyOptions): Promise<BalancerLatencyResult> {
  const log = opts.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const o = { quick: opts.quick, ocppLog: opts.ocppLog ?? true, coalesceMs: opts.coalesceMs ?? 5, cpuProf: opts.cpuProf ?? false, log };
  const { small, large, deadlineMs } = plans(opts.quick);
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    log(`balancer latency bench exceeded ${deadlineMs / 1000} s: killing its processes`);
    killAll();
  }, deadlineMs);
  try {
    const peer = await runFleet(small, o);
    const main = await runFleet(large, o);
    const rows = [...rowsOf(small, peer.run, false), ...rowsOf(large, main.run, true)];
    const notes = [
      `Latency = send of the event at the load generator -> arrival there of the matching SetChargingProfile (answered Accepted at once). ` +
        `Raise: limit ${MAX_CURRENT_A} A where capacity is free (fuse ${FUSE_HIGH_A} A/phase, 10 x ${MAX_CURRENT_A} A), so no decrease is waited for; installations have settleMs 0, minChangeIntervalMs 0, minRun/minPause 0, deadband 0.5 A.`,
      `Platform node: one process, OCPP_LOG=${o.ocppLog ? 'on (default)' : 'off'}, BALANCER_COALESCE_MS=${o.coalesceMs} (every raise waits this window), LOG_LEVEL=info; a private nats-server per fleet; load generator in its own process; ${cpus().length} cores shared by all, loopback only. CPU in % of one core over the step (the machine has ${cpus().length * 100} %): the platform node, all bench processes (node + nats-server + load generator + this one), and "other" = work outside the bench on this shared machine, which makes tail figures noisy.`,
      `"burst" = the same plug-in, events ${large.burstSpacingMs} ms apart across installations (${Math.round(1000 / large.burstSpacingMs)}/s); the peer and target rows share ${small.spacingMs} ms spacing (${Math.round(1000 / small.spacingMs)} events/s per node), so they differ in connected chargers and installations only.`,
      ...peer.run.notes,
      ...main.run.notes,
      ...(main.profile ? [profileNote(main.profile)] : []),
    ];
    return { name: 'balancer event-to-SetChargingProfile latency', rows, notes, ...(main.profile ? { profile: main.profile } : {}) };
  } catch (err) {
    if (timedOut) throw new Error(`balancer latency bench exceeded its deadline of ${deadlineMs / 1000} s`, { cause: err });
    throw err;
  } finally {
    clearTimeout(deadline);
  }
}

async function cli(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, 'cpu-prof': { type: 'boolean', default: false }, 'ocpp-log': { type: 'string', default: 'on' }, 'coalesce-ms': { type: 'string', default: '5' } } });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  const t0 = performance.now();
  const result = await runBalancerLatencyBench({ quick: values.quick, cpuProf: values['cpu-prof'], ocppLog: values['ocpp-log'] !== 'off', coalesceMs: Number(values['coalesce-ms']) });
  process.stdout.write(`\n${result.name} (${values.quick ? 'quick' : 'full'}, ${((performance.now() - t0) / 1000).toFixed(0)} s)\n${renderTable(result.rows)}\n`);
  for (const n of result.notes) process.stdout.write(`\nnote: ${n}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  cli().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
