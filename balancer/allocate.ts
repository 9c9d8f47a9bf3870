/**
 * `allocate()`: the balancer's pure core. Given a snapshot of an installation it returns the limit
 * (A per phase) each charger should have. No I/O, no clock, no randomness: time comes in as
 * `input.now`, and the result depends only on the input's content (chargers are processed in id
 * order, whatever order they arrive in).
 *
 * Steps, each in its own function below:
 *  1. Offline chargers are counted first at what they will do (`offline-current.ts`) on every wired phase.
 *  2. Online chargers that want energy become sessions: counted phases (wiring + measurement),
 *     minimum and maximum in 0.1 A units (cap and reclaim applied), relay-wear holds.
 *  3. Admission: minimums are reserved in admission order (priority, rotation tier, arrival, id);
 *     a session whose minimum does not fit is paused; one not running must also fit under the
 *     recent lows of the limit (`admissionLimits`).
 *  4. Fair filling: max-min fair progressive filling over the three phases, one priority class
 *     after the other, on the 0.1 A lattice, event by event, within the recent lows; what the limit
 *     offers above them goes to one session at a time (4b).
 *  5. Anti-flap: deadband, minimum-change-interval and change-budget holds, each kept only while
 *     it is safe.
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
import type { Wiring } from './phases.js';
import { offlineWorstCase } from './offline-current.js';
import { countedMask, measuredMax, phasesOf, wiringOf, PHASES } from './phases.js';

/** Float slack when converting amperes to 0.1 A units (in units: 1e-10 A), and for sums. */
const EPS = 1e-9;
const deciDown = (a: number): number => Math.floor(a * 10 + EPS);
const deciUp = (a: number): number => Math.ceil(a * 10 - EPS);

/** Admission tiers within one priority class, in order. See `admissionTier` for the rotation rule. */
const enum Tier {
  /** Running, and has run less than minRunMs (or we cannot tell it may be rotated out). */
  Protected = 0,
  /** Not running, waiting (paused or never admitted) for at least rotationIntervalMs: its turn. */
  Due = 1,
  /** Running for at least minRunMs: may be rotated out, longest-running first. */
  Displaceable = 2,
  /** Not running, waiting for less than rotationIntervalMs. */
  Waiting = 3,
}

interface Session {
  readonly charger: ChargerInput;
  /** Position in id order: the deterministic tie-breaker. */
  readonly pos: number;
  /** Its charger's outcome, written by the anti-flap step. */
  readonly out: Outcome;
  readonly priority: number;
  readonly arrivedAt: number;
  readonly mask: number;
  /** Minimum and maximum in 0.1 A, rounded toward safety (min up, max down). */
  readonly minQ: number;
  readonly maxQ: number;
  /** maxQ, lowered to the limit in force while increases are held (`raiseHold`). */
  readonly fillMax: number;
  /** Why increases are held this round: the minimum change interval or the change budget. */
  readonly raiseHold: AllocationHold | undefined;
  /** When its limit last changed (-Infinity if never): the steadiest session takes a swing's surplus. */
  readonly steadySince: number;
  readonly capBound: boolean;
  readonly reclaimBound: boolean;
  /** Limit in force, 0 when none is known. */
  readonly cur: number;
  readonly tier: Tier;
  /** Tie-breaker inside the tier (waiting since for Due, -runningSince for Displaceable). */
  readonly tierKey: number;
  /** Set when relay wear or anti-flap keeps a paused session from starting this round. */
  readonly startHold: AllocationHold | undefined;
  /** Allocation in 0.1 A; 0 until admitted. */
  a: number;
  admitted: boolean;
  growing: boolean;
}

/** What one charger gets, filled in by the steps below; `buildResult` turns it into its allocation. */
interface Outcome {
  limit: number;
  reason: AllocationReason;
  held: AllocationHold | undefined;
  mask: number;
}

export function allocate(input: AllocationInput): AllocationResult {
  const { now, settings } = input;
  const chargers = sortedById(input.chargers);
  const n = chargers.length;
  const out: Outcome[] = chargers.map(() => ({ limit: 0, reason: 'idle', held: undefined, mask: 0 }));

  // 1. Offline chargers: worst case on every wired phase, off the top.
  const offline = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const c = chargers[i] as ChargerInput;
    if (c.online) continue;
    const worst = offlineWorstCase(c.currentLimit, c.maxCurrent, c.offlineCurrent).value;
    const mask = wiringOf(c).mask;
    addToPhases(offline, mask, worst);
    Object.assign(out[i] as Outcome, { limit: worst, reason: 'offline', mask });
  }
  const { L1, L2, L3 } = input.phaseLimits;
  const avail = [safeLimit(L1) - (offline[0] ?? 0), safeLimit(L2) - (offline[1] ?? 0), safeLimit(L3) - (offline[2] ?? 0)];
  const overloaded = PHASES.filter((_n, p) => (avail[p] ?? 0) < -EPS);

  // 2. Online chargers that want energy become sessions; the others are idle (already set).
  const sessions: Session[] = [];
  for (let i = 0; i < n; i++) {
    const c = chargers[i] as ChargerInput;
    if (!c.online || !c.wantsEnergy) continue;
    if (c.asleep === 'sleeping') {
      Object.assign(out[i] as Outcome, { reason: 'asleep', mask: countedMask(c, wiringOf(c)) });
      continue;
    }
    const s = toSession(c, i, now, settings, out[i] as Outcome);
    s.out.mask = s.mask;
    s.out.reason = 'paused';
    if (s.maxQ < s.minQ) s.out.reason = deciDown(c.maxCurrent) < s.minQ ? 'misconfigured' : 'capped';
    // Offline overload: when offline chargers alone overload a phase, every online charger is paused.
    else if (overloaded.length === 0) sessions.push(s);
  }

  // 3-5. Admission, fair filling, anti-flap.
  const capacity = [deciDown(avail[0] ?? 0), deciDown(avail[1] ?? 0), deciDown(avail[2] ?? 0)];
  const stable = input.admissionLimits ?? input.phaseLimits;
  const stableCapacity = PHASES.map((p, i) => Math.min(capacity[i] ?? 0, deciDown(safeLimit(stable[p]) - (offline[i] ?? 0))));
  const swinging = stableCapacity.some((c, p) => c < (capacity[p] ?? 0));
  admit(sessions, capacity, stableCapacity);
  // Fair shares come out of the stable capacity; what a swinging limit adds on top goes to one session.
  const fairRoom = capacity.map((r, p) => Math.max(0, Math.min(r, stableCapacity[p] ?? 0)));
  const unused = fairRoom.slice();
  fill(sessions, fairRoom);
  if (swinging) {
    for (let p = 0; p < 3; p++) capacity[p] = (capacity[p] ?? 0) - ((unused[p] ?? 0) - (fairRoom[p] ?? 0));
    fillSurplus(sessions, capacity);
  }
  applyHolds(sessions, avail, settings.deadbandA);
  for (const s of sessions) s.out.reason = reasonOf(s, s.out.limit);

  return buildResult(chargers, out, overloaded);
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

function addToPhases(sums: number[], mask: number, amount: number): void {
  for (let p = 0; p < 3; p++) if (onPhase(mask, p)) sums[p] = (sums[p] ?? 0) + amount;
}

function toSession(c: ChargerInput, pos: number, now: number, settings: AllocationSettings, out: Outcome): Session {
  const wiring = wiringOf(c);
  const mask = countedMask(c, wiring);
  const minQ = Math.max(0, deciUp(c.minCurrent));
  const hwQ = deciDown(c.maxCurrent);
  const capQ = c.cap === undefined ? Infinity : deciDown(c.cap);
  const baseQ = Math.min(hwQ, capQ);
  const reclaimA = reclaimMax(c, wiring, now, settings);
  // Reclaim never pushes below the minimum (a non-grid minimum could otherwise round under it).
  const reclaimQ = reclaimA === undefined ? Infinity : Math.max(minQ, deciDown(reclaimA));
  // A wake-up probe offers the minimum only: enough to see the car draw, without moving the others.
  const maxQ = c.asleep === 'probing' ? Math.min(baseQ, reclaimQ, minQ) : Math.min(baseQ, reclaimQ);
  const cur = c.currentLimit !== undefined && c.currentLimit > 0 ? c.currentLimit : 0;
  const running = cur > 0;

  let fillMax = maxQ;
  let startHold: AllocationHold | undefined;
  const raiseHold = raiseHoldOf(c, now, settings);
  if (running) {
    // Increases are held at the limit in force, when that limit is still a valid offer.
    if (raiseHold && cur * 10 >= minQ - EPS) fillMax = Math.min(maxQ, Math.max(minQ, deciDown(cur)));
  } else if (c.pausedSince !== undefined && now - c.pausedSince < settings.minPauseMs) {
    startHold = 'minPause';
  } else if (raiseHold) {
    startHold = raiseHold;
  }

  // A wake-up probe waits behind running sessions: probing a sleeping car never pauses another.
  const { tier, tierKey } = c.asleep === 'probing' && !running ? { tier: Tier.Waiting, tierKey: 0 } : admissionTier(c, running, now, settings);
  return {
    charger: c,
    pos,
    out,
    priority: Number.isFinite(c.priority) ? c.priority : 0,
    arrivedAt: Number.isFinite(c.arrivedAt) ? c.arrivedAt : Infinity,
    mask,
    minQ,
    maxQ,
    fillMax,
    raiseHold: fillMax < maxQ ? raiseHold : undefined,
    steadySince: c.lastChangeAt ?? -Infinity,
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

function raiseHoldOf(c: ChargerInput, now: number, s: AllocationSettings): AllocationHold | undefined {
  if (c.lastChangeAt !== undefined && s.minChangeIntervalMs > 0 && now - c.lastChangeAt < s.minChangeIntervalMs) return 'minChangeInterval';
  if (c.raiseHeldUntil !== undefined && now < c.raiseHeldUntil) return 'changeBudget';
  return undefined;
}

/**
 * Reclaim: the caller reports since when the car under-draws (`underDrawSince`); after
 * `reclaimAfterMs` of that, and if the current sample still shows every drawn phase below
 * `currentLimit - reclaimThresholdA`, the offer shrinks to max(min, draw + headroom), rounded up to 0.1 A.
 */
function reclaimMax(c: ChargerInput, wiring: Wiring, now: number, s: AllocationSettings): number | undefined {
  if (c.underDrawSince === undefined || !(now - c.underDrawSince >= s.reclaimAfterMs)) return undefined;
  const cur = c.currentLimit;
  if (cur === undefined || !(cur > 0)) return undefined;
  const draw = measuredMax(c, wiring);
  if (draw === undefined || !(draw < cur - s.reclaimThresholdA)) return undefined;
  return Math.max(c.minCurrent, deciUp(Math.max(0, draw) + s.reclaimHeadroomA) / 10);
}

/**
 * Rotation rule. Within a priority class, minimums are reserved in this order:
 *  1. Protected: running (limit in force > 0) for less than minRunMs.
 *  2. Due: waiting for at least rotationIntervalMs, longest-waiting first. Waiting since
 *     `pausedSince`, or since `arrivedAt` for a session that was never paused (never admitted).
 *  3. Displaceable: running for at least minRunMs (or runningSince unknown), most recently
 *     started first, so the longest-running session is the first whose minimum no longer fits.
 *  4. Waiting: sessions waiting for less than rotationIntervalMs.
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
  // A session never admitted has been waiting since it arrived.
  const waitingSince = c.pausedSince ?? c.arrivedAt;
  if (now - waitingSince >= s.rotationIntervalMs) return { tier: Tier.Due, tierKey: waitingSince };
  return { tier: Tier.Waiting, tierKey: 0 };
}

/** Whether phase index `p` (0 = L1) is in the phase set `mask`. */
const onPhase = (mask: number, p: number): boolean => (mask & (1 << p)) !== 0;

function hasRoom(mask: number, room: readonly number[], need: number): boolean {
  for (let p = 0; p < 3; p++) if (onPhase(mask, p) && (room[p] ?? 0) < need) return false;
  return true;
}

function take(mask: number, room: number[], amount: number): void {
  for (let p = 0; p < 3; p++) if (onPhase(mask, p)) room[p] = (room[p] ?? 0) - amount;
}

/**
 * 3. Reserve minimums greedily in admission order; a session that does not fit is paused. A session
 * that is not running must also fit under the stable capacity (the recent lows), so it is not
 * started only to be paused when a swinging limit comes down again.
 */
function admit(sessions: readonly Session[], room: number[], stableRoom: number[]): void {
  const order = sessions
    .filter((s) => s.startHold === undefined)
    .sort(
      (x, y) =>
        y.priority - x.priority ||
        x.tier - y.tier ||
        x.tierKey - y.tierKey ||
        x.arrivedAt - y.arrivedAt ||
        x.pos - y.pos,
    );
  for (const s of order) {
    if (!hasRoom(s.mask, room, s.minQ)) continue;
    if (s.cur === 0 && !hasRoom(s.mask, stableRoom, s.minQ)) continue;
    take(s.mask, room, s.minQ);
    take(s.mask, stableRoom, s.minQ);
    s.admitted = true;
    s.a = s.minQ;
  }
}

/** 4. Fill the admitted sessions, highest priority class first, each class max-min fair. */
function fill(sessions: readonly Session[], room: number[]): void {
  const admitted = sessions.filter((s) => s.admitted).sort((x, y) => y.priority - x.priority || x.pos - y.pos);
  let start = 0;
  while (start < admitted.length) {
    const priority = admitted[start]?.priority;
    let end = start + 1;
    while (end < admitted.length && admitted[end]?.priority === priority) end++;
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
  const byFloor = sortedBy(group, floorOrder);
  const byMax = sortedBy(group, maxOrder);
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
 * 4b. The surplus: capacity above the recent lows (see `admissionLimits`), which may be gone again in
 * seconds. Shared fairly, it would move every charger up and down with each swing; given whole to one
 * session at a time, only that one follows the swing. Highest priority first, then a session already
 * above its fair share (the role does not hop while the surplus lasts), then the one whose limit has
 * been steady longest (so the role passes round: the last to take it has just changed twice), then
 * the least served. A session whose raises are held (interval, change budget) cannot take it.
 */
function fillSurplus(sessions: readonly Session[], room: number[]): void {
  if (room.every((r) => r <= 0)) return;
  const order = sessions
    .filter((s) => s.admitted && s.a < s.fillMax)
    .sort((x, y) => y.priority - x.priority || Number(y.cur * 10 > y.a) - Number(x.cur * 10 > x.a) || x.steadySince - y.steadySince || x.a - y.a || x.pos - y.pos);
  for (const s of order) {
    let grow = s.fillMax - s.a;
    for (let p = 0; p < 3; p++) if (onPhase(s.mask, p)) grow = Math.min(grow, room[p] ?? 0);
    if (grow <= 0) continue;
    s.a += grow;
    take(s.mask, room, grow);
  }
}

const floorOrder = (x: Session, y: Session): number => x.minQ - y.minQ || x.pos - y.pos;
const maxOrder = (x: Session, y: Session): number => x.fillMax - y.fillMax || x.pos - y.pos;

/** A sorted copy; skips the sort in the common case where all minimums (or maxima) are equal. */
function sortedBy(group: readonly Session[], order: (x: Session, y: Session) => number): Session[] {
  const copy = group.slice();
  for (let i = 1; i < copy.length; i++) {
    if (order(copy[i - 1] as Session, copy[i] as Session) > 0) return copy.sort(order);
  }
  return copy;
}

/**
 * 5. Anti-flap. A change smaller than the deadband keeps the limit in force (not to/from 0); a
 * running session whose increases are held was already filled up to its limit in force. Holds
 * that keep a lower limit are always safe and applied first; holds that keep a higher limit are
 * then accepted in id order only while every phase they load stays within its limit, or when a
 * session that is being commanded anyway can give up the difference (a donor): when a limit
 * comes down, the session that moves most takes it all rather than every session moving a little.
 */
function applyHolds(sessions: readonly Session[], avail: readonly number[], deadbandA: number): void {
  const used = [0, 0, 0];
  for (const s of sessions) {
    s.out.limit = s.a / 10;
    s.out.held = s.startHold;
    addToPhases(used, s.mask, s.a / 10);
  }
  const keepsHigher: Session[] = [];
  for (const s of sessions) {
    // Only a limit that is itself a valid offer this round may be kept.
    if (s.a === 0 || s.cur === 0 || s.cur * 10 < s.minQ - EPS || s.cur * 10 > s.maxQ + EPS) continue;
    const diff = s.a / 10 - s.cur;
    if (diff > 0 && diff < deadbandA) {
      s.out.limit = s.cur;
      s.out.held = 'deadband';
      addToPhases(used, s.mask, -diff);
    } else if (diff === 0 && intervalHeld(s)) {
      s.out.held = s.raiseHold;
    } else if (diff < 0 && (-diff < deadbandA || intervalHeld(s))) {
      // Interval-held: the fill stopped at the limit in force rounded down to 0.1 A; keep it exactly.
      keepsHigher.push(s);
    }
  }
  // Donors: sessions commanded anyway (a change of at least the deadband, no hold). A session that
  // may itself be kept is none: its limit is about to be overwritten.
  const keeping = new Set(keepsHigher);
  const donors = keepsHigher.length === 0 ? [] : sessions.filter((d) => {
    const q = Math.round(d.out.limit * 10);
    return q > d.minQ && d.out.held === undefined && !keeping.has(d) && Math.abs(q / 10 - d.cur) >= deadbandA;
  });
  for (const s of keepsHigher) {
    const extra = s.cur - s.a / 10;
    let short = 0;
    let shortMask = 0;
    for (let p = 0; p < 3; p++) {
      const over = (used[p] ?? 0) + extra - (avail[p] ?? 0);
      if (onPhase(s.mask, p) && over > EPS / 10) {
        short = Math.max(short, over);
        shortMask |= 1 << p;
      }
    }
    if (short > 0) {
      const shortQ = deciUp(short);
      const donor = donors.find((d) => (d.mask & shortMask) === shortMask && Math.round(d.out.limit * 10) - shortQ >= d.minQ);
      if (!donor) continue;
      donor.out.limit = (Math.round(donor.out.limit * 10) - shortQ) / 10;
      addToPhases(used, donor.mask, -shortQ / 10);
    }
    s.out.limit = s.cur;
    s.out.held = intervalHeld(s) ? s.raiseHold : 'deadband';
    addToPhases(used, s.mask, extra);
  }
}

/** The fill stopped this session at the limit in force because its increases are held. */
function intervalHeld(s: Session): boolean {
  return s.raiseHold !== undefined && s.a === s.fillMax;
}

function reasonOf(s: Session, limit: number): AllocationReason {
  if (limit === 0) return 'paused';
  if (s.reclaimBound) return 'reclaimed';
  if (s.capBound && limit * 10 >= s.maxQ - EPS) return 'capped';
  return 'charging';
}

function buildResult(chargers: readonly ChargerInput[], out: readonly Outcome[], overloaded: readonly Phase[]): AllocationResult {
  const load = [0, 0, 0];
  const allocations = new Array<ChargerAllocation>(chargers.length);
  for (let i = 0; i < chargers.length; i++) {
    const { limit, mask, reason, held } = out[i] as Outcome;
    addToPhases(load, mask, limit);
    const id = (chargers[i] as ChargerInput).id;
    const phases = phasesOf(mask);
    allocations[i] = held === undefined ? { id, limit, phases, reason } : { id, limit, phases, reason, held };
  }
  const phaseLoad: PhaseCurrents = { L1: load[0] ?? 0, L2: load[1] ?? 0, L3: load[2] ?? 0 };
  return { allocations, phaseLoad, overloadedPhases: overloaded };
}
