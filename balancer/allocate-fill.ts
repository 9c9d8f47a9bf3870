/**
 * Steps 3 and 4 of `allocate()`: admission (minimums, admission and pause; rotation) and fair
 * filling (max-min fair progressive filling, then the surplus of a swinging limit). All in 0.1 A,
 * over constraint vectors: one entry per phase of each circuit (see allocate-units.ts), so one
 * phase of the flat installation and one phase of a sub-board are the same kind of limit.
 */
import type { Session } from './allocate-sessions.js';
import { hasRoom, minRoom, take } from './allocate-units.js';

/**
 * Minimums, admission and pause: reserve minimums greedily in admission order; a session that
 * does not fit is paused. A session that is not running must also fit under the stable capacity
 * (the recent lows), so it is not started only to be paused when a swinging limit comes down again.
 */
export function admit(sessions: readonly Session[], room: number[], stableRoom: number[]): void {
  const order = sessions
    .filter((s) => s.startHold === undefined)
    .sort((x, y) => y.priority - x.priority || x.tier - y.tier || x.tierKey - y.tierKey || x.arrivedAt - y.arrivedAt || x.pos - y.pos);
  for (const s of order) {
    if (!hasRoom(s.loads, room, s.minQ)) continue;
    if (s.curQ === 0 && !hasRoom(s.loads, stableRoom, s.minQ)) continue;
    take(s.loads, room, s.minQ);
    take(s.loads, stableRoom, s.minQ);
    s.admitted = true;
    s.a = s.minQ;
  }
}

/** Fair filling: the admitted sessions, highest priority class first, each class max-min fair. */
export function fill(sessions: readonly Session[], room: number[]): void {
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
 * session that cannot take it (a constraint it loads is full) is frozen", but jumps whole levels at
 * once: between events (a floor reached, a maximum reached, a constraint unable to give every
 * growing session one more unit) the load on each constraint grows linearly. Only the level at
 * which a constraint runs out is walked session by session, in id order. `room` is what each
 * constraint has left with every admitted minimum already taken.
 */
function fillClass(group: readonly Session[], room: number[]): void {
  const k = room.length;
  const byFloor = sortedBy(group, floorOrder);
  const byMax = sortedBy(group, maxOrder);
  const count = new Array<number>(k).fill(0); // growing sessions per constraint
  let growing = 0;
  let jf = 0;
  let jm = 0;
  let level = byFloor[0]?.minQ ?? 0;
  // The sessions on each constraint, in id order (the group's order): who a tight constraint concerns.
  const members: Session[][] = Array.from({ length: k }, () => []);
  group.forEach((s) => {
    for (const c of s.loads) members[c]?.push(s);
  });

  // Constraints with growing sessions: the only ones an event can come from (a tree has many idle ones).
  let active: number[] = [];
  const isActive = new Uint8Array(k);
  const isTight = new Uint8Array(k);
  let stopped = false;

  const stop = (s: Session, at: number): void => {
    s.growing = false;
    s.a = at;
    growing--;
    take(s.loads, count, 1);
    stopped = true;
  };

  for (;;) {
    for (let s = byFloor[jf]; s !== undefined && s.minQ <= level; s = byFloor[++jf]) {
      // A session joins at its floor (already reserved); on a full constraint it is frozen there.
      if (s.fillMax > s.minQ && hasRoom(s.loads, room, 1)) {
        s.growing = true;
        growing++;
        take(s.loads, count, -1);
        for (const c of s.loads) {
          if (isActive[c] === 1) continue;
          isActive[c] = 1;
          active.push(c);
        }
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
      active = active.filter((c) => {
        if ((count[c] ?? 0) > 0) return true;
        isActive[c] = 0;
        return false;
      });
      stopped = false;
    }
    let step = Math.min((byFloor[jf]?.minQ ?? Infinity) - level, (byMax[jm]?.fillMax ?? Infinity) - level);
    for (const c of active) step = Math.min(step, Math.floor((room[c] ?? 0) / (count[c] ?? 1)));
    if (step >= 1) {
      level += step;
      for (const c of active) room[c] = (room[c] ?? 0) - (count[c] ?? 0) * step;
      continue;
    }
    // Some constraint cannot give every growing session one more unit (it is tight): walk this level
    // in id order. Only sessions on a tight constraint can miss out; every other one takes its unit
    // whatever the order, so those are counted in bulk afterwards.
    const tight = active.filter((c) => (room[c] ?? 0) < (count[c] ?? 0));
    for (const c of tight) isTight[c] = 1;
    for (const s of onTight(tight, members, group, isTight)) {
      if (!s.growing) continue;
      let fits = true;
      for (const c of s.loads) if (isTight[c] === 1 && (room[c] ?? 0) < 1) fits = false;
      if (!fits) {
        stop(s, level);
        continue;
      }
      for (const c of s.loads) if (isTight[c] === 1) room[c] = (room[c] ?? 0) - 1;
    }
    for (const c of active) if (isTight[c] !== 1) room[c] = (room[c] ?? 0) - (count[c] ?? 0);
    for (const c of tight) isTight[c] = 0;
    level += 1;
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
export function fillSurplus(sessions: readonly Session[], room: number[]): void {
  if (room.every((r) => r <= 0)) return;
  const order = sessions
    .filter((s) => s.admitted && s.a < s.fillMax)
    .sort((x, y) => y.priority - x.priority || Number(y.curQ > y.a) - Number(x.curQ > x.a) || x.steadySince - y.steadySince || x.a - y.a || x.pos - y.pos);
  for (const s of order) {
    const grow = Math.min(s.fillMax - s.a, minRoom(s.loads, room));
    if (grow <= 0) continue;
    s.a += grow;
    take(s.loads, room, grow);
  }
}

/** The sessions on any of the `tight` constraints, once each, in id order. */
function onTight(tight: readonly number[], members: readonly Session[][], group: readonly Session[], isTight: Uint8Array): readonly Session[] {
  if (tight.length === 1) return members[tight[0] as number] ?? [];
  let size = 0;
  for (const c of tight) size += members[c]?.length ?? 0;
  // Most of the group (an installation phase is tight): filtering it in order beats sorting the union.
  if (size >= group.length) return group.filter((s) => s.growing && s.loads.some((c) => isTight[c] === 1));
  return [...new Set(tight.flatMap((c) => members[c] ?? []))].sort((x, y) => x.pos - y.pos);
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
