import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { openChargerSocket } from './open-charger-socket.js';

/**
 * Load generator: many simulated chargers in one process, speaking OCPP-J 1.6 with raw `ws` clients.
 * Each client has at most one CALL outstanding (as 1.6 requires) and awaits its reply before the
 * next. Reports JSON lines on stdout:
 *   {"event":"connected",...}  after the connection storm (parallel batches)
 *   idle:   {"event":"ready",...}, then answers `status` / `stop` on stdin
 *   heartbeat,metervalues: {"event":"ready"} after setup (boot, start a transaction), then per mode
 *           {"event":"measuring"} when the counted window starts and {"event":"result",...}; then exits
 *
 * Usage: node --import tsx bench/load-client.ts --url ws://127.0.0.1:9000/ocpp/{id} --prefix bench-
 *        --from 0 --count 1000 --password pw --mode idle|heartbeat,metervalues [--duration 10]
 *        [--warmup 2] [--batch 500] [--boot] [--hold-max 600]
 */

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    prefix: { type: 'string', default: 'bench-' },
    from: { type: 'string', default: '0' },
    count: { type: 'string', default: '100' },
    password: { type: 'string', default: '' },
    mode: { type: 'string', default: 'idle' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    batch: { type: 'string', default: '500' },
    boot: { type: 'boolean', default: false },
    'hold-max': { type: 'string', default: '600' },
    'call-timeout': { type: 'string', default: '30000' },
  },
});

type RoundTripMode = 'heartbeat' | 'metervalues';
const ROUND_TRIP_MODES: readonly string[] = ['heartbeat', 'metervalues'];
/** `idle`, or a comma-separated list of round-trip modes run one after the other on the same sockets. */
const modes = (opt.mode ?? '').split(',').map((m) => m.trim());
const idle = modes.length === 1 && modes[0] === 'idle';
if (!opt.url?.includes('{id}') || !(idle || modes.every((m) => ROUND_TRIP_MODES.includes(m)))) {
  process.stderr.write('usage: load-client.ts --url ws://127.0.0.1:<port>/ocpp/{id} --mode idle|heartbeat[,metervalues] ...\n');
  process.exit(2);
}
const urlTemplate = opt.url;
const from = Number(opt.from);
const count = Number(opt.count);
const batch = Math.max(1, Number(opt.batch));
const callTimeoutMs = Number(opt['call-timeout']);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const emit = (value: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

type Outcome = 'ok' | 'echo' | 'error' | 'timeout' | 'closed';

interface Pending {
  id: string;
  resolve: (o: Outcome, text: string) => void;
  timer: NodeJS.Timeout;
}

/** One simulated charger: a socket and at most one outstanding CALL. */
class Charger {
  private seq = 0;
  private pending: Pending | undefined;
  closedUnexpectedly = false;
  serverCalls = 0;
  lastError = '';
  /** The MeterValues this charger sends in its session; rebuilt when the server sets its limit. */
  meterTail = '';
  private session: { transactionId: number; seed: number } | undefined;
  private limitA: number | undefined;

  constructor(
    readonly id: string,
    private readonly ws: WebSocket,
  ) {
    ws.on('message', (data) => this.onMessage(String(data)));
    ws.on('close', () => {
      if (!stopping) this.closedUnexpectedly = true;
      this.settle('closed', '');
    });
    ws.on('error', () => undefined);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends `[2,"<id>"` + tail, where tail is `,"Action",{payload}]`, and waits for the answer. */
  call(tail: string, timeoutMs = callTimeoutMs): Promise<{ outcome: Outcome; text: string }> {
    if (!this.open) return Promise.resolve({ outcome: 'closed', text: '' });
    const id = (++this.seq).toString(36);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle('timeout', ''), timeoutMs);
      this.pending = { id, timer, resolve: (outcome, text) => resolve({ outcome, text }) };
      this.ws.send(`[2,"${id}"${tail}`);
    });
  }

  close(): void {
    this.ws.terminate();
  }

  startSession(transactionId: number, seed: number): void {
    this.session = { transactionId, seed };
    this.meterTail = meterValuesTail(transactionId, seed, this.limitA);
  }

  private settle(outcome: Outcome, text: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    p.resolve(outcome, text);
  }

  private onMessage(text: string): void {
    // Frames are compact JSON arrays: the type is the second character, the id the first string.
    const type = text.charCodeAt(1) - 48;
    const start = text.indexOf('"') + 1;
    const id = start > 0 ? text.slice(start, text.indexOf('"', start)) : '';
    const p = this.pending;
    if (type === 2 && (!p || id !== p.id)) return this.answerServerCall(text);
    if (!p || id !== p.id) return;
    if (type === 3) this.settle('ok', text);
    else if (type === 2) this.settle('echo', text);
    else {
      this.lastError = text.slice(0, 300);
      this.settle('error', text);
    }
  }

  /** The server called us (e.g. TriggerMessage): answer so it is not left waiting. */
  private answerServerCall(text: string): void {
    this.serverCalls++;
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (!Array.isArray(msg) || typeof msg[1] !== 'string') return;
    const action = String(msg[2]);
    const payload = action === 'GetConfiguration' ? { configurationKey: [] } : action === 'DataTransfer' ? { status: 'Rejected' } : { status: 'Accepted' };
    this.ws.send(JSON.stringify([3, msg[1], payload]));
    // A charger follows the limit it accepted, as real ones do: one that ignored it made the
    // platform re-send its profile every few seconds, balancing work the peer server does not do.
    if (action === 'SetChargingProfile') {
      const limit = (msg[3] as { csChargingProfiles?: { chargingSchedule?: { chargingSchedulePeriod?: { limit?: unknown }[] } } })?.csChargingProfiles?.chargingSchedule?.chargingSchedulePeriod?.[0]?.limit;
      if (typeof limit === 'number') this.limitA = limit;
      if (this.session) this.meterTail = meterValuesTail(this.session.transactionId, this.session.seed, this.limitA);
    }
  }
}

let stopping = false;
const chargers: Charger[] = [];
const failures = new Map<string, number>();

async function connectOne(id: string): Promise<Charger | undefined> {
  const ws = await openChargerSocket(urlTemplate, id, opt.password);
  if (ws instanceof WebSocket) return new Charger(id, ws);
  failures.set(ws.failed, (failures.get(ws.failed) ?? 0) + 1);
  return undefined;
}

async function connectAll(): Promise<void> {
  const t0 = performance.now();
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    const batchIds = Array.from({ length: n }, (_, k) => `${opt.prefix}${from + i + k}`);
    for (const c of await Promise.all(batchIds.map(connectOne))) if (c) chargers.push(c);
  }
  emit({ event: 'connected', attempted: count, connected: chargers.length, failed: count - chargers.length, failures: Object.fromEntries(failures), connectMs: Math.round(performance.now() - t0) });
}

const now = (): string => new Date().toISOString();
const tailOf = (action: string, payload: unknown): string => `,"${action}",${JSON.stringify(payload)}]`;
const bootTail = (): string => tailOf('BootNotification', { chargePointVendor: 'Bench', chargePointModel: 'LoadClient-1', firmwareVersion: '1.0.0' });

/** Runs `fn` on every charger, `batch` at a time; returns how many succeeded. */
async function forAll(fn: (c: Charger) => Promise<boolean>): Promise<number> {
  let ok = 0;
  for (let i = 0; i < chargers.length; i += batch) {
    const results = await Promise.all(chargers.slice(i, i + batch).map(fn));
    ok += results.filter(Boolean).length;
  }
  return ok;
}

const isAnswer = (o: Outcome): boolean => o === 'ok' || o === 'echo';

/** A realistic MeterValues during a 3-phase session: current per phase (a car wanting 16 A, within `limitA`), active power, energy register. */
function meterValuesTail(transactionId: number, seed: number, limitA = Infinity): string {
  const a = Math.min(16 + (seed % 7) * 0.1, limitA).toFixed(1);
  const sample = (measurand: string, value: string, unit: string, phase?: string) => ({
    value,
    context: 'Sample.Periodic',
    measurand,
    ...(phase ? { phase } : {}),
    location: 'Outlet',
    unit,
  });
  return tailOf('MeterValues', {
    connectorId: 1,
    transactionId,
    meterValue: [
      {
        timestamp: now(),
        sampledValue: [
          sample('Current.Import', a, 'A', 'L1'),
          sample('Current.Import', a, 'A', 'L2'),
          sample('Current.Import', a, 'A', 'L3'),
          sample('Power.Active.Import', String(Math.round(Number(a) * 230 * 3)), 'W'),
          sample('Energy.Active.Import.Register', String(12_345 + seed), 'Wh'),
        ],
      },
    ],
  });
}

async function runIdle(): Promise<void> {
  let booted = 0;
  if (opt.boot) booted = await forAll(async (c) => isAnswer((await c.call(bootTail())).outcome));
  emit({ event: 'ready', open: chargers.filter((c) => c.open).length, booted, bootFailed: opt.boot ? chargers.length - booted : 0 });
  const holdMax = setTimeout(() => finish('hold-max reached'), Number(opt['hold-max']) * 1000);
  const finish = (why: string): void => {
    clearTimeout(holdMax);
    const open = chargers.filter((c) => c.open).length;
    stopping = true;
    for (const c of chargers) c.close();
    emit({ event: 'done', why, open, closedUnexpectedly: chargers.filter((c) => c.closedUnexpectedly).length });
    setTimeout(() => process.exit(0), 200);
  };
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      const cmd = line.trim();
      if (cmd === 'status') {
        emit({ event: 'status', open: chargers.filter((c) => c.open).length, closedUnexpectedly: chargers.filter((c) => c.closedUnexpectedly).length, serverCalls: chargers.reduce((s, c) => s + c.serverCalls, 0) });
      } else if (cmd === 'stop') finish('stop');
    })
    .on('close', () => finish('stdin closed'));
}

/** Latency histogram in 0.1 ms buckets up to 2 s. */
class Histogram {
  private readonly buckets = new Uint32Array(20_001);
  n = 0;
  max = 0;
  add(ms: number): void {
    this.buckets[Math.min(20_000, Math.round(ms * 10))]!++;
    this.n++;
    if (ms > this.max) this.max = ms;
  }
  quantile(q: number): number {
    let seen = 0;
    const target = q * this.n;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= target && seen > 0) return i / 10;
    }
    return this.max;
  }
}

async function runRoundTrips(modes: readonly RoundTripMode[]): Promise<void> {
  const setupStart = performance.now();
  const booted = await forAll(async (c) => isAnswer((await c.call(bootTail())).outcome));
  if (modes.includes('metervalues')) {
    let seed = 0;
    await forAll(async (c) => {
      const { outcome, text } = await c.call(tailOf('StartTransaction', { connectorId: 1, idTag: 'BENCH-TAG', meterStart: 12_345, timestamp: now() }));
      let transactionId = 1;
      if (outcome === 'ok') {
        try {
          const reply = JSON.parse(text) as [number, string, { transactionId?: number }];
          transactionId = reply[2].transactionId ?? 1;
        } catch {
          // keep 1
        }
      }
      c.startSession(transactionId, ++seed);
      return isAnswer(outcome);
    });
  }
  emit({ event: 'ready', booted, setupMs: Math.round(performance.now() - setupStart) });
  const heartbeat = tailOf('Heartbeat', {});
  for (const m of modes) await phase(m, (c) => (m === 'metervalues' ? c.meterTail || heartbeat : heartbeat));
  stopping = true;
  for (const c of chargers) c.close();
  setTimeout(() => process.exit(0), 200);
}

/** Every charger sends `tailFor(charger)` calls back to back; counted after the warm-up. */
async function phase(m: RoundTripMode, tailFor: (c: Charger) => string): Promise<void> {
  const warmupMs = Number(opt.warmup) * 1000;
  const durationMs = Number(opt.duration) * 1000;
  const hist = new Histogram();
  const counts: Record<Outcome, number> = { ok: 0, echo: 0, error: 0, timeout: 0, closed: 0 };
  let running = true;
  let measuring = false;
  const loop = async (c: Charger): Promise<void> => {
    while (running) {
      const t0 = performance.now();
      const { outcome } = await c.call(tailFor(c), 10_000);
      if (measuring) {
        counts[outcome]++;
        if (isAnswer(outcome)) hist.add(performance.now() - t0);
      }
      if (outcome === 'timeout' || outcome === 'closed') return;
    }
  };
  const loops = chargers.filter((c) => c.open).map(loop);
  await sleep(warmupMs);
  const serverCalls = (): number => chargers.reduce((sum, c) => sum + c.serverCalls, 0);
  const callsBefore = serverCalls();
  measuring = true;
  emit({ event: 'measuring', mode: m });
  const windowStart = performance.now();
  await sleep(durationMs);
  measuring = false;
  const seconds = (performance.now() - windowStart) / 1000;
  running = false;
  await Promise.race([Promise.all(loops), sleep(12_000)]);
  const answered = counts.ok + counts.echo;
  emit({
    event: 'result',
    mode: m,
    clients: loops.length,
    seconds: Number(seconds.toFixed(3)),
    answered,
    ...counts,
    rate: Math.round(answered / seconds),
    latencyMs: { p50: hist.quantile(0.5), p90: hist.quantile(0.9), p99: hist.quantile(0.99), max: Number(hist.max.toFixed(1)) },
    serverCalls: serverCalls() - callsBefore,
    closedUnexpectedly: chargers.filter((c) => c.closedUnexpectedly).length,
    firstError: chargers.find((c) => c.lastError)?.lastError ?? null,
  });
}

async function main(): Promise<void> {
  if (!idle) {
    // The bench that started us is gone: stop.
    process.stdin.on('close', () => process.exit(1));
    process.stdin.resume();
  }
  await connectAll();
  if (idle) await runIdle();
  else await runRoundTrips(modes as RoundTripMode[]);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
