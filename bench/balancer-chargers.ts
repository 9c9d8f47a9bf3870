import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { openChargerSocket } from './open-charger-socket.js';

/**
 * Load generator of the balancer latency bench (`bench/balancer-latency.ts`), run in its own
 * process: raw `ws` chargers (OCPP-J 1.6, Basic auth) that boot, report Available, answer every
 * Central System call at once (SetChargingProfile: Accepted) and time the SetChargingProfile that
 * follows an event. Every time is taken here, on one clock: the event's send (a StatusNotification,
 * or the HTTP PATCH of a fuse) and the profile's arrival.
 *
 * Protocol: one JSON command per stdin line (`{ "seq": n, "op": ... }`), one JSON answer per stdout
 * line (`{ "seq": n, ... }`). Exits when stdin closes (the bench is gone).
 */

export interface FleetSpec {
  url: string;
  password: string;
  installations: { id: string; chargers: string[] }[];
}

/** Which limits count as "the" answer to an event. */
export interface LimitMatch {
  min?: number;
  max?: number;
}

export type LoadCommand =
  | { op: 'connect'; fleet: FleetSpec; batch: number }
  | { op: 'quiet'; quietMs: number; timeoutMs: number }
  | { op: 'events'; status: 'Preparing' | 'Available'; ids: string[]; spacingMs: number; match: LimitMatch; timeoutMs: number }
  | { op: 'fuse'; apiUrl: string; token: string; installationId: string; ids: string[]; fuse: { L1: number; L2: number; L3: number }; match: LimitMatch; timeoutMs: number }
  | { op: 'stop' };

export interface ConnectAnswer {
  connected: number;
  failed: number;
  failures: Record<string, number>;
  bootAccepted: number;
  ms: number;
}
export interface QuietAnswer {
  timedOut: boolean;
  waitedMs: number;
  /** SetChargingProfile calls received since the previous `quiet`, by limit. */
  profiles: { zero: number; positive: number };
  /** Chargers whose last received limit is 0 / > 0 / none yet. */
  lastLimit: { zero: number; positive: number; none: number };
  otherCalls: Record<string, number>;
}
export interface EventsAnswer {
  /** ms from sending the StatusNotification to the matching SetChargingProfile; null = none within the timeout. */
  latencies: (number | null)[];
  /** Profiles that arrived during the run without an event waiting for them (e.g. a neighbour lowered). */
  unmatched: number;
  callErrors: number;
  /** Actual spread of the sends (ms), to check the schedule held. */
  sendSpanMs: number;
  /** Wall clock (ms) of each send, to lay an event beside other processes' records; 0 = not sent. */
  sentAt: number[];
}
export interface FuseAnswer {
  httpStatus: number;
  httpMs: number;
  /** ms from sending the PATCH to the first / last matching profile of the installation's chargers. */
  firstMs: number | null;
  lastMs: number | null;
  matched: number;
  chargers: number;
}

const emit = (value: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const matches = (m: LimitMatch, limit: number): boolean => (m.min === undefined || limit >= m.min) && (m.max === undefined || limit <= m.max);

interface Watcher {
  match: LimitMatch;
  done: (at: number | undefined) => void;
}

let lastProfileAt = 0;
const since = { zero: 0, positive: 0, unmatched: 0 };
const otherCalls: Record<string, number> = {};

/** One simulated charger: a socket, its own CALLs, and watchers for the next matching profile. */
class SimCharger {
  private seq = 0;
  private readonly calls = new Map<string, (ok: boolean, payload: unknown) => void>();
  private readonly watchers = new Set<Watcher>();
  lastLimit: number | undefined;

  constructor(
    readonly id: string,
    readonly installationId: string,
    private readonly ws: WebSocket,
  ) {
    ws.on('message', (data) => this.onMessage(String(data)));
    ws.on('close', () => {
      for (const done of this.calls.values()) done(false, 'closed');
      this.calls.clear();
    });
    ws.on('error', () => undefined);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  call(action: string, payload: unknown, timeoutMs = 10_000): Promise<{ ok: boolean; payload: unknown }> {
    if (!this.open) return Promise.resolve({ ok: false, payload: 'closed' });
    const id = (++this.seq).toString(36);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.calls.delete(id);
        resolve({ ok: false, payload: 'timeout' });
      }, timeoutMs);
      this.calls.set(id, (ok, p) => {
        clearTimeout(timer);
        this.calls.delete(id);
        resolve({ ok, payload: p });
      });
      this.ws.send(JSON.stringify([2, id, action, payload]));
    });
  }

  /** Resolves with the arrival time of the next SetChargingProfile whose limit matches, or undefined after the timeout. */
  nextProfile(match: LimitMatch, timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      const w: Watcher = {
        match,
        done: (at) => {
          clearTimeout(timer);
          this.watchers.delete(w);
          resolve(at);
        },
      };
      const timer = setTimeout(() => w.done(undefined), timeoutMs);
      this.watchers.add(w);
    });
  }

  close(): void {
    this.ws.terminate();
  }

  private onMessage(text: string): void {
    const at = performance.now();
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!Array.isArray(frame) || typeof frame[1] !== 'string') return;
    if (frame[0] === 2) return this.answer(frame[1], String(frame[2]), frame[3], at);
    this.calls.get(frame[1])?.(frame[0] === 3, frame[0] === 3 ? frame[2] : frame.slice(2));
  }

  /** Answers a Central System call at once, then looks at what it was. */
  private answer(id: string, action: string, payload: unknown, at: number): void {
    const response = action === 'GetConfiguration' ? { configurationKey: [] } : action === 'DataTransfer' ? { status: 'Rejected' } : { status: 'Accepted' };
    this.ws.send(JSON.stringify([3, id, response]));
    if (action !== 'SetChargingProfile') {
      otherCalls[action] = (otherCalls[action] ?? 0) + 1;
      return;
    }
    const limit = profileLimit(payload);
    lastProfileAt = at;
    this.lastLimit = limit;
    if (limit > 0) since.positive++;
    else since.zero++;
    for (const w of this.watchers) {
      if (matches(w.match, limit)) return w.done(at);
    }
    since.unmatched++;
  }
}

function profileLimit(payload: unknown): number {
  const p = payload as { csChargingProfiles?: { chargingSchedule?: { chargingSchedulePeriod?: { limit?: number }[] } } };
  return p.csChargingProfiles?.chargingSchedule?.chargingSchedulePeriod?.[0]?.limit ?? Number.NaN;
}

const chargers = new Map<string, SimCharger>();
const failures: Record<string, number> = {};

async function connectOne(url: string, password: string, id: string, installationId: string): Promise<SimCharger | undefined> {
  const ws = await openChargerSocket(url, id, password);
  if (ws instanceof WebSocket) return new SimCharger(id, installationId, ws);
  failures[ws.failed] = (failures[ws.failed] ?? 0) + 1;
  return undefined;
}

const statusPayload = (status: string) => ({ connectorId: 1, errorCode: 'NoError', status, timestamp: new Date().toISOString() });

async function connect(cmd: Extract<LoadCommand, { op: 'connect' }>): Promise<ConnectAnswer> {
  const t0 = performance.now();
  const all = cmd.fleet.installations.flatMap((i) => i.chargers.map((id) => ({ id, installationId: i.id })));
  let bootAccepted = 0;
  for (let i = 0; i < all.length; i += cmd.batch) {
    await Promise.all(
      all.slice(i, i + cmd.batch).map(async ({ id, installationId }) => {
        const c = await connectOne(cmd.fleet.url, cmd.fleet.password, id, installationId);
        if (!c) return;
        chargers.set(id, c);
        const boot = await c.call('BootNotification', { chargePointVendor: 'Bench', chargePointModel: 'BalancerLatency-1', firmwareVersion: '1.0.0' });
        if (boot.ok && (boot.payload as { status?: string }).status === 'Accepted') bootAccepted++;
        await c.call('StatusNotification', statusPayload('Available'));
      }),
    );
  }
  return { connected: chargers.size, failed: all.length - chargers.size, failures, bootAccepted, ms: Math.round(performance.now() - t0) };
}

async function quiet(cmd: Extract<LoadCommand, { op: 'quiet' }>): Promise<QuietAnswer> {
  const t0 = performance.now();
  let timedOut = false;
  for (;;) {
    const now = performance.now();
    if (now - lastProfileAt >= cmd.quietMs) break;
    if (now - t0 > cmd.timeoutMs) {
      timedOut = true;
      break;
    }
    await sleep(Math.min(50, cmd.quietMs / 4));
  }
  const lastLimit = { zero: 0, positive: 0, none: 0 };
  for (const c of chargers.values()) {
    if (c.lastLimit === undefined) lastLimit.none++;
    else if (c.lastLimit > 0) lastLimit.positive++;
    else lastLimit.zero++;
  }
  const profiles = { zero: since.zero, positive: since.positive };
  since.zero = 0;
  since.positive = 0;
  since.unmatched = 0;
  return { timedOut, waitedMs: Math.round(performance.now() - t0), profiles, lastLimit, otherCalls: { ...otherCalls } };
}

/** Sends one StatusNotification every `spacingMs` (charger order as given) and times each one's profile. */
async function events(cmd: Extract<LoadCommand, { op: 'events' }>): Promise<EventsAnswer> {
  since.unmatched = 0;
  let callErrors = 0;
  const pending: Promise<number | null>[] = [];
  const sentAt: number[] = [];
  const start = performance.now();
  let lastSend = start;
  for (let i = 0; i < cmd.ids.length; i++) {
    const wait = start + i * cmd.spacingMs - performance.now();
    if (wait >= 1) await sleep(wait);
    const c = chargers.get(cmd.ids[i]!);
    if (!c?.open) {
      pending.push(Promise.resolve(null));
      sentAt.push(0);
      continue;
    }
    const arrival = c.nextProfile(cmd.match, cmd.timeoutMs);
    const t0 = performance.now();
    lastSend = t0;
    sentAt.push(performance.timeOrigin + t0);
    void c.call('StatusNotification', statusPayload(cmd.status)).then((r) => {
      if (!r.ok) callErrors++;
    });
    pending.push(arrival.then((at) => (at === undefined ? null : Number((at - t0).toFixed(3)))));
  }
  const latencies = await Promise.all(pending);
  return { latencies, unmatched: since.unmatched, callErrors, sendSpanMs: Math.round(lastSend - start), sentAt };
}

/** PATCHes an installation's fuse over the HTTP API and times the matching profile at each of `ids`. */
async function fuse(cmd: Extract<LoadCommand, { op: 'fuse' }>): Promise<FuseAnswer> {
  const own = cmd.ids.map((id) => chargers.get(id)).filter((c): c is SimCharger => !!c?.open);
  const arrivals = own.map((c) => c.nextProfile(cmd.match, cmd.timeoutMs));
  const t0 = performance.now();
  let httpStatus = 0;
  try {
    const res = await fetch(`${cmd.apiUrl}/api/v1/installations/${encodeURIComponent(cmd.installationId)}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${cmd.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fuse: cmd.fuse }),
      signal: AbortSignal.timeout(cmd.timeoutMs),
    });
    httpStatus = res.status;
    await res.arrayBuffer();
  } catch {
    httpStatus = -1;
  }
  const httpMs = performance.now() - t0;
  const got = (await Promise.all(arrivals)).filter((a): a is number => a !== undefined).map((a) => a - t0);
  const round = (v: number | undefined): number | null => (v === undefined ? null : Number(v.toFixed(3)));
  return {
    httpStatus,
    httpMs: Number(httpMs.toFixed(3)),
    firstMs: round(got.length ? Math.min(...got) : undefined),
    lastMs: round(got.length === own.length && got.length > 0 ? Math.max(...got) : undefined),
    matched: got.length,
    chargers: own.length,
  };
}

async function handle(cmd: LoadCommand): Promise<object> {
  switch (cmd.op) {
    case 'connect':
      return connect(cmd);
    case 'quiet':
      return quiet(cmd);
    case 'events':
      return events(cmd);
    case 'fuse':
      return fuse(cmd);
    case 'stop':
      for (const c of chargers.values()) c.close();
      setTimeout(() => process.exit(0), 100);
      return { stopped: true };
  }
}

// Commands run one at a time, in order.
let queue: Promise<void> = Promise.resolve();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    queue = queue.then(async () => {
      let seq: unknown;
      try {
        const cmd = JSON.parse(line) as LoadCommand & { seq: number };
        seq = cmd.seq;
        emit({ seq, ...(await handle(cmd)) });
      } catch (err) {
        emit({ seq, error: err instanceof Error ? err.message : String(err) });
      }
    });
  })
  .on('close', () => process.exit(1));
