/**
 * The admission order of `allocate()` (allocate-fill.ts `admit`): priority (highest first), tier,
 * tier key, arrival, then id. Sorting the sessions with a comparator was the largest single cost of
 * a call on a thousand chargers (Array#sort calls it through the runtime; a generic merge sort shared
 * by several orders cannot inline it), so the keys are copied into typed arrays once and positions
 * sorted by a merge sort written for this order, within buckets of one priority and tier. The order
 * is strict and total (the id breaks every tie), so the result is the one any correct sort gives.
 */
import { arrivedAtOf, tierKeyOf, type Session } from './allocate-sessions.js';
import { scratchF64, scratchI32, scratchList, where } from './allocate-scratch.js';

/** `sessions` (in id order) without a start hold, in admission order. */
export function admissionOrder(sessions: readonly Session[]): Session[] {
  const group = where(sessions, (s) => s.startHold === undefined);
  const n = group.length;
  // Priority and tier first: a few classes of each, so counted into buckets (rank * 4 + tier) in id
  // order, and only each bucket sorted by the remaining keys. Priorities are finite (toSession), so
  // `y - x` orders them as the comparator did.
  const ranks: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = (group[i] as Session).priority;
    if (!ranks.includes(p)) ranks.push(p);
  }
  ranks.sort((x, y) => y - x);
  const rankOf = ranks.length <= 8 ? undefined : new Map(ranks.map((p, r) => [p, r]));
  const buckets = ranks.length * TIERS;
  const start = scratchI32(buckets + 1);
  const bucket = scratchI32(n);
  const tierKey = scratchF64(n);
  const arrivedAt = scratchF64(n);
  for (let i = 0; i < n; i++) {
    const s = group[i] as Session;
    const rank = rankOf === undefined ? ranks.indexOf(s.priority) : (rankOf.get(s.priority) as number);
    const b = rank * TIERS + s.tier;
    bucket[i] = b;
    start[b + 1] = (start[b + 1] as number) + 1;
    tierKey[i] = tierKeyOf(s.charger, s.tier);
    arrivedAt[i] = arrivedAtOf(s);
  }
  for (let b = 0; b < buckets; b++) start[b + 1] = (start[b + 1] as number) + (start[b] as number);
  const src = scratchI32(n);
  const dst = scratchI32(n);
  const next = scratchI32(buckets);
  next.set(start.subarray(0, buckets));
  for (let i = 0; i < n; i++) {
    const b = bucket[i] as number;
    src[next[b] as number] = i;
    next[b] = (next[b] as number) + 1;
  }
  // As `x.tierKey - y.tierKey || x.arrivedAt - y.arrivedAt || x.pos - y.pos`: a difference of 0 or
  // NaN (two equal infinities) passes to the next key; positions are in id order.
  const before = (i: number, j: number): boolean => {
    let d = (tierKey[i] as number) - (tierKey[j] as number);
    if (d < 0 || d > 0) return d < 0;
    d = (arrivedAt[i] as number) - (arrivedAt[j] as number);
    if (d < 0 || d > 0) return d < 0;
    return i < j;
  };
  for (let b = 0; b < buckets; b++) sortRange(src, dst, start[b] as number, start[b + 1] as number, before);
  const order = scratchList<Session>(n);
  for (let i = 0; i < n; i++) order[i] = group[src[i] as number] as Session;
  return order;
}

/** Tier values (allocate-sessions.ts `Tier`): 0 to 3. */
const TIERS = 4;
const RUN = 12;

/** Sorts a[lo..hi) by `before` (a strict total order): insertion-sorted runs, then merges through `tmp`. */
function sortRange(a: Int32Array, tmp: Int32Array, lo: number, hi: number, before: (i: number, j: number) => boolean): void {
  for (let r = lo; r < hi; r += RUN) {
    const end = Math.min(r + RUN, hi);
    for (let i = r + 1; i < end; i++) {
      const x = a[i] as number;
      let j = i - 1;
      for (; j >= r && before(x, a[j] as number); j--) a[j + 1] = a[j] as number;
      a[j + 1] = x;
    }
  }
  let src = a;
  let dst = tmp;
  for (let width = RUN; width < hi - lo; width *= 2) {
    for (let l = lo; l < hi; l += 2 * width) {
      const mid = Math.min(l + width, hi);
      const h = Math.min(l + 2 * width, hi);
      let i = l;
      let j = mid;
      let o = l;
      while (i < mid && j < h) dst[o++] = before(src[j] as number, src[i] as number) ? (src[j++] as number) : (src[i++] as number);
      while (i < mid) dst[o++] = src[i++] as number;
      while (j < h) dst[o++] = src[j++] as number;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== a) a.set(src.subarray(lo, hi), lo);
}
