/**
 * `allocate()`: the balancer's pure core. Given a snapshot of an installation it returns the limit
 * (A per phase) each charger should have. No I/O, no clock, no randomness: time comes in as
 * `input.now`, and the result depends only on the input's content (chargers are processed in id
 * order, whatever order they arrive in).
 *
 * Steps, each in its own function below:
 *  1. Offline chargers are counted first at their worst case on every wired phase.
 *  2. Online chargers that want energy become sessions: counted phases (wiring + measurement),
 *     minimum and maximum in 0.1 A units (cap and reclaim applied), relay-wear holds.
 *  3. Admission: minimums are reserved in admission order (priority, rotation tier, arrival, id);
 *     a session whose minimum does not fit is paused.
 *  4. Fair filling: max-min fair progressive filling over the three phases, one priority class
 *     after the other, on the 0.1 A lattice, event by event.
 *  5. Anti-flap: deadband and minimum-change-interval holds, each kept only while it is safe.
 *
 * Everything is computed in integer deci-amperes (0.1 A) rounded toward safety: phase capacity
 * down, minimums up, maximums down. So every sum stays within the phase limits without a final
 * correction pass.
 */
import type {
  AllocationHold,
  AllocationInput,
  AllocationReason,
  AllocationResult,
  AllocationSettings,
  ChargerAllocation,
  ChargerInput,
  Phase,
  PhaseCurrents,
} from './allocation-types.js';
import { countedMask, measuredMax, PHASE_NAMES, phasesOf, terminalPhases, wiringMask } from './phases.js';

/** Float slack when converting amperes to 0.1 A units (in units: 1e-10 A), and for sums. */
const EPS = 1e-9;
const deciDown = (a: number): number => Math.floor(a * 10 + EPS);
const deciUp = (a: number): number => Math.ceil(a * 10 - EPS);

/** Admission tiers within one priority class, in order. See `admissionTier` for the rotation rule. */
const enum Tier {
  /** Running, and has run less than minRunMs (or we cannot tell it may be rotated out). */
  Protected = 0,
  /** Paused for at least rotationIntervalMs: its turn. */
  Due = 1,
  /** Running for at least minRunMs: may be rotated out, longest-running first. */
  Displaceable = 2,
  /** Everyone else: new arrivals and sessions paused less than rotationIntervalMs. */
  Waiting = 3,
}

interface Session {
  readonly charger: ChargerInput;
  /** Position in id order: the deterministic tie-breaker. */
  readonly index: number;
  readonly mask: number;
  /** Minimum and maximum in 0.1 A, rounded toward safety (min up, max down). */
  readonly minQ: number;
  readonly maxQ: number;
  /** maxQ, lowered to the limit in force while increases are held by minChangeIntervalMs. */
  readonly fillMax: number;
  readonly capBound: boolean;
  readonly reclaimBound: boolean;
  /** Limit in force, 0 when none is known. */
  readonly cur: number;
  readonly tier: Tier;
  /** Tie-breaker inside the tier (pausedSince for Due, -runningSince for Displaceable). */
  readonly tierKey: number;
  /** Set when relay wear or anti-flap keeps a paused session from starting this round. */
  readonly startHold: AllocationHold | undefined;
  /** Allocation in 0.1 A; 0 until admitted. */
  a: number;
  admitted: boolean;
  growing: boolean;
}

interface Outcome {
  limit: number;
  reason: AllocationReason;
  held?: AllocationHold;
}

export function allocate(input: AllocationInput): AllocationResult {
  const { now, settings } = input;
  const chargers = sortedById(input.chargers);
  const limits = [safeLimit(input.phaseLimits.L1), safeLimit(input.phaseLimits.L2), safeLimit(input.phaseLimits.L3)];

  const outcomes = new Map<string, Outcome>();
  const phaseMasks = new Map<string, number>();

  // 1. Offline chargers: worst case on every wired phase, off the top.
  const offline = [0, 0, 0];
  for (const c of chargers) {
    if (c.online) continue;
    const worst = offlineWorstCase(c);
    const mask = wiringMask(terminalPhases(c));
    addToPhases(offline, mask, worst);
    outcomes.set(c.id, { limit: worst, reason: 'offline' });
    phaseMasks.set(c.id, mask);
  }
  const avail = limits.map((l, p) => l - (offline[p] ?? 0));
  const overloaded = PHASE_NAMES.filter((_n, p) => (avail[p] ?? 0) < -EPS);

  // 2. Online chargers: idle ones get 0; the rest become sessions.
  const sessions: Session[] = [];
  for (const c of chargers) {
    if (!c.online) continue;
    if (!c.wantsEnergy) {
      outcomes.set(c.id, { limit: 0, reason: 'idle' });
      phaseMasks.set(c.id, 0);
      continue;
    }
    const s = toSession(c, sessions.length, now, settings);
    phaseMasks.set(c.id, s.mask);
    if (s.maxQ < s.minQ) {
      outcomes.set(c.id, { limit: 0, reason: deciDown(c.maxCurrent) < s.minQ ? 'misconfigured' : 'capped' });
      continue;
    }
    sessions.push(s);
  }

  if (overloaded.length === 0) {
    // 3-5. Admission, fair filling, anti-flap.
    const capacity = avail.map((a) => deciDown(a));
    admit(sessions, capacity);
    fill(sessions, capacity);
    const { limitsA, holds } = applyHolds(sessions, avail, settings.deadbandA);
    sessions.forEach((s, i) => outcomes.set(s.charger.id, outcomeOf(s, limitsA[i] ?? 0, holds[i])));
  } else {
    // Rule 8: the offline chargers alone overload a phase; shed every online charger.
    for (const s of sessions) outcomes.set(s.charger.id, { limit: 0, reason: 'paused' });
  }

  return buildResult(chargers, outcomes, phaseMasks, overloaded);
}

function sortedById(chargers: readonly ChargerInput[]): ChargerInput[] {
  const sorted = [...chargers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.id === sorted[i - 1]?.id) {
      // The result is keyed by id; two chargers with one id would make it ambiguous.
      throw new RangeError(`allocate: duplicate charger id ${String(sorted[i]?.id)}`);
    }
  }
  return sorted;
}

/** A phase limit that is not a number counts as 0 A available: never guess capacity. */
function safeLimit(a: number): number {
  return Number.isFinite(a) ? a : 0;
}

/**
 * The most an offline charger may draw: its last accepted limit, or its maximum when none is
 * known. A last accepted 0 is not trusted either (a charger that rebooted out of sight may have
 * lost its profile), so it also counts at its maximum: never zero.
 */
function offlineWorstCase(c: ChargerInput): number {
  const cl = c.currentLimit;
  if (cl !== undefined && cl > 0) return cl;
  return c.maxCurrent > 0 ? c.maxCurrent : 0;
}

function addToPhases(sums: number[], mask: number, amount: number): void {
  for (let p = 0; p < 3; p++) if ((mask & (1 << p)) !== 0) sums[p] = (sums[p] ?? 0) + amount;
}

function toSession(c: ChargerInput, index: number, now: number, settings: AllocationSettings): Session {
  const terminals = terminalPhases(c);
  const mask = countedMask(c, terminals);
  const minQ = Math.max(0, deciUp(c.minCurrent));
  const hwQ = deciDown(c.maxCurrent);
  const capQ = c.cap === undefined ? Infinity : deciDown(c.cap);
  const baseQ = Math.min(hwQ, capQ);
  const reclaimA = reclaimMax(c, terminals, now, settings);
  // Reclaim never pushes below the minimum (a non-grid minimum could otherwise round under it).
  const reclaimQ = reclaimA === undefined ? Infinity : Math.max(minQ, deciDown(reclaimA));
  const maxQ = Math.min(baseQ, reclaimQ);
  const cur = c.currentLimit !== undefined && c.currentLimit > 0 ? c.currentLimit : 0;
  const running = cur > 0;

  let fillMax = maxQ;
  let startHold: AllocationHold | undefined;
  const changedRecently =
    c.lastChangeAt !== undefined && settings.minChangeIntervalMs > 0 && now - c.lastChangeAt < settings.minChangeIntervalMs;
  if (running) {
    // Increases are held at the limit in force, when that limit is still a valid offer.
    if (changedRecently && cur * 10 >= minQ - EPS) fillMax = Math.min(maxQ, Math.max(minQ, deciDown(cur)));
  } else if (c.pausedSince !== undefined && now - c.pausedSince < settings.minPauseMs) {
    startHold = 'minPause';
  } else if (changedRecently) {
    startHold = 'minChangeInterval';
  }

  const { tier, tierKey } = admissionTier(c, running, now, settings);
  return {
    charger: c,
    index,
    mask,
    minQ,
    maxQ,
    fillMax,
    capBound: capQ < hwQ && maxQ === capQ,
    reclaimBound: reclaimQ < baseQ,
    cur,
    tier,
    tierKey,
    startHold,
    a: 0,
    admitted: false,
    growing: false,
  };
}

/**
 * Reclaim (rule 6): the caller reports since when the car under-draws (`underDrawSince`); after
 * `reclaimAfterMs` of that, and if the current sample still shows every drawn phase below
 * `currentLimit - reclaimThresholdA`, the offer shrinks to max(min, ceil(draw + headroom)).
 */
function reclaimMax(
  c: ChargerInput,
  terminals: readonly number[] | undefined,
  now: number,
  s: AllocationSettings,
): number | undefined {
  if (c.underDrawSince === undefined || !(now - c.underDrawSince >= s.reclaimAfterMs)) return undefined;
  const cur = c.currentLimit;
  if (cur === undefined || !(cur > 0)) return undefined;
  const draw = measuredMax(c, terminals);
  if (draw === undefined || !(draw < cur - s.reclaimThresholdA)) return undefined;
  return Math.max(c.minCurrent, Math.ceil(Math.max(0, draw) + s.reclaimHeadroomA));
}

/**
 * Rotation rule. Within a priority class, minimums are reserved in this order:
 *  1. Protected: running (limit in force > 0) for less than minRunMs.
 *  2. Due: paused (pausedSince) for at least rotationIntervalMs, longest-paused first.
 *  3. Displaceable: running for at least minRunMs (or runningSince unknown), most recently
 *     started first, so the longest-running session is the first whose minimum no longer fits.
 *  4. Waiting: new arrivals and sessions paused for less than rotationIntervalMs.
 * then by arrival and id. Running sessions thus keep their place against waiting ones, and a due
 * session takes the place of the longest-running displaceable session(s) it shares a full phase
 * with. Sessions paused less than minPauseMs are not admitted at all (see `startHold`).
 */
function admissionTier(
  c: ChargerInput,
  running: boolean,
  now: number,
  s: AllocationSettings,
): { tier: Tier; tierKey: number } {
  if (running) {
    const since = c.runningSince;
    if (since !== undefined && !(now - since >= s.minRunMs)) return { tier: Tier.Protected, tierKey: 0 };
    return { tier: Tier.Displaceable, tierKey: since === undefined ? Infinity : -since };
  }
  if (c.pausedSince !== undefined && now - c.pausedSince >= s.rotationIntervalMs) {
    return { tier: Tier.Due, tierKey: c.pausedSince };
  }
  return { tier: Tier.Waiting, tierKey: 0 };
}

function cmp(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function hasRoom(mask: number, room: readonly number[], need: number): boolean {
  for (let p = 0; p < 3; p++) if ((mask & (1 << p)) !== 0 && (room[p] ?? 0) < need) return false;
  return true;
}

function take(mask: number, room: number[], amount: number): void {
  for (let p = 0; p < 3; p++) if ((mask & (1 << p)) !== 0) room[p] = (room[p] ?? 0) - amount;
}

/** 3. Reserve minimums greedily in admission order; a session that does not fit is paused. */
function admit(sessions: readonly Session[], room: number[]): void {
  const order = sessions
    .filter((s) => s.startHold === undefined)
    .sort(
      (x, y) =>
        cmp(y.charger.priority, x.charger.priority) ||
        x.tier - y.tier ||
        cmp(x.tierKey, y.tierKey) ||
        cmp(x.charger.arrivedAt, y.charger.arrivedAt) ||
        x.index - y.index,
    );
  for (const s of order) {
    if (!hasRoom(s.mask, room, s.minQ)) continue;
    take(s.mask, room, s.minQ);
    s.admitted = true;
    s.a = s.minQ;
  }
}

/** 4. Fill the admitted sessions, highest priority class first, each class max-min fair. */
function fill(sessions: readonly Session[], room: number[]): void {
  const admitted = sessions
    .filter((s) => s.admitted)
    .sort((x, y) => cmp(y.charger.priority, x.charger.priority) || x.index - y.index);
  let start = 0;
  while (start < admitted.length) {
    const priority = admitted[start]?.charger.priority;
    let end = start + 1;
    while (end < admitted.length && admitted[end]?.charger.priority === priority) end++;
    fillClass(admitted.slice(start, end), room);
    start = end;
  }
}

/**
 * Progressive filling on the 0.1 A lattice, event by event. It computes the same allocation as
 * the unit-step greedy "repeatedly give +0.1 A to the smallest unfrozen session (ties by id); a
 * session that cannot take it (a phase it loads is full) is frozen", but jumps whole levels at once:
 * between events (a floor reached, a maximum reached, a phase unable to give every growing session
 * one more unit) the load on each phase grows linearly. Only the level at which a phase runs out
 * is walked session by session, in id order; that happens at most twice per phase and class.
 * `room` is the capacity left per phase (0.1 A units) with every admitted minimum already taken.
 */
function fillClass(group: readonly Session[], room: number[]): void {
  const n = group.length;
  const byFloor = [...group].sort((x, y) => x.minQ - y.minQ || x.index - y.index);
  const byMax = [...group].sort((x, y) => x.fillMax - y.fillMax || x.index - y.index);
  const count = [0, 0, 0]; // growing sessions per phase
  let growing = 0;
  let jf = 0;
  let jm = 0;
  let level = byFloor[0]?.minQ ?? 0;

  const stop = (s: Session, at: number): void => {
    s.growing = false;
    s.a = at;
    growing--;
    take(s.mask, count, 1);
  };

  for (;;) {
    for (let s = byFloor[jf]; s !== undefined && s.minQ <= level; s = byFloor[++jf]) {
      // A session joins at its floor (already reserved); on a full phase it is frozen there.
      if (s.fillMax > s.minQ && hasRoom(s.mask, room, 1)) {
        s.growing = true;
        growing++;
        take(s.mask, count, -1);
      }
    }
    for (let s = byMax[jm]; s !== undefined && s.fillMax <= level; s = byMax[++jm]) {
      if (s.growing) stop(s, level);
    }
    if (growing === 0) {
      const next = byFloor[jf];
      if (next === undefined) return;
      level = next.minQ;
      continue;
    }
    let step = Math.min((byFloor[jf]?.minQ ?? Infinity) - level, (byMax[jm]?.fillMax ?? Infinity) - level);
    for (let p = 0; p < 3; p++) {
      const k = count[p] ?? 0;
      if (k > 0) step = Math.min(step, Math.floor((room[p] ?? 0) / k));
    }
    if (step >= 1) {
      level += step;
      for (let p = 0; p < 3; p++) room[p] = (room[p] ?? 0) - (count[p] ?? 0) * step;
      continue;
    }
    // Some phase cannot give every growing session one more unit: walk this level in id order.
    for (let i = 0; i < n; i++) {
      const s = group[i];
      if (s === undefined || !s.growing) continue;
      if (hasRoom(s.mask, room, 1)) take(s.mask, room, 1);
      else stop(s, level);
    }
    level += 1;
  }
}

/**
 * 5. Anti-flap. A change smaller than the deadband keeps the limit in force (not to/from 0); a
 * running session whose increases are held was already filled up to its limit in force. Holds
 * that keep a lower limit are always safe and applied first; holds that keep a higher limit are
 * then accepted in id order only while every phase they load stays within its limit.
 */
function applyHolds(
  sessions: readonly Session[],
  avail: readonly number[],
  deadbandA: number,
): { limitsA: number[]; holds: (AllocationHold | undefined)[] } {
  const limitsA = sessions.map((s) => s.a / 10);
  const holds: (AllocationHold | undefined)[] = sessions.map((s) => s.startHold);
  const used = [0, 0, 0];
  sessions.forEach((s, i) => addToPhases(used, s.mask, limitsA[i] ?? 0));
  const keepsHigher: { i: number; hold: AllocationHold }[] = [];

  sessions.forEach((s, i) => {
    // Only a limit that is itself a valid offer this round may be kept.
    if (s.a === 0 || s.cur === 0 || s.cur * 10 < s.minQ - EPS || s.cur * 10 > s.maxQ + EPS) return;
    const diff = s.a / 10 - s.cur;
    const intervalHeld = s.fillMax < s.maxQ && s.a === s.fillMax;
    if (diff > 0 && diff < deadbandA) {
      holds[i] = 'deadband';
      limitsA[i] = s.cur;
      addToPhases(used, s.mask, -diff);
    } else if (diff === 0 && intervalHeld) {
      holds[i] = 'minChangeInterval';
    } else if (diff < 0 && (intervalHeld || -diff < deadbandA)) {
      // intervalHeld: the fill stopped at the limit in force rounded down to 0.1 A; keep it exactly.
      keepsHigher.push({ i, hold: intervalHeld ? 'minChangeInterval' : 'deadband' });
    }
  });

  for (const { i, hold } of keepsHigher) {
    const s = sessions[i];
    if (s === undefined) continue;
    const extra = s.cur - s.a / 10;
    let safe = true;
    for (let p = 0; p < 3; p++) {
      if ((s.mask & (1 << p)) !== 0 && (used[p] ?? 0) + extra > (avail[p] ?? 0) + EPS / 10) safe = false;
    }
    if (!safe) continue;
    holds[i] = hold;
    limitsA[i] = s.cur;
    addToPhases(used, s.mask, extra);
  }
  return { limitsA, holds };
}

function outcomeOf(s: Session, limit: number, held: AllocationHold | undefined): Outcome {
  let reason: AllocationReason;
  if (limit === 0) reason = 'paused';
  else if (s.reclaimBound) reason = 'reclaimed';
  else if (s.capBound && limit * 10 >= s.maxQ - EPS) reason = 'capped';
  else reason = 'charging';
  return held === undefined ? { limit, reason } : { limit, reason, held };
}

function buildResult(
  chargers: readonly ChargerInput[],
  outcomes: ReadonlyMap<string, Outcome>,
  phaseMasks: ReadonlyMap<string, number>,
  overloaded: readonly Phase[],
): AllocationResult {
  const load = [0, 0, 0];
  const allocations: ChargerAllocation[] = chargers.map((c) => {
    const o = outcomes.get(c.id) ?? { limit: 0, reason: 'paused' };
    const mask = phaseMasks.get(c.id) ?? 0;
    addToPhases(load, mask, o.limit);
    const base = { id: c.id, limit: o.limit, phases: phasesOf(mask), reason: o.reason };
    return o.held === undefined ? base : { ...base, held: o.held };
  });
  const phaseLoad: PhaseCurrents = { L1: load[0] ?? 0, L2: load[1] ?? 0, L3: load[2] ?? 0 };
  return { allocations, phaseLoad, overloadedPhases: overloaded };
}
