/**
 * Steps 3 and 4 of `allocate()`: admission (minimums, admission and pause; rotation) and fair
 * filling (max-min fair progressive filling, then the surplus of a swinging limit). All in 0.1 A,
 * over constraint vectors: one entry per phase of each circuit (see allocate-units.ts), so one
 * phase of the flat installation and one phase of a sub-board are the same kind of limit.
 */
import { sessionsByConstraint, steadySinceOf, type ByConstraint, type Session } from './allocate-sessions.js';
import { minRoom, take, type Vec } from './allocate-units.js';
import { admissionOrder } from './allocate-admission.js';
import { mergeSort } from './allocate-merge-sort.js';
import { releaseScratch, scratchF64, scratchI32, scratchList, scratchMark, scratchU8, where } from './allocate-scratch.js';
import { onePhaseFirst, switchUp, undoOnePhase } from './phase-switch.js';

/**
 * Minimums, admission and pause: reserve minimums greedily in admission order; a session that
 * does not fit is paused. A session that is not running must also fit under the stable capacity
 * (the recent lows), so it is not started only to be paused when a swinging limit comes down again.
 */
export function admit(sessions: readonly Session[], room: Vec, stableRoom: Vec): void {
  const order = admissionOrder(sessions);
  for (const s of order) {
    // 1/3-phase switching: minimums on one phase first, three phases back where they fit (phase-switch.ts).
    const onOne = onePhaseFirst(s);
    if (!fitsMinimum(s, room, stableRoom)) {
      if (onOne) undoOnePhase(s);
      continue;
    }
    // Both vectors in one pass over the loads (on a tree a session loads three phases on each circuit up).
    const { loads, minQ } = s;
    for (let i = 0; i < loads.length; i++) {
      const k = loads[i] as number;
      room[k] = (room[k] as number) - minQ;
      stableRoom[k] = (stableRoom[k] as number) - minQ;
    }
    s.admitted = true;
    s.a = s.minQ;
  }
  switchUp(order, room, stableRoom);
}

/** The minimum fits in `room`, and for a session not running also in `stableRoom`: one pass over the loads. */
function fitsMinimum(s: Session, room: Vec, stableRoom: Vec): boolean {
  const { loads, minQ } = s;
  const stable = s.curQ === 0;
  for (let i = 0; i < loads.length; i++) {
    const k = loads[i] as number;
    if ((room[k] as number) < minQ) return false;
    if (stable && (stableRoom[k] as number) < minQ) return false;
  }
  return true;
}

/** Fair filling: the admitted sessions, highest priority class first, each class max-min fair. */
export function fill(sessions: readonly Session[], room: Vec): void {
  // `sessions` are in id order, so each class taken out of it is too: no sort needed.
  const admitted = where(sessions, (s) => s.admitted);
  const priorities: number[] = [];
  for (const s of admitted) if (!priorities.includes(s.priority)) priorities.push(s.priority);
  priorities.sort((x, y) => y - x);
  for (const priority of priorities) {
    const mark = scratchMark();
    fillClass(priorities.length === 1 ? admitted : where(admitted, (s) => s.priority === priority), room);
    releaseScratch(mark);
  }
}


/**
 * Progressive filling on the 0.1 A lattice, event by event. It computes the same allocation as
 * the unit-step greedy "repeatedly give +0.1 A to the smallest unfrozen session (ties by id); a
 * session that cannot take it (a constraint it loads is full) is frozen", but jumps whole levels at
 * once: between events (a floor reached, a maximum reached, a constraint unable to give every
 * growing session one more unit) the load on each constraint grows linearly. Only the level at
 * which a constraint runs out is walked session by session, in id order. `room` is what each
 * constraint has left with every admitted minimum already taken.
 *
 * A constraint's room is brought up to date only when its count of growing sessions changes or a
 * walk needs it (`sync`): in between it shrinks by count units per level, so the level at which it
 * runs out (`ends`) stays put, and a jump costs a minimum over the active constraints, not a write
 * to each of them. Everything is integer arithmetic, so this is exact.
 */
function fillClass(group: readonly Session[], room: Vec): void {
  const k = room.length;
  const byFloor = sortedBy(group, floorOf, floorBefore);
  const byMax = sortedBy(group, maxOf, maxBefore);
  const count = scratchF64(k); // growing sessions per constraint
  const synced = scratchF64(k); // the level room[c] is up to date at
  const ends = scratchF64(k); // synced + floor(room / count): the last level every grower gets a unit
  let growing = 0;
  let jf = 0;
  let jm = 0;
  let level = byFloor[0]?.minQ ?? 0;
  const members = sessionsByConstraint(group, k);

  // Constraints with growing sessions: the only ones an event can come from (a tree has many idle ones).
  const active = scratchI32(k);
  let nActive = 0;
  const tight = scratchI32(k);
  const isActive = scratchU8(k);
  const isTight = scratchU8(k);
  const walk = scratchI32(group.length);
  const seen = scratchU8(group.length);
  let stopped = false;

  const sync = (c: number): void => {
    room[c] = (room[c] as number) - (count[c] as number) * (level - (synced[c] as number));
    synced[c] = level;
  };
  const recount = (s: Session, by: number): void => {
    for (const c of s.loads) {
      sync(c);
      const n = (count[c] as number) + by;
      count[c] = n;
      if (n > 0) ends[c] = level + Math.floor((room[c] as number) / n);
    }
  };
  const stop = (s: Session, at: number): void => {
    s.growing = false;
    s.a = at;
    growing--;
    recount(s, -1);
    stopped = true;
  };

  for (;;) {
    for (let s = byFloor[jf]; s !== undefined && s.minQ <= level; s = byFloor[++jf]) {
      // A session joins at its floor (already reserved); on a full constraint it is frozen there.
      if (!(s.fillMax > s.minQ)) continue;
      let fits = true;
      for (const c of s.loads) if ((room[c] as number) - (count[c] as number) * (level - (synced[c] as number)) < 1) fits = false;
      if (!fits) continue;
      s.growing = true;
      growing++;
      recount(s, 1);
      for (const c of s.loads) {
        if (isActive[c] === 1) continue;
        isActive[c] = 1;
        active[nActive++] = c;
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
    if (stopped) {
      let kept = 0;
      for (let i = 0; i < nActive; i++) {
        const c = active[i] as number;
        if ((count[c] as number) > 0) active[kept++] = c;
        else isActive[c] = 0;
      }
      nActive = kept;
      stopped = false;
    }
    let step = Math.min((byFloor[jf]?.minQ ?? Infinity) - level, (byMax[jm]?.fillMax ?? Infinity) - level);
    for (let i = 0; i < nActive; i++) step = Math.min(step, (ends[active[i] as number] as number) - level);
    if (step >= 1) {
      level += step;
      continue;
    }
    // Some constraint cannot give every growing session one more unit (it is tight): walk this level
    // in id order. Only sessions on a tight constraint can miss out; every other one takes its unit
    // whatever the order, which its lazily kept room already says.
    let nTight = 0;
    for (let i = 0; i < nActive; i++) {
      const c = active[i] as number;
      if ((ends[c] as number) - level < 1) {
        tight[nTight++] = c;
        isTight[c] = 1;
        sync(c);
      }
    }
    const nWalk = onTight(tight, nTight, members, group, isTight, walk, seen);
    for (let w = 0; w < nWalk; w++) {
      const s = group[walk[w] as number] as Session;
      if (!s.growing) continue;
      let fits = true;
      for (const c of s.loads) if (isTight[c] === 1 && (room[c] as number) < 1) fits = false;
      if (!fits) {
        stop(s, level);
        continue;
      }
      for (const c of s.loads) if (isTight[c] === 1) room[c] = (room[c] as number) - 1;
    }
    level += 1;
    // A tight constraint's room now stands at the next level (its units of this one were taken above).
    for (let i = 0; i < nTight; i++) {
      const c = tight[i] as number;
      isTight[c] = 0;
      synced[c] = level;
      const n = count[c] as number;
      if (n > 0) ends[c] = level + Math.floor((room[c] as number) / n);
    }
  }
}

/**
 * Damping a swinging limit: the surplus is capacity above the recent lows (see `admissionLimits`),
 * which may be gone again in seconds. Shared fairly, it would move every charger up and down with
 * each swing; given whole to one session at a time, only that one follows the swing. Highest
 * priority first, then a session already above its fair share (the role does not hop while the
 * surplus lasts), then the one whose limit has been steady longest (so the role passes round: the
 * last to take it has just changed twice), then the least served. A session whose raises are held
 * (interval, change budget) cannot take it.
 */
export function fillSurplus(sessions: readonly Session[], room: Vec): void {
  if (room.every((r) => r <= 0)) return;
  const order = mergeSort(
    where(sessions, (s) => s.admitted && s.a < s.fillMax),
    (x, y) => (y.priority - x.priority || Number(y.curQ > y.a) - Number(x.curQ > x.a) || steadySinceOf(x) - steadySinceOf(y) || x.a - y.a || x.pos - y.pos) < 0,
  );
  for (const s of order) {
    const grow = Math.min(s.fillMax - s.a, minRoom(s.loads, room));
    if (grow <= 0) continue;
    s.a += grow;
    take(s.loads, room, grow);
  }
}


/** Writes to `walk` the positions in `group` of the sessions on any of the tight constraints, once each, in id order; returns how many. */
function onTight(tight: Int32Array, nTight: number, members: ByConstraint, group: readonly Session[], isTight: Uint8Array, walk: Int32Array, seen: Uint8Array): number {
  const { at, of } = members;
  let n = 0;
  if (nTight === 1) {
    const c = tight[0] as number;
    for (let i = at[c] as number; i < (at[c + 1] as number); i++) walk[n++] = of[i] as number;
    return n;
  }
  let size = 0;
  for (let t = 0; t < nTight; t++) size += (at[(tight[t] as number) + 1] as number) - (at[tight[t] as number] as number);
  // Most of the group (an installation phase is tight): filtering it in order beats sorting the union.
  if (size >= group.length) {
    for (let i = 0; i < group.length; i++) {
      const s = group[i] as Session;
      if (s.growing && s.loads.some((c) => isTight[c] === 1)) walk[n++] = i;
    }
    return n;
  }
  // A session on several tight constraints is listed once: a position already written is skipped.
  for (let t = 0; t < nTight; t++) {
    const c = tight[t] as number;
    for (let i = at[c] as number; i < (at[c + 1] as number); i++) {
      const p = of[i] as number;
      if (seen[p] === 1) continue;
      seen[p] = 1;
      walk[n++] = p;
    }
  }
  const listed = walk.subarray(0, n).sort();
  for (let i = 0; i < n; i++) seen[listed[i] as number] = 0;
  return n;
}

const floorOf = (s: Session): number => s.minQ;
const maxOf = (s: Session): number => s.fillMax;
const floorBefore = (x: Session, y: Session): boolean => x.minQ < y.minQ || (x.minQ === y.minQ && x.pos < y.pos);
const maxBefore = (x: Session, y: Session): boolean => x.fillMax < y.fillMax || (x.fillMax === y.fillMax && x.pos < y.pos);

/**
 * `group` (in id order) sorted by `key`, ties in id order (`before` says the same). Often already in
 * order (all minimums equal): one pass, and `group` itself (the fill only reads these orders).
 */
function sortedBy(group: readonly Session[], key: (s: Session) => number, before: (x: Session, y: Session) => boolean): readonly Session[] {
  let last = -Infinity;
  let inOrder = true;
  for (const s of group) {
    const k = key(s);
    // Not a finite number: compare as before (`before` would not order NaN).
    if (!Number.isFinite(k)) return group.slice().sort((x, y) => key(x) - key(y) || x.pos - y.pos);
    if (k < last) inOrder = false;
    last = k;
  }
  if (inOrder) return group;
  // Keys are 0.1 A amounts: whole numbers well below 2^31, over a span of a few hundred. Counted into
  // buckets by value then (in id order within one); a wide span packs key and position exactly into
  // one double (key * 2^21 + position) for the typed array's own numeric sort. Anything else: compared.
  const n = group.length;
  if (n >= POSITIONS) return mergeSort(group.slice(), before);
  const keys = scratchF64(n);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const k = key(group[i] as Session);
    if (!(Number.isInteger(k) && k >= 0 && k < 2 ** 31)) return mergeSort(group.slice(), before);
    keys[i] = k;
    lo = Math.min(lo, k);
    hi = Math.max(hi, k);
  }
  const out = scratchList<Session>(n);
  if (hi - lo <= 4 * n + 64) {
    const next = scratchI32(hi - lo + 2);
    // next[v]: where the next session with key lo + v goes (counts shifted by one, then summed up).
    for (let i = 0; i < n; i++) {
      const v = (keys[i] as number) - lo + 1;
      next[v] = (next[v] as number) + 1;
    }
    for (let v = 1; v < next.length; v++) next[v] = (next[v] as number) + (next[v - 1] as number);
    for (let i = 0; i < n; i++) {
      const v = (keys[i] as number) - lo;
      const at = next[v] as number;
      next[v] = at + 1;
      out[at] = group[i] as Session;
    }
    return out;
  }
  for (let i = 0; i < n; i++) keys[i] = (keys[i] as number) * POSITIONS + i;
  keys.sort();
  for (let i = 0; i < n; i++) out[i] = group[(keys[i] as number) % POSITIONS] as Session;
  return out;
}

const POSITIONS = 2 ** 21;
