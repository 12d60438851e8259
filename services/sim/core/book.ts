/**
 * One side of an L2 book as two parallel sorted arrays with the BEST level LAST, so the
 * churn near the top of a book of 100k+ levels (full depth) splices near the end.
 * Prices are integer ticks, sizes integer size units; size 0 means "no level".
 */
export class BookSide {
  /** Sort keys ascending: price for bids (best = highest), -price for asks. */
  private readonly keys: number[] = [];
  private readonly sizes: number[] = [];

  constructor(readonly side: 'buy' | 'sell') {}

  get length(): number {
    return this.keys.length;
  }

  private key(price: number): number {
    return this.side === 'buy' ? price : -price;
  }

  private priceOf(key: number): number {
    return this.side === 'buy' ? key : -key;
  }

  /** Index of the first key >= k (binary search). */
  private lowerBound(k: number): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.keys[mid] ?? 0) < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Best price, or undefined when the side is empty. */
  best(): number | undefined {
    const k = this.keys[this.keys.length - 1];
    return k === undefined ? undefined : this.priceOf(k);
  }

  /** Worst (farthest from the spread) price. */
  worst(): number | undefined {
    const k = this.keys[0];
    return k === undefined ? undefined : this.priceOf(k);
  }

  get(price: number): number {
    const k = this.key(price);
    const i = this.lowerBound(k);
    return this.keys[i] === k ? (this.sizes[i] ?? 0) : 0;
  }

  /** Sets a level to an absolute size; 0 deletes it. */
  set(price: number, size: number): void {
    const k = this.key(price);
    const i = this.lowerBound(k);
    const exists = this.keys[i] === k;
    if (size <= 0) {
      if (exists) {
        this.keys.splice(i, 1);
        this.sizes.splice(i, 1);
      }
      return;
    }
    if (exists) {
      this.sizes[i] = size;
      return;
    }
    if (i === this.keys.length) {
      this.keys.push(k);
      this.sizes.push(size);
    } else {
      this.keys.splice(i, 0, k);
      this.sizes.splice(i, 0, size);
    }
  }

  /** The n-th level from the best (0 = best), as [price, size]. */
  level(n: number): [number, number] | undefined {
    const i = this.keys.length - 1 - n;
    const k = this.keys[i];
    const s = this.sizes[i];
    return k === undefined || s === undefined ? undefined : [this.priceOf(k), s];
  }

  /** Levels best-first, at most `limit` of them. */
  *levels(limit = Infinity): Generator<[number, number]> {
    const end = Math.max(0, this.keys.length - limit);
    for (let i = this.keys.length - 1; i >= end; i--) {
      yield [this.priceOf(this.keys[i] ?? 0), this.sizes[i] ?? 0];
    }
  }

  /** Replaces the whole side from levels given best-first (bulk build). */
  load(levelsBestFirst: readonly (readonly [number, number])[]): void {
    this.keys.length = 0;
    this.sizes.length = 0;
    for (let i = levelsBestFirst.length - 1; i >= 0; i--) {
      const level = levelsBestFirst[i];
      if (level === undefined || level[1] <= 0) continue;
      const k = this.key(level[0]);
      const last = this.keys[this.keys.length - 1];
      if (last !== undefined && k <= last) throw new RangeError('load: levels not best-first');
      this.keys.push(k);
      this.sizes.push(level[1]);
    }
  }
}
