import { rssKiB } from './children.js';
import { cpuBetween, mainThreadWakeups, sampleCpu, userAndSystemMs, type CpuUse } from './cpu.js';
import { type ConnectedReport, isEvent, type RoundTripMode, type RoundTripReport, spawnLoadClient } from './load-gen.js';
import type { ServerUnderTest } from './servers.js';

/**
 * Round trips: one load-generator process opens `clients` charger connections; each sends a CALL,
 * awaits the reply, and sends the next (one at a time, as OCPP 1.6 requires). Heartbeat, then a
 * realistic MeterValues (per-phase Current.Import, Power.Active.Import, Energy.Active.Import.Register
 * in a started transaction, within the limit the server last sent), on the same connections. Counted after a warm-up, over `durationS`;
 * CPU use of every process is sampled over the counted window.
 */

export interface RoundTripRow {
  server: string;
  mode: RoundTripMode;
  clients: number;
  connected: number;
  rate: number;
  /** The same mode's raw-ws rate in this run = 100. */
  pctOfRaw?: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  timeouts: number;
  firstError: string | null;
  /** Calls the server made to the chargers meanwhile (e.g. the balancer's SetChargingProfile), answered by the load generator. */
  serverCalls: number;
  serverRssMiB: number;
  cpu: CpuUse;
  /** Server CPU time per round trip: independent of how busy the rest of the machine was. */
  serverUsPerRoundTrip: number;
  /** nats-server (and the idle bench process) CPU time per round trip. */
  natsUsPerRoundTrip: number;
  /** With several rounds: each round's rate and server us/rt, in order (the row holds their medians). */
  rounds?: { rate: number; serverUsPerRoundTrip: number }[];
}

export interface RoundTripOptions {
  clients: number;
  durationS: number;
  warmupS: number;
  batch: number;
  /** Wait up to this long for other work on the machine to calm down before starting. */
  quietWaitMs: number;
}

const perRoundTrip = (pctOfCore: number, rate: number): number => (rate > 0 ? Number(((pctOfCore / 100 / rate) * 1e6).toFixed(1)) : 0);

/** Waits (bounded) until processes outside the bench use less than `maxForeignPct` of one core. */
export async function waitForQuiet(maxWaitMs: number, maxForeignPct = 25): Promise<{ waitedMs: number; foreignPct: number }> {
  const t0 = Date.now();
  let foreignPct = 0;
  do {
    const a = sampleCpu();
    await new Promise((r) => setTimeout(r, 1_000));
    foreignPct = cpuBetween(a, sampleCpu(), process.pid, process.pid).foreignPct;
    if (foreignPct < maxForeignPct) break;
  } while (Date.now() - t0 < maxWaitMs);
  return { waitedMs: Date.now() - t0, foreignPct };
}

export async function measureRoundTrips(
  server: ServerUnderTest,
  modes: readonly RoundTripMode[],
  opts: RoundTripOptions,
  log: (line: string) => void,
): Promise<RoundTripRow[]> {
  if (opts.quietWaitMs > 0) {
    const quiet = await waitForQuiet(opts.quietWaitMs);
    if (quiet.waitedMs > 1_500) log(`    waited ${(quiet.waitedMs / 1000).toFixed(0)} s for other work on the machine to calm down (outside the bench now ${quiet.foreignPct}% of a core)`);
  }
  const child = spawnLoadClient({
    name: 'round-trip load',
    urlTemplate: server.urlTemplate,
    from: 0,
    count: opts.clients,
    mode: modes,
    durationS: opts.durationS,
    warmupS: opts.warmupS,
    batch: opts.batch,
  });
  const rows: RoundTripRow[] = [];
  try {
    const connected = await child.nextJson<ConnectedReport>(isEvent('connected'), 120_000, 'connected');
    if (connected.connected === 0) throw new Error(`no client could connect to ${server.label}: ${JSON.stringify(connected.failures)}`);
    if (connected.failed > 0) log(`    ${server.label}: ${connected.failed} clients could not connect: ${JSON.stringify(connected.failures)}`);
    await child.nextJson(isEvent('ready'), 120_000, 'ready (boot / start transaction)');
    for (const mode of modes) {
      const phaseMs = (opts.warmupS + opts.durationS) * 1000 + 60_000;
      await child.nextJson((v) => v.event === 'measuring' && v.mode === mode, phaseMs, `${mode} window start`);
      const before = sampleCpu();
      const wakeupsBefore = [mainThreadWakeups(server.child.pid), mainThreadWakeups(child.pid)];
      const serverTimeBefore = userAndSystemMs(server.child.pid);
      const result = await child.nextJson<RoundTripReport>((v) => v.event === 'result' && v.mode === mode, phaseMs, `${mode} result`);
      const cpu = cpuBetween(before, sampleCpu(), server.child.pid, child.pid);
      const answered = result.rate * result.seconds;
      const serverTime = userAndSystemMs(server.child.pid);
      const [userUs, systemUs] = [serverTime.user - serverTimeBefore.user, serverTime.system - serverTimeBefore.system].map((ms) => Number(((ms * 1000) / answered).toFixed(1)));
      const [serverWakeups, loadWakeups] = [server.child.pid, child.pid].map((pid, i) => Number(((mainThreadWakeups(pid) - wakeupsBefore[i]!) / answered).toFixed(3)));
      const serverRssMiB = Number((rssKiB(server.child.pid) / 1024).toFixed(1));
      log(
        `    ${server.label} ${mode}: ${result.rate.toLocaleString('en-US')}/s (p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ` +
          `errors ${result.error}, timeouts ${result.timeout}; cpu server ${cpu.serverPct}% = ${perRoundTrip(cpu.serverPct, result.rate)} us/rt, load ${cpu.loadPct}%, ` +
          `nats+bench ${cpu.benchOtherPct}%, outside ${cpu.foreignPct}%; server user ${userUs} + kernel ${systemUs} us/rt; wakeups per round trip: server ${serverWakeups}, load ${loadWakeups})`,
      );
      rows.push({
        server: server.label,
        mode,
        clients: opts.clients,
        connected: connected.connected,
        rate: result.rate,
        p50Ms: result.latencyMs.p50,
        p99Ms: result.latencyMs.p99,
        errors: result.error,
        timeouts: result.timeout,
        firstError: result.firstError,
        serverCalls: result.serverCalls,
        serverRssMiB,
        cpu,
        serverUsPerRoundTrip: perRoundTrip(cpu.serverPct, result.rate),
        natsUsPerRoundTrip: perRoundTrip(cpu.benchOtherPct, result.rate),
      });
    }
    return rows;
  } catch (err) {
    await child.stop();
    throw err;
  } finally {
    const timer = setTimeout(() => void child.stop(), 15_000);
    await child.exited;
    clearTimeout(timer);
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : Number(((s[m - 1]! + s[m]!) / 2).toFixed(1));
};

/**
 * One row per server and message from rows of several rounds (servers measured in turn, round after
 * round, so a noisy stretch of the machine hits every server alike): the median of each figure, with
 * each round's rate and server us/rt kept beside it, and errors and timeouts summed.
 */
export function medianOfRounds(rows: readonly RoundTripRow[]): RoundTripRow[] {
  const groups = new Map<string, RoundTripRow[]>();
  for (const r of rows) {
    const key = `${r.server}\u0000${r.mode}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    if (g.length === 1) return g[0]!;
    const mid = (f: (r: RoundTripRow) => number): number => median(g.map(f));
    const last = g[g.length - 1]!;
    return {
      ...last,
      rate: mid((r) => r.rate),
      p50Ms: mid((r) => r.p50Ms),
      p99Ms: mid((r) => r.p99Ms),
      errors: g.reduce((n, r) => n + r.errors, 0),
      timeouts: g.reduce((n, r) => n + r.timeouts, 0),
      firstError: g.find((r) => r.firstError)?.firstError ?? null,
      serverCalls: mid((r) => r.serverCalls),
      serverRssMiB: mid((r) => r.serverRssMiB),
      cpu: { ...last.cpu, serverPct: mid((r) => r.cpu.serverPct), loadPct: mid((r) => r.cpu.loadPct), benchOtherPct: mid((r) => r.cpu.benchOtherPct), foreignPct: mid((r) => r.cpu.foreignPct) },
      serverUsPerRoundTrip: mid((r) => r.serverUsPerRoundTrip),
      natsUsPerRoundTrip: mid((r) => r.natsUsPerRoundTrip),
      rounds: g.map((r) => ({ rate: r.rate, serverUsPerRoundTrip: r.serverUsPerRoundTrip })),
    };
  });
}
