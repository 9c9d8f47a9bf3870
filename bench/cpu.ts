import { readdirSync, readFileSync } from 'node:fs';

/**
 * Who used the CPU during a measurement, from /proc: the server under test, the load generator,
 * the rest of the bench (nats-server, other children) and processes outside the bench (other work
 * on the machine, which makes a run noisy). Percentages are of one core (200% = both cores busy).
 */

const TICKS_PER_S = 100; // USER_HZ on Linux

interface Sample {
  at: number;
  machineBusy: number;
  perPid: Map<number, { ppid: number; ticks: number }>;
}

export interface CpuUse {
  seconds: number;
  machinePct: number;
  serverPct: number;
  loadPct: number;
  /** Other bench processes: nats-server, the bench itself, idle children. */
  benchOtherPct: number;
  /** Processes that are not part of the bench. */
  foreignPct: number;
}

function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).map(Number);
  return user + nice + system + irq + softirq + steal;
}

/** A process's parent and CPU ticks in user and kernel mode (every thread), from /proc/<pid>/stat; undefined once it is gone. */
function processStat(pid: number | string): { ppid: number; user: number; system: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may contain spaces and parentheses).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), user: Number(f[11]), system: Number(f[12]) };
}

function processTicks(): Map<number, { ppid: number; ticks: number }> {
  const out = new Map<number, { ppid: number; ticks: number }>();
  for (const name of readdirSync('/proc')) {
    const stat = /^\d+$/.test(name) ? processStat(name) : undefined;
    if (stat) out.set(Number(name), { ppid: stat.ppid, ticks: stat.user + stat.system });
  }
  return out;
}

export function sampleCpu(): Sample {
  return { at: Date.now(), machineBusy: machineBusyTicks(), perPid: processTicks() };
}

function descendants(root: number, perPid: Map<number, { ppid: number }>): Set<number> {
  const set = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of perPid) {
      if (!set.has(pid) && set.has(p.ppid)) {
        set.add(pid);
        grew = true;
      }
    }
  }
  return set;
}

/** CPU use between two samples; `server` and `load` are pids (and their descendants). */
export function cpuBetween(a: Sample, b: Sample, server: number, load: number): CpuUse {
  const seconds = (b.at - a.at) / 1000;
  const used = (pids: Set<number>): number => {
    let ticks = 0;
    for (const pid of pids) {
      const end = b.perPid.get(pid);
      if (end) ticks += end.ticks - (a.perPid.get(pid)?.ticks ?? 0);
    }
    return ticks;
  };
  const bench = descendants(process.pid, b.perPid);
  const serverPids = descendants(server, b.perPid);
  const loadPids = descendants(load, b.perPid);
  const pct = (ticks: number): number => Math.round((ticks / TICKS_PER_S / Math.max(0.001, seconds)) * 100);
  const machine = b.machineBusy - a.machineBusy;
  const benchTicks = used(bench);
  const serverTicks = used(serverPids);
  const loadTicks = used(loadPids);
  return {
    seconds: Number(seconds.toFixed(2)),
    machinePct: pct(machine),
    serverPct: pct(serverTicks),
    loadPct: pct(loadTicks),
    benchOtherPct: pct(benchTicks - serverTicks - loadTicks),
    foreignPct: Math.max(0, pct(machine - benchTicks)),
  };
}

/**
 * How many times a process's main thread went to sleep and was woken (voluntary context switches):
 * for an event loop, once per wait for I/O. Per round trip, it tells how many answers each wakeup
 * found ready (a wakeup costs both sides: the writer's syscall wakes the sleeping reader).
 */
export function mainThreadWakeups(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(status)?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

/** A process's CPU time so far in user and in kernel mode (ms; every thread). */
export function userAndSystemMs(pid: number): { user: number; system: number } {
  const stat = processStat(pid);
  return stat ? { user: (stat.user * 1000) / TICKS_PER_S, system: (stat.system * 1000) / TICKS_PER_S } : { user: Number.NaN, system: Number.NaN };
}
