import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { buckets, subjects } from '../core/subjects.js';
import { machineBusySeconds } from './balancer-procs.js';

/**
 * `--trace-stalls` of the cluster bench: where the slowest events of a timed round spent their time.
 * Three sources on one wall clock (ms):
 * - the stages each event passed on the bus, seen by the bench's own NATS connection: the charger's
 *   event published by the node holding its socket, the balancer's allocation write (a raise is
 *   persisted before it is sent), the balancer's command to that node;
 * - every Node process's pauses (`bench/stall-hook.mjs`: late event loop with the CPU it used meanwhile, GC);
 * - the machine's busy cores, sampled every 50 ms.
 */

const HOOK = pathToFileURL(resolve(import.meta.dirname, 'stall-hook.mjs')).href;
const MACHINE_SAMPLE_MS = 50;

export interface TimedEvent {
  id: string;
  direction: 'raise' | 'to 0';
  /** Wall clock (ms) of the StatusNotification's send, in the load generator. */
  sentAt: number;
  latencyMs: number | null;
}

interface Stall {
  who: string;
  pid: number;
  k: 'loop' | 'gc';
  t: number;
  ms: number;
  cpuMs?: number;
  kind?: number;
}

/** Sets the environment every Node child started from now on inherits; returns the directory their pauses go to (one per bench run). */
export function enableStallHook(): string {
  if (process.env.STALL_TRACE_DIR) return process.env.STALL_TRACE_DIR;
  const dir = mkdtempSync(join(tmpdir(), 'bench-stalls-'));
  process.env.STALL_TRACE_DIR = dir;
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${HOOK}`.trim();
  return dir;
}

const wallNow = (): number => performance.timeOrigin + performance.now();

/** Watches the bus stages of `ids` and the machine's CPU until `stop()`. */
export function watchStages(nc: NatsConnection, ids: readonly string[]): { stop: () => Map<string, Record<string, number[]>>; machine: () => { t: number; busy: number }[] } {
  const wanted = new Set(ids);
  const seen = new Map<string, Record<string, number[]>>();
  const note = (id: string | undefined, stage: string): void => {
    if (!id || !wanted.has(id)) return;
    const at = wallNow();
    const rec = seen.get(id) ?? {};
    (rec[stage] ??= []).push(at);
    seen.set(id, rec);
  };
  const subs: Subscription[] = [
    // evt.inst.<installation>.charger.<charger>.<kind>
    nc.subscribe(subjects.allChargerEvents, { callback: (_e, m) => note(m.subject.split('.')[4], `event ${m.subject.split('.').slice(5).join('.')}`) }),
    nc.subscribe(subjects.chargerCommand('*'), { callback: (_e, m) => note(m.subject.split('.')[2], 'command') }),
    nc.subscribe(`$KV.${buckets.allocations}.*`, { callback: (_e, m) => note(m.subject.split('.')[2], 'allocation written') }),
  ];
  const machine: { t: number; busy: number }[] = [];
  let prev = { t: wallNow(), busy: machineBusySeconds() };
  const timer = setInterval(() => {
    const now = { t: wallNow(), busy: machineBusySeconds() };
    machine.push({ t: prev.t, busy: (now.busy - prev.busy) / ((now.t - prev.t) / 1000) });
    prev = now;
  }, MACHINE_SAMPLE_MS);
  return {
    stop: () => {
      for (const s of subs) s.unsubscribe();
      clearInterval(timer);
      return seen;
    },
    machine: () => machine,
  };
}

function readStalls(dir: string): Stall[] {
  return readdirSync(dir).flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Stall),
  );
}

const r = (v: number): string => v.toFixed(0);

/** Lines describing the `worst` slowest events: stage times, overlapping pauses of any process, machine load. */
export function describeSlowest(events: readonly TimedEvent[], stages: Map<string, Record<string, number[]>>, machine: { t: number; busy: number }[], dir: string, worst = 8): string[] {
  const stalls = readStalls(dir);
  const slow = events.filter((e) => e.latencyMs !== null).sort((a, b) => b.latencyMs! - a.latencyMs!).slice(0, worst);
  const lines: string[] = [];
  const from = Math.min(...events.map((e) => e.sentAt));
  const to = Math.max(...events.map((e) => e.sentAt + (e.latencyMs ?? 0)));
  const inRound = stalls.filter((s) => s.t >= from && s.t <= to);
  const byWho = new Map<string, { n: number; worst: number; gcMs: number }>();
  for (const s of inRound) {
    const w = byWho.get(`${s.who} ${s.k}`) ?? { n: 0, worst: 0, gcMs: 0 };
    w.n++;
    w.worst = Math.max(w.worst, s.ms);
    w.gcMs += s.k === 'gc' ? s.ms : 0;
    byWho.set(`${s.who} ${s.k}`, w);
  }
  lines.push(`pauses in the round (${r((to - from) / 1000)} s): ${[...byWho].map(([k, w]) => `${k} ${w.n}x worst ${r(w.worst)} ms`).join('; ') || 'none'}`);
  for (const e of slow) {
    const end = e.sentAt + e.latencyMs!;
    const rec = stages.get(e.id) ?? {};
    // The stage seen last before the profile arrived, for each kind of stage.
    const stageText = Object.entries(rec)
      .map(([stage, ts]) => [stage, ts.filter((t) => t >= e.sentAt - 5 && t <= end + 5)] as const)
      .filter(([, ts]) => ts.length > 0)
      .map(([stage, ts]) => `${stage} +${ts.map((t) => r(t - e.sentAt)).join('/')}`)
      .join(', ');
    const overlapping = stalls
      .filter((s) => s.t <= end && s.t + s.ms >= e.sentAt)
      .map((s) => `${s.who}:${s.k}${s.kind ? `(${s.kind})` : ''} ${r(s.ms)} ms at +${r(s.t - e.sentAt)}${s.cpuMs !== undefined ? ` cpu ${r(s.cpuMs)}` : ''}`);
    const busy = machine.filter((m) => m.t >= e.sentAt - MACHINE_SAMPLE_MS && m.t <= end).map((m) => m.busy.toFixed(1));
    lines.push(`${e.direction} ${e.id} ${r(e.latencyMs!)} ms: ${stageText || 'no bus stage seen'}; profile +${r(e.latencyMs!)}`);
    lines.push(`   pauses: ${overlapping.join('; ') || 'none'}; machine busy cores ${busy.join(' ')}`);
  }
  return lines;
}
