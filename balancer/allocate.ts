/**
 * `allocate()`: the balancer's pure core. Given a snapshot of an installation it returns the limit
 * (A per phase) each charger should have. No I/O, no clock, no randomness: time comes in as
 * `input.now`, and the result depends only on the input's content (chargers are processed in id
 * order, whatever order they arrive in).
 *
 * The rules, in order, each named as in test/balancer/allocate.test.ts:
 *  0. Circuits (`allocate-circuits.ts`): each phase of the installation and of every circuit below
 *     it is one constraint; a charger loads its phases on each circuit from its own to the root.
 *  1. Offline chargers: counted first at what they will do (`offline-current.ts`) on every wired
 *     phase; if they alone overload a circuit, every online charger below it is paused.
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
import type { AllocationInput, AllocationResult, ChargerAllocation, ChargerInput, CircuitLoad, Phase, PhaseCurrents } from './allocation-types.js';
import { circuitTree, type CircuitTree } from './allocate-circuits.js';
import { applyHolds } from './allocate-anti-flap.js';
import { admit, fill, fillSurplus } from './allocate-fill.js';
import { newOutcome, reasonOf, toSession, type Outcome, type Session } from './allocate-sessions.js';
import { EPS, loadsOf, onPhase, qDown, toQ, type Loads } from './allocate-units.js';
import { offlineWorstCase } from './offline-current.js';
import { countedMask, phasesOf, wiringOf, PHASES } from './phases.js';

export function allocate(input: AllocationInput): AllocationResult {
  const { now, settings } = input;
  const chargers = sortedById(input.chargers);
  const n = chargers.length;
  const out: Outcome[] = chargers.map(newOutcome);
  const tree = circuitTree(input);
  const k = tree.limits.length;
  const chains = chargers.map((c) => tree.chainOf(c.circuitId));
  const loadsFor = (i: number) => (mask: number): Loads => loadsOf(mask, chains[i] ?? []);

  // 1. Offline chargers: worst case on every wired phase, off the top (in 0.1 A, unrounded).
  const offlineQ = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    const c = chargers[i] as ChargerInput;
    if (c.online) continue;
    const worst = offlineWorstCase(c.currentLimit, c.maxCurrent, c.offlineCurrent).value;
    const mask = wiringOf(c).mask;
    for (const j of loadsFor(i)(mask)) offlineQ[j] = (offlineQ[j] ?? 0) + toQ(worst);
    Object.assign(out[i] as Outcome, { exactA: worst, reason: 'offline', mask });
  }
  const availQ = tree.limits.map((a, j) => toQ(a) - (offlineQ[j] ?? 0));
  const overloadedAt = (circuit: number): Phase[] => PHASES.filter((_p, p) => (availQ[3 * circuit + p] ?? 0) < -EPS * 10);
  const overloaded = overloadedAt(0);
  const circuitOverloaded = tree.circuits.map((_c, i) => overloadedAt(i + 1));
  // Offline overload: when offline chargers alone overload a circuit, every online charger below it is paused.
  const underOverload = (i: number): boolean => (chains[i] ?? []).some((at) => (at === 0 ? overloaded : (circuitOverloaded[at - 1] ?? [])).length > 0);

  // 2. Online chargers that want energy become sessions; the others are idle (already set).
  const sessions: Session[] = [];
  for (let i = 0; i < n; i++) {
    const c = chargers[i] as ChargerInput;
    if (!c.online || !c.wantsEnergy) continue;
    if (c.asleep === 'sleeping') {
      Object.assign(out[i] as Outcome, { reason: 'asleep', mask: countedMask(c, wiringOf(c)) });
      continue;
    }
    const s = toSession(c, i, now, settings, out[i] as Outcome, loadsFor(i));
    s.out.mask = s.mask;
    s.out.reason = 'paused';
    if (s.maxQ < s.minQ) s.out.reason = qDown(c.maxCurrent) < s.minQ ? 'misconfigured' : 'capped';
    else if (!underOverload(i)) sessions.push(s);
  }

  // 3-5. Admission, fair filling, anti-flap.
  const capacity = availQ.map((a) => Math.floor(a + EPS));
  const stableCapacity = tree.stable.map((a, j) => Math.min(capacity[j] ?? 0, Math.floor(toQ(a) - (offlineQ[j] ?? 0) + EPS)));
  const swinging = stableCapacity.some((c, j) => c < (capacity[j] ?? 0));
  admit(sessions, capacity, stableCapacity);
  // Fair shares come out of the stable capacity; what a swinging limit adds on top goes to one session.
  const fairRoom = capacity.map((r, j) => Math.max(0, Math.min(r, stableCapacity[j] ?? 0)));
  const unused = fairRoom.slice();
  fill(sessions, fairRoom);
  if (swinging) {
    for (let j = 0; j < k; j++) capacity[j] = (capacity[j] ?? 0) - ((unused[j] ?? 0) - (fairRoom[j] ?? 0));
    fillSurplus(sessions, capacity);
  }
  applyHolds(sessions, availQ, settings.deadbandA);
  for (const s of sessions) s.out.reason = reasonOf(s);

  const result = buildResult(chargers, out, overloaded);
  if (input.circuits === undefined) return result;
  return { ...result, circuits: circuitLoads(tree, chains, out, result, circuitOverloaded) };
}

/** Per sub-circuit, the counted load of the chargers below it (the status shows it beside the limits). */
function circuitLoads(tree: CircuitTree, chains: readonly (readonly number[])[], out: readonly Outcome[], result: AllocationResult, overloaded: readonly Phase[][]): CircuitLoad[] {
  const sums = new Float64Array(tree.limits.length);
  result.allocations.forEach((a, i) => {
    const mask = out[i]?.mask ?? 0;
    for (const at of chains[i] ?? []) for (let p = 0; p < 3; p++) if (onPhase(mask, p)) sums[3 * at + p] = (sums[3 * at + p] ?? 0) + a.limit;
  });
  return tree.circuits.map((c, i) => ({ id: c.id, load: { L1: sums[3 * i + 3] ?? 0, L2: sums[3 * i + 4] ?? 0, L3: sums[3 * i + 5] ?? 0 }, overloadedPhases: overloaded[i] ?? [] }));
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
