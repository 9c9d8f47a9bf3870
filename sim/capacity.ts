/**
 * The most current chargers could deliver right now (sum over the three phases, A): the
 * denominator of utilisation = delivered / min(demand, capacity), where "capacity" respects what
 * physics and IEC 61851 allow: per-phase headroom (fuse minus base load), each car loading its own
 * set of grid phases with the same current on each, and no car running below its minimum. Exact for
 * small installations: cars are grouped by phase set, every count of running cars per group is
 * tried (the ones with the most room above their minimum run), and the rest is a small LP.
 */

export interface CarDemand {
  /** Grid phases the car loads: bit 0 = L1, 1 = L2, 2 = L3. */
  readonly mask: number;
  /** Minimum current when running (A per phase). */
  readonly min: number;
  /** What the car would draw if allowed (A per phase); 0 = wants nothing. */
  readonly demand: number;
}

const bitsOf = (mask: number): number => (mask & 1) + ((mask >> 1) & 1) + ((mask >> 2) & 1);

/** Max sum over phases of delivered current (A). */
export function achievableCurrent(headroom: readonly [number, number, number], cars: readonly CarDemand[]): number {
  const cap = headroom.map((h) => Math.max(0, h)) as [number, number, number];
  const active = cars.filter((c) => c.demand > 0 && c.demand >= c.min && c.mask !== 0);
  // Everything fits: every car at its demand.
  const total = [0, 0, 0];
  for (const c of active) for (let p = 0; p < 3; p++) if (c.mask & (1 << p)) total[p]! += c.demand;
  if (total.every((v, p) => v <= cap[p]! + 1e-9)) return active.reduce((s, c) => s + c.demand * bitsOf(c.mask), 0);

  const groups = new Map<number, CarDemand[]>();
  for (const c of active) groups.set(c.mask, [...(groups.get(c.mask) ?? []), c]);
  const masks = [...groups.keys()];
  const lists = masks.map((m) => [...groups.get(m)!].sort((a, b) => b.demand - b.min - (a.demand - a.min) || a.min - b.min));
  let best = 0;
  const counts = new Array<number>(masks.length).fill(0);
  const visit = (g: number): void => {
    if (g === masks.length) {
      best = Math.max(best, evaluate());
      return;
    }
    for (let k = 0; k <= lists[g]!.length; k++) {
      counts[g] = k;
      visit(g + 1);
    }
  };
  const evaluate = (): number => {
    const room = [...cap];
    let base = 0;
    const upper: number[] = [];
    for (let g = 0; g < masks.length; g++) {
      const mask = masks[g]!;
      let u = 0;
      for (let i = 0; i < counts[g]!; i++) {
        const c = lists[g]![i]!;
        for (let p = 0; p < 3; p++) if (mask & (1 << p)) room[p]! -= c.min;
        base += c.min * bitsOf(mask);
        u += c.demand - c.min;
      }
      upper.push(u);
    }
    if (room.some((r) => r < -1e-9)) return -Infinity;
    return base + maximizeLoad(masks, upper, room);
  };
  visit(0);
  return best;
}

/** LP: max sum |s| y_s s.t. for each phase p sum_{s contains p} y_s <= room_p, 0 <= y_s <= upper_s. */
export function maximizeLoad(masks: readonly number[], upper: readonly number[], room: readonly number[]): number {
  const n = masks.length;
  // Rows: 3 phase constraints, then n upper bounds. Columns: n variables, then slacks.
  const rows = 3 + n;
  const cols = n + rows;
  const A: number[][] = [];
  const b: number[] = [];
  for (let p = 0; p < 3; p++) {
    const row = new Array<number>(cols).fill(0);
    for (let j = 0; j < n; j++) if (masks[j]! & (1 << p)) row[j] = 1;
    row[n + p] = 1;
    A.push(row);
    b.push(Math.max(0, room[p]!));
  }
  for (let j = 0; j < n; j++) {
    const row = new Array<number>(cols).fill(0);
    row[j] = 1;
    row[n + 3 + j] = 1;
    A.push(row);
    b.push(Math.max(0, upper[j]!));
  }
  const c = new Array<number>(cols).fill(0);
  for (let j = 0; j < n; j++) c[j] = bitsOf(masks[j]!);
  const basis = Array.from({ length: rows }, (_, i) => n + i);
  // Primal simplex with Bland's rule; the origin is feasible (b >= 0).
  for (let iter = 0; iter < 200; iter++) {
    let enter = -1;
    for (let j = 0; j < cols; j++) {
      let reduced = c[j]!;
      for (let i = 0; i < rows; i++) reduced -= c[basis[i]!]! * A[i]![j]!;
      if (reduced > 1e-9) {
        enter = j;
        break;
      }
    }
    if (enter < 0) break;
    let leave = -1;
    let ratio = Infinity;
    for (let i = 0; i < rows; i++) {
      const a = A[i]![enter]!;
      if (a > 1e-12) {
        const r = b[i]! / a;
        if (r < ratio - 1e-12 || (Math.abs(r - ratio) <= 1e-12 && basis[i]! < basis[leave]!)) {
          ratio = r;
          leave = i;
        }
      }
    }
    if (leave < 0) break; // unbounded cannot happen: every variable has an upper bound
    const pivot = A[leave]![enter]!;
    for (let j = 0; j < cols; j++) A[leave]![j]! /= pivot;
    b[leave]! /= pivot;
    for (let i = 0; i < rows; i++) {
      if (i === leave) continue;
      const f = A[i]![enter]!;
      if (f === 0) continue;
      for (let j = 0; j < cols; j++) A[i]![j]! -= f * A[leave]![j]!;
      b[i]! -= f * b[leave]!;
    }
    basis[leave] = enter;
  }
  let value = 0;
  for (let i = 0; i < rows; i++) value += c[basis[i]!]! * b[i]!;
  return value;
}
