/**
 * `allocate()`: the balancer's pure core. Given a snapshot of an installation it returns the limit
 * (A per phase) each charger should have. No I/O, no clock, no randomness: time comes in as
 * `input.now`, and the result depends only on the input's content (chargers are processed in id
 * order, whatever order they arrive in).
 *
 * The rules, in order, each named as in test/balancer/allocate.test.ts:
 *  1. Offline chargers: counted first at what they will do (`offline-current.ts`) on every wired
 *     phase; if they alone overload a phase, every online charger is paused.
 *  2. Which phases a session loads, caps, reclaim (`allocate-sessions.ts`): online chargers that
 *     want energy become sessions with counted phases, minimum and maximum, relay-wear holds.
 *  3. Minimums, admission and pause; rotation (`allocate-fill.ts`): minimums are reserved in
 *     admission order (priority, rotation tier, arrival, id); one that does not fit is paused.
 *  4. Fair filling, then damping a swinging limit (`allocate-fill.ts`): max-min fair progressive
 *     filling one priority class after the other within the recent lows; what the limit offers
 *     above them goes to one session at a time.
 *  5. Anti-flap (`allocate-anti-flap.ts`): deadband, minimum-change-interval and change-budget
 *     holds, each kept only while it is safe.
 *
 * One unit inside: integer 0.1 A, rounded toward safety (see allocate-units.ts), so every sum stays
 * within the phase limits without a final correction pass.
 */
import type { AllocationInput, AllocationResult, ChargerAllocation, ChargerInput, Phase, PhaseCurrents } from './allocation-types.js';
import { applyHolds } from './allocate-anti-flap.js';
import { admit, fill, fillSurplus } from './allocate-fill.js';
import { newOutcome, reasonOf, toSession, type Outcome, type Session } from './allocate-sessions.js';
import { EPS, loadsOf, onPhase, qDown, toQ, type Loads } from './allocate-units.js';
import { offlineWorstCase } from './offline-current.js';
import { countedMask, phasesOf, wiringOf, PHASES } from './phases.js';

/** The flat installation: one circuit, its fuse. */
const ROOT_CHAIN = [0];

export function allocate(input: AllocationInput): AllocationResult {
  const { now, settings } = input;
  const chargers = sortedById(input.chargers);
  const n = chargers.length;
  const out: Outcome[] = chargers.map(newOutcome);
  const loadsFor = (mask: number): Loads => loadsOf(mask, ROOT_CHAIN);

  // 1. Offline chargers: worst case on every wired phase, off the top (in 0.1 A, unrounded).
  const offlineQ = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const c = chargers[i] as ChargerInput;
    if (c.online) continue;
    const worst = offlineWorstCase(c.currentLimit, c.maxCurrent, c.offlineCurrent).value;
    const mask = wiringOf(c).mask;
    for (const k of loadsFor(mask)) offlineQ[k] = (offlineQ[k] ?? 0) + toQ(worst);
    Object.assign(out[i] as Outcome, { exactA: worst, reason: 'offline', mask });
  }
  const limits = input.phaseLimits;
  const availQ = PHASES.map((p, k) => toQ(safeLimit(limits[p])) - (offlineQ[k] ?? 0));
  const overloaded = PHASES.filter((_p, k) => (availQ[k] ?? 0) < -EPS * 10);

  // 2. Online chargers that want energy become sessions; the others are idle (already set).
  const sessions: Session[] = [];
  for (let i = 0; i < n; i++) {
    const c = chargers[i] as ChargerInput;
    if (!c.online || !c.wantsEnergy) continue;
    if (c.asleep === 'sleeping') {
      Object.assign(out[i] as Outcome, { reason: 'asleep', mask: countedMask(c, wiringOf(c)) });
      continue;
    }
    const s = toSession(c, i, now, settings, out[i] as Outcome, loadsFor);
    s.out.mask = s.mask;
    s.out.reason = 'paused';
    if (s.maxQ < s.minQ) s.out.reason = qDown(c.maxCurrent) < s.minQ ? 'misconfigured' : 'capped';
    // Offline overload: when offline chargers alone overload a phase, every online charger is paused.
    else if (overloaded.length === 0) sessions.push(s);
  }

  // 3-5. Admission, fair filling, anti-flap.
  const capacity = availQ.map((a) => Math.floor(a + EPS));
  const stable = input.admissionLimits ?? limits;
  const stableCapacity = PHASES.map((p, k) => Math.min(capacity[k] ?? 0, Math.floor(toQ(safeLimit(stable[p])) - (offlineQ[k] ?? 0) + EPS)));
  const swinging = stableCapacity.some((c, k) => c < (capacity[k] ?? 0));
  admit(sessions, capacity, stableCapacity);
  // Fair shares come out of the stable capacity; what a swinging limit adds on top goes to one session.
  const fairRoom = capacity.map((r, k) => Math.max(0, Math.min(r, stableCapacity[k] ?? 0)));
  const unused = fairRoom.slice();
  fill(sessions, fairRoom);
  if (swinging) {
    for (let k = 0; k < capacity.length; k++) capacity[k] = (capacity[k] ?? 0) - ((unused[k] ?? 0) - (fairRoom[k] ?? 0));
    fillSurplus(sessions, capacity);
  }
  applyHolds(sessions, availQ, settings.deadbandA);
  for (const s of sessions) s.out.reason = reasonOf(s);

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

/** A limit that is not a number counts as 0 A available: never guess capacity. */
function safeLimit(a: number): number {
  return Number.isFinite(a) ? a : 0;
}

/** Back to amperes: the only place the result's currents are written. */
function buildResult(chargers: readonly ChargerInput[], out: readonly Outcome[], overloaded: readonly Phase[]): AllocationResult {
  const load = [0, 0, 0];
  const allocations = new Array<ChargerAllocation>(chargers.length);
  for (let i = 0; i < chargers.length; i++) {
    const { q, exactA, mask, reason, held } = out[i] as Outcome;
    const limit = exactA ?? q / 10;
    for (let p = 0; p < 3; p++) if (onPhase(mask, p)) load[p] = (load[p] ?? 0) + limit;
    const id = (chargers[i] as ChargerInput).id;
    const phases = phasesOf(mask);
    allocations[i] = held === undefined ? { id, limit, phases, reason } : { id, limit, phases, reason, held };
  }
  const phaseLoad: PhaseCurrents = { L1: load[0] ?? 0, L2: load[1] ?? 0, L3: load[2] ?? 0 };
  return { allocations, phaseLoad, overloadedPhases: overloaded };
}
