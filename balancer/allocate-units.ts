/**
 * The allocator's one unit and its constraint vectors.
 *
 * Inside `allocate()` every current is an integer number of deci-amperes (0.1 A, named `...Q`):
 * amperes are read in one place (`toSession`, and the offline step) and written in one place
 * (`buildResult`). Rounding is toward safety: capacity down, minimums up, maximums down.
 *
 * A constraint is one phase of one circuit: index `3 * circuit + phase`, circuit 0 being the
 * installation (its fuse). A session loads the constraints of its counted phases on every circuit
 * from its own up to the root, and `room[k]` is what constraint k has left.
 */

/** Float slack when converting amperes to 0.1 A units (in units: 1e-10 A), and for sums. */
export const EPS = 1e-9;
/** Amperes to 0.1 A, rounded down (capacity, maximums). */
export const qDown = (a: number): number => Math.floor(a * 10 + EPS);
/** Amperes to 0.1 A, rounded up (minimums, shortfalls). */
export const qUp = (a: number): number => Math.ceil(a * 10 - EPS);
/** Amperes to 0.1 A, unrounded: a limit in force kept as it is may lie between grid points. */
export const toQ = (a: number): number => a * 10;

/** Whether phase index `p` (0 = L1) is in the phase set `mask`. */
export const onPhase = (mask: number, p: number): boolean => (mask & (1 << p)) !== 0;

/** Constraint indices a session loads. */
export type Loads = readonly number[];

/**
 * One amount per constraint (room, load, count). Float64Array holds exactly what a JS number does, so
 * the arithmetic is unchanged; one element kind keeps the inner loops below monomorphic.
 */
export type Vec = Float64Array;

/** The constraints of phase set `mask` on each circuit of `chain` (circuit indices). */
export function loadsOf(mask: number, chain: readonly number[]): number[] {
  let phases = 0;
  for (let p = 0; p < 3; p++) if (onPhase(mask, p)) phases++;
  // Sized up front: grown by push, each of a few hundred short arrays would hold 17 slots.
  const loads = new Array<number>(phases * chain.length);
  let i = 0;
  for (const c of chain) for (let p = 0; p < 3; p++) if (onPhase(mask, p)) loads[i++] = 3 * c + p;
  return loads;
}

/** Every constraint in `loads` has at least `need` left. */
export function hasRoom(loads: Loads, room: Vec, need: number): boolean {
  for (let i = 0; i < loads.length; i++) if ((room[loads[i] as number] as number) < need) return false;
  return true;
}

export function take(loads: Loads, room: Vec, amount: number): void {
  for (let i = 0; i < loads.length; i++) {
    const k = loads[i] as number;
    room[k] = (room[k] as number) - amount;
  }
}

/** The least room over `loads` (Infinity for none). */
export function minRoom(loads: Loads, room: Vec): number {
  let least = Infinity;
  for (let i = 0; i < loads.length; i++) least = Math.min(least, room[loads[i] as number] as number);
  return least;
}
