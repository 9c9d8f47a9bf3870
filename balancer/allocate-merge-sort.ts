/**
 * A stable merge sort in place, for the allocator's orders. Array#sort calls its comparator through
 * the runtime for every comparison, which was a tenth of allocate() on a thousand chargers; here
 * `before` is an ordinary call that the JIT inlines. The orders sorted with it are strict total
 * orders (the id breaks every tie), so the result is the one Array#sort gives.
 */
const RUN = 12;

/** Sorts `a` so that no element comes after one it is `before`; equal ones keep their order. */
export function mergeSort<T>(a: T[], before: (x: T, y: T) => boolean): T[] {
  const n = a.length;
  for (let lo = 0; lo < n; lo += RUN) {
    const hi = Math.min(lo + RUN, n);
    for (let i = lo + 1; i < hi; i++) {
      const x = a[i] as T;
      let j = i - 1;
      for (; j >= lo && before(x, a[j] as T); j--) a[j + 1] = a[j] as T;
      a[j + 1] = x;
    }
  }
  if (n <= RUN) return a;
  let src = a;
  let dst = new Array<T>(n);
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let o = lo;
      while (i < mid && j < hi) dst[o++] = before(src[j] as T, src[i] as T) ? (src[j++] as T) : (src[i++] as T);
      while (i < mid) dst[o++] = src[i++] as T;
      while (j < hi) dst[o++] = src[j++] as T;
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== a) for (let i = 0; i < n; i++) a[i] = src[i] as T;
  return a;
}
