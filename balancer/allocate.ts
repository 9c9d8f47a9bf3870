/**
 * `allocate()`: the balancer's pure core. Given a snapshot of an installation it returns the limit
 * (A per phase) each charger should have. No I/O, no clock, no randomness: time comes in as
 * `input.now`, and the result depends only on the input's content (chargers are processed in id
 * order, whatever order they arrive in).
 *
 * The rules, in order, each named as in the tests (`describe` blocks of test/balancer/allocate-*.test.ts):
 *  0. Circuits (`allocate-circuits.ts`): each phase of the installation and of every circuit below
 *     it is one constraint; a charger loads its phases on each circuit from its own to the root.
 *  1. Offline chargers: counted first at what they will do (`offline-current.ts`) on every wired
 *     phase; if they alone overload a circuit, every online charger below it is paused.
 *  2. Which phases a session loads, caps, reclaim (`allocate-sessions.ts`): online chargers that
 *     want energy become sessions with counted phases, minimum and maximum, relay-wear holds.
 *  3. Minimums, admission and pause; rotation (`allocate-fill.ts`): minimums are reserved in
 *     admission order (priority, rotation tier, arrival, id); one that does not fit is paused, or,
 *     with 1/3-phase switching, charges on one phase (`phase-switch.ts`).
 *  4. Fair filling, then damping a swinging limit (`allocate-fill.ts`): max-min fair progressive
 *     filling one priority class after the other within the recent lows; what the limit offers
 *     above them goes to one session at a time.
 *  5. Anti-flap (`allocate-anti-flap.ts`): deadband, minimum-change-interval and change-budget
 *     holds, each kept only while it is safe.
 *
 * One unit inside: integer 0.1 A, rounded toward safety (see allocate-units.ts), so every sum stays
 * within the phase limits without a final correction pass. Work buffers are reused from call to call
 * (allocate-scratch.ts); nothing in the result points into them, so the function stays pure.
 */
import type { AllocationInput, AllocationResult, ChargerAllocation, ChargerInput, CircuitLoad, Phase, PhaseCurrents } from './allocation-types.js';
import { circuitTree, type CircuitTree } from './allocate-circuits.js';
import { applyHolds } from './allocate-anti-flap.js';
import { admit, fill, fillSurplus } from './allocate-fill.js';
import { outcomesFor, reasonOf, toSession, type Outcome, type Session } from './allocate-sessions.js';
import { EPS, onPhase, qDown, toQ } from './allocate-units.js';
import { offlineWorstCase } from './offline-current.js';
import { resetScratch, scratchF64, scratchI32, scratchList } from './allocate-scratch.js';
import { countedMask, phasesOf, wiringOf, PHASES } from './phases.js';

export function allocate(input: AllocationInput): AllocationResult {
  const { now, settings } = input;
  resetScratch();
  const chargers = sortedById(input.chargers);
  const n = chargers.length;
  const out = outcomesFor(n);
  const tree = circuitTree(input);
  const k = tree.limits.length;
  // Each charger's circuit, as an index into the tree (0: the installation).
  const at = scratchI32(n);
  for (let i = 0; i < n; i++) at[i] = tree.indexOf((chargers[i] as ChargerInput).circuitId);

  // 1. Offline chargers: worst case on every wired phase, off the top (in 0.1 A, unrounded).
  const offlineQ = scratchF64(k);
  for (let i = 0; i < n; i++) {
    const c = chargers[i] as ChargerInput;
    if (c.online) continue;
    const worst = offlineWorstCase(c.currentLimit, c.maxCurrent, c.offlineCurrent).value;
    const mask = wiringOf(c).mask;
    for (const j of tree.loads(at[i] as number, mask)) offlineQ[j] = (offlineQ[j] as number) + toQ(worst);
    Object.assign(out[i] as Outcome, { exactA: worst, reason: 'offline', mask });
  }
  const availQ = scratchF64(k);
  for (let j = 0; j < k; j++) availQ[j] = toQ(tree.limits[j] as number) - (offlineQ[j] as number);
  // Mostly none: an empty list then, not a filter's (filter sets room aside for a longer one).
  const overloadedAt = (circuit: number): Phase[] => {
    let any = false;
    for (let p = 0; p < 3; p++) if ((availQ[3 * circuit + p] as number) < -EPS * 10) any = true;
    return any ? PHASES.filter((_p, p) => (availQ[3 * circuit + p] as number) < -EPS * 10) : [];
  };
  const overloaded = overloadedAt(0);
  const circuitOverloaded = tree.circuits.map((_c, i) => overloadedAt(i + 1));
  // Offline overload: when offline chargers alone overload a circuit, every online charger below it is paused.
  const isOverloaded = [overloaded.length > 0, ...circuitOverloaded.map((o) => o.length > 0)];
  const anyOverloaded = isOverloaded.includes(true);
  const underOverload = (i: number): boolean => anyOverloaded && tree.chainOf(at[i] as number).some((c) => isOverloaded[c] === true);

  // 2. Online chargers that want energy become sessions; the others are idle (already set).
  // At most one per charger; cut to length after (push would grow it step by step, copying each time).
  const sessions = scratchList<Session>(n);
  let nSessions = 0;
  let made = 0;
  for (let i = 0; i < n; i++) {
    const c = chargers[i] as ChargerInput;
    if (!c.online || !c.wantsEnergy) continue;
    if (c.asleep === 'sleeping') {
      Object.assign(out[i] as Outcome, { reason: 'asleep', mask: countedMask(c, wiringOf(c)) });
      continue;
    }
    const s = toSession(c, i, now, settings, out[i] as Outcome, tree, at[i] as number, made++);
    s.out.mask = s.mask;
    s.out.reason = 'paused';
    if (s.maxQ < s.minQ) s.out.reason = qDown(c.maxCurrent) < s.minQ ? 'misconfigured' : 'capped';
    else if (!underOverload(i)) sessions[nSessions++] = s;
  }
  sessions.length = nSessions;

  // 3-5. Admission, fair filling, anti-flap.
  const capacity = scratchF64(k);
  const stableCapacity = scratchF64(k);
  let swinging = false;
  for (let j = 0; j < k; j++) {
    capacity[j] = Math.floor((availQ[j] as number) + EPS);
    stableCapacity[j] = Math.min(capacity[j] as number, Math.floor(toQ(tree.stable[j] as number) - (offlineQ[j] as number) + EPS));
    if ((stableCapacity[j] as number) < (capacity[j] as number)) swinging = true;
  }
  admit(sessions, capacity, stableCapacity);
  // Fair shares come out of the stable capacity; what a swinging limit adds on top goes to one session.
  const fairRoom = scratchF64(k);
  for (let j = 0; j < k; j++) fairRoom[j] = Math.max(0, Math.min(capacity[j] as number, stableCapacity[j] as number));
  const unused = scratchF64(k);
  unused.set(fairRoom);
  fill(sessions, fairRoom);
  if (swinging) {
    for (let j = 0; j < k; j++) capacity[j] = (capacity[j] as number) - ((unused[j] as number) - (fairRoom[j] as number));
    fillSurplus(sessions, capacity);
  }
  applyHolds(sessions, availQ, settings.deadbandA);
  for (const s of sessions) s.out.reason = reasonOf(s);

  const result = buildResult(chargers, out, overloaded);
  if (input.circuits === undefined) return result;
  const { allocations, phaseLoad } = result;
  return { allocations, phaseLoad, overloadedPhases: overloaded, circuits: circuitLoads(tree, at, out, result, circuitOverloaded) };
}

/** Per sub-circuit, the counted load of the chargers below it (the status shows it beside the limits). */
function circuitLoads(tree: CircuitTree, at: Int32Array, out: readonly Outcome[], result: AllocationResult, overloaded: readonly Phase[][]): CircuitLoad[] {
  const sums = scratchF64(tree.limits.length);
  const { allocations } = result;
  for (let i = 0; i < allocations.length; i++) {
    const limit = (allocations[i] as ChargerAllocation).limit;
    const loads = tree.loads(at[i] as number, (out[i] as Outcome).mask);
    for (let j = 0; j < loads.length; j++) {
      const c = loads[j] as number;
      sums[c] = (sums[c] as number) + limit;
    }
  }
  return tree.circuits.map((c, i) => ({ id: c.id, load: { L1: sums[3 * i + 3] ?? 0, L2: sums[3 * i + 4] ?? 0, L3: sums[3 * i + 5] ?? 0 }, overloadedPhases: overloaded[i] ?? [] }));
}

function sortedById(chargers: readonly ChargerInput[]): readonly ChargerInput[] {
  // Inputs mostly come in id order already: check that in one pass before sorting.
  let inOrder = true;
  for (let i = 1; i < chargers.length && inOrder; i++) inOrder = (chargers[i - 1] as ChargerInput).id <= (chargers[i] as ChargerInput).id;
  // Only read from here on: an input already in order is used as it is.
  const sorted = inOrder ? chargers : [...chargers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
    const { q, exactA, mask, reason, held, numberPhases } = out[i] as Outcome;
    const limit = exactA ?? q / 10;
    for (let p = 0; p < 3; p++) if (onPhase(mask, p)) load[p] = (load[p] ?? 0) + limit;
    const id = (chargers[i] as ChargerInput).id;
    const phases = phasesOf(mask);
    const a: ChargerAllocation = held === undefined ? { id, limit, phases, reason } : { id, limit, phases, reason, held };
    allocations[i] = numberPhases === undefined ? a : { ...a, numberPhases };
  }
  const phaseLoad: PhaseCurrents = { L1: load[0] ?? 0, L2: load[1] ?? 0, L3: load[2] ?? 0 };
  return { allocations, phaseLoad, overloadedPhases: overloaded };
}
