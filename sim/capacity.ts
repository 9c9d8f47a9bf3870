/**
 * The reference for utilisation = delivered / min(demand, capacity): what an ideal balancer with
 * perfect information and no delay would deliver now (sum over the three phases, A). Ideal means the
 * platform's own rules applied to the truth: per-phase headroom (fuse minus the real base load), each
 * car loading its real phases with the same current on each, its real demand as a ceiling, no car
 * below its minimum, and max-min fair filling among the admitted cars. When not every minimum fits,
 * every maximal admissible set of cars is tried and the best total is the reference, so the platform
 * is never credited for an admission choice it could not have made better.
 */

export interface CarDemand {
  /** Grid phases the car loads: bit 0 = L1, 1 = L2, 2 = L3. */
  readonly mask: number;
  /** Minimum current when running (A per phase). */
  readonly min: number;
  /** What the car would draw if allowed (A per phase); 0 = wants nothing. */
  readonly demand: number;
}

const STEP = 0.1;
const EPS = 1e-9;
const bitsOf = (mask: number): number => (mask & 1) + ((mask >> 1) & 1) + ((mask >> 2) & 1);

/** Max-min fair filling of the admitted cars from their minimums; returns the sum over phases (A). */
export function fairFill(room: readonly number[], cars: readonly CarDemand[]): number {
  const left = [...room];
  const a = cars.map((c) => c.min);
  for (const c of cars) for (let p = 0; p < 3; p++) if (c.mask & (1 << p)) left[p]! -= c.min;
  const frozen = cars.map((c) => c.demand <= c.min + EPS);
  for (let guard = 0; guard < 100_000; guard++) {
    let level = Infinity;
    for (let i = 0; i < cars.length; i++) if (!frozen[i]) level = Math.min(level, a[i]!);
    if (level === Infinity) break;
    for (let i = 0; i < cars.length; i++) {
      if (frozen[i] || a[i]! > level + EPS) continue;
      const c = cars[i]!;
      const step = Math.min(STEP, c.demand - a[i]!);
      let fits = true;
      for (let p = 0; p < 3; p++) if (c.mask & (1 << p) && left[p]! < step - EPS) fits = false;
      if (!fits) {
        frozen[i] = true;
        continue;
      }
      a[i]! += step;
      for (let p = 0; p < 3; p++) if (c.mask & (1 << p)) left[p]! -= step;
      if (a[i]! >= c.demand - EPS) frozen[i] = true;
    }
  }
  return cars.reduce((s, c, i) => s + a[i]! * bitsOf(c.mask), 0);
}

/** The ideal balancer's total (A, summed over phases) for this headroom and these cars. */
export function achievableCurrent(headroom: readonly [number, number, number], cars: readonly CarDemand[]): number {
  const cap = headroom.map((h) => Math.max(0, h));
  const active = cars.filter((c) => c.demand > 0 && c.demand >= c.min && c.mask !== 0);
  const groups = new Map<string, CarDemand[]>();
  for (const c of active) {
    const key = `${c.mask}:${c.min}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  // Cars of one group are interchangeable but for their demand: running the hungriest is never worse.
  const lists = [...groups.values()].map((g) => [...g].sort((x, y) => y.demand - x.demand));
  const counts = new Array<number>(lists.length).fill(0);
  let best = 0;
  const visit = (g: number): void => {
    if (g < lists.length) {
      for (let k = 0; k <= lists[g]!.length; k++) {
        counts[g] = k;
        visit(g + 1);
      }
      return;
    }
    const room = [...cap];
    const admitted: CarDemand[] = [];
    lists.forEach((list, gi) => {
      for (let i = 0; i < counts[gi]!; i++) {
        const c = list[i]!;
        admitted.push(c);
        for (let p = 0; p < 3; p++) if (c.mask & (1 << p)) room[p]! -= c.min;
      }
    });
    if (room.some((r) => r < -EPS)) return;
    // Maximal: no waiting car's minimum would still fit.
    const maximal = lists.every((list, gi) => {
      const next = list[counts[gi]!];
      if (!next) return true;
      for (let p = 0; p < 3; p++) if (next.mask & (1 << p) && room[p]! < next.min - EPS) return true;
      return false;
    });
    if (maximal) best = Math.max(best, fairFill(cap, admitted));
  };
  visit(0);
  return best;
}
