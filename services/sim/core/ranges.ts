/**
 * A set of integers kept as sorted, disjoint, non-adjacent inclusive ranges. Trade ids
 * mostly arrive in order, so adding is an O(1) append/extend; out-of-order ids (reorder,
 * duplicates, write callbacks) take a binary search.
 */
export type Range = [from: number, to: number];

export class RangeSet {
  private readonly r: Range[] = [];
  private n = 0;

  get size(): number {
    return this.n;
  }

  add(id: number): void {
    const r = this.r;
    const last = r[r.length - 1];
    if (last === undefined || id > last[1] + 1) {
      r.push([id, id]);
      this.n++;
      return;
    }
    if (id === last[1] + 1) {
      last[1] = id;
      this.n++;
      return;
    }
    // Binary search for the first range whose end >= id - 1.
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((r[mid]?.[1] ?? 0) < id - 1) lo = mid + 1;
      else hi = mid;
    }
    const cur = r[lo];
    if (cur === undefined) return;
    if (id >= cur[0] && id <= cur[1]) return; // already present
    if (id === cur[1] + 1) {
      cur[1] = id;
      const next = r[lo + 1];
      if (next !== undefined && next[0] === id + 1) {
        cur[1] = next[1];
        r.splice(lo + 1, 1);
      }
    } else if (id === cur[0] - 1) {
      cur[0] = id;
    } else {
      r.splice(lo, 0, [id, id]);
    }
    this.n++;
  }

  has(id: number): boolean {
    let lo = 0;
    let hi = this.r.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const cur = this.r[mid];
      if (cur === undefined) return false;
      if (id < cur[0]) hi = mid - 1;
      else if (id > cur[1]) lo = mid + 1;
      else return true;
    }
    return false;
  }

  ranges(): Range[] {
    return this.r.map(([a, b]) => [a, b]);
  }
}

/** Expands inclusive ranges to the ids they hold (for tests and small logs). */
export function expandRanges(ranges: readonly (readonly [number, number])[]): number[] {
  const out: number[] = [];
  for (const [a, b] of ranges) for (let i = a; i <= b; i++) out.push(i);
  return out;
}
