/**
 * Work buffers for one `allocate()` call, reused from call to call. A typed array of a few hundred
 * elements has its memory outside the V8 heap, and making one costs microseconds and GC work: a
 * thousand chargers on 61 circuits made about a hundred per call, a tenth of the call's time.
 * `allocate()` runs to its end without yielding and calls nothing outside the allocator, so one set
 * per module instance is never in use twice at once; `resetScratch()` at the start of each call hands
 * them all out again (also after a call that threw). Nothing in a result may point into them.
 */
interface Pool<T> {
  readonly make: (n: number) => T;
  readonly buffers: T[];
  /** The last view of each buffer: a call asks each slot for the same length as the call before. */
  readonly views: T[];
  top: number;
}

const pool = <T>(make: (n: number) => T): Pool<T> => ({ make, buffers: [], views: [], top: 0 });
const f64 = pool((n) => new Float64Array(n));
const i32 = pool((n) => new Int32Array(n));
const u8 = pool((n) => new Uint8Array(n));

/** Lists of sessions (orders, classes), reused the same way: set to the length asked for. */
const lists: unknown[][] = [];
let listTop = 0;

/** Every buffer free again: called once at the start of `allocate()`. */
export function resetScratch(): void {
  f64.top = 0;
  i32.top = 0;
  u8.top = 0;
  listTop = 0;
}

type Mark = readonly [number, number, number];

/**
 * Where the pools stand: `releaseScratch(mark)` frees the typed arrays handed out since (a loop's
 * buffers). Not the lists: each round of the loop keeps its own, so a list is asked for the same
 * length call after call (one made longer than it was is copied, and they differ by class).
 */
export function scratchMark(): Mark {
  return [f64.top, i32.top, u8.top];
}

export function releaseScratch(mark: Mark): void {
  [f64.top, i32.top, u8.top] = mark;
}

/**
 * A list of length n, its slots to be written before they are read (it holds what the last call put
 * there), valid until the next `resetScratch()`. Nothing in a result may be one.
 */
export function scratchList<T>(n: number): T[] {
  let list = lists[listTop];
  if (list === undefined) lists[listTop] = list = [];
  listTop++;
  list.length = n;
  return list as T[];
}

function take<T extends Float64Array | Int32Array | Uint8Array>(p: Pool<T>, n: number): T {
  let b = p.buffers[p.top];
  if (b === undefined || b.length < n) {
    // Grown with room to spare, so an installation that grows by a few chargers does not reallocate.
    b = p.make(Math.max(16, n + (n >> 1)));
    p.buffers[p.top] = b;
  }
  let view = p.views[p.top];
  if (view === undefined || view.length !== n || view.buffer !== b.buffer) {
    view = b.subarray(0, n) as T;
    p.views[p.top] = view;
  }
  p.top++;
  view.fill(0);
  return view;
}

/** A zeroed Float64Array of length n, valid until the next `resetScratch()`. */
export const scratchF64 = (n: number): Float64Array => take(f64, n);
export const scratchI32 = (n: number): Int32Array => take(i32, n);
export const scratchU8 = (n: number): Uint8Array => take(u8, n);

/**
 * `list.filter(keep)`, counted first, into a scratch list (valid until the next `resetScratch()`):
 * filter grows a new array step by step, and those copies were most of what the fill and the
 * admission order allocated.
 */
export function where<T>(list: readonly T[], keep: (x: T) => boolean): T[] {
  let n = 0;
  for (let i = 0; i < list.length; i++) if (keep(list[i] as T)) n++;
  const out = scratchList<T>(n);
  let o = 0;
  for (let i = 0; i < list.length && o < n; i++) if (keep(list[i] as T)) out[o++] = list[i] as T;
  return out;
}
