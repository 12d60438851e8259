import { canonicalOf, compareMagnitude, parseDecimal, type ParsedDecimal } from './decimal.js';

/**
 * A full-depth L2 book for one product (Exchange `snapshot` + `l2update`, absolute sizes;
 * PROTOCOL.md §0.6). Prices compare numerically ("100.50" is the level "100.5"); a size
 * of zero in any spelling deletes the level (PROTOCOL.md §0.1). The original price and
 * size strings are kept and returned by `top`.
 *
 * Each side is a Map keyed by the canonical price (O(1) lookup) plus a chunked sorted list
 * best-first (binary search over chunks, then within a chunk of ≤ CHUNK_MAX levels), so a
 * change costs O(log n + CHUNK_MAX) and `top(n)` reads the first n entries.
 *
 * Validity (DESIGN.md "Validation and ordering"): invalid before the first snapshot,
 * after a frame left the book crossed, after a frame with dropped levels, or when the
 * caller invalidates it; valid again only through a snapshot that is itself clean.
 */

export type BookSide = 'buy' | 'sell';
export type PriceLevel = readonly [price: string, size: string];
export type BookChange = readonly [side: BookSide, price: string, size: string];

/** `no_snapshot`, `crossed`, `dropped_levels`, or the caller's own (`too_large`, `restart`, …). */
export type InvalidReason = string;

export interface ApplyResult {
  /** The book's validity after the frame. */
  valid: boolean;
  /** Set when this frame turned a valid book invalid (publish `book_invalid` once). */
  invalidated: InvalidReason | undefined;
  /** Set by a snapshot that made an invalid book valid (publish `book_resynced`). */
  resynced: boolean;
  /** False only when the top `depth` levels of both sides are certainly unchanged. */
  topChanged: boolean;
  /** Levels the book itself refused (not a decimal, or negative). */
  dropped: number;
}

export interface TopOfBook {
  bids: [string, string][];
  asks: [string, string][];
}

const CHUNK_MAX = 128;

interface Level {
  price: string;
  size: string;
  readonly d: ParsedDecimal;
}

class SideBook {
  readonly map = new Map<string, Level>();
  private chunks: Level[][] = [];

  /** Bids are best-first descending, asks ascending. */
  constructor(private readonly descending: boolean) {}

  private cmp(a: ParsedDecimal, b: ParsedDecimal): number {
    const c = compareMagnitude(a, b);
    return this.descending ? -c : c;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.chunks = [];
  }

  /** Loads levels in any order; later ones win, zero sizes are skipped. */
  load(levels: Level[]): void {
    this.clear();
    for (const l of levels) {
      const key = canonicalOf(l.d);
      if (parseDecimal(l.size)?.sign === 0) this.map.delete(key);
      else this.map.set(key, l);
    }
    const sorted = [...this.map.values()].sort((a, b) => this.cmp(a.d, b.d));
    for (let i = 0; i < sorted.length; i += CHUNK_MAX) {
      this.chunks.push(sorted.slice(i, i + CHUNK_MAX));
    }
  }

  /** Sets a level to an absolute size (zero deletes). Returns whether anything changed. */
  set(price: string, d: ParsedDecimal, size: string, zero: boolean): boolean {
    const key = canonicalOf(d);
    const existing = this.map.get(key);
    if (zero) {
      if (existing === undefined) return false;
      this.map.delete(key);
      this.remove(d);
      return true;
    }
    if (existing !== undefined) {
      const changed = existing.size !== size || existing.price !== price;
      existing.size = size;
      existing.price = price;
      return changed;
    }
    const level: Level = { price, size, d };
    this.map.set(key, level);
    this.insert(level);
    return true;
  }

  /** Index of the first chunk whose last level is at or after d (chunks.length if none). */
  private chunkFor(d: ParsedDecimal): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const chunk = this.chunks[mid] ?? [];
      const last = chunk[chunk.length - 1];
      if (last !== undefined && this.cmp(last.d, d) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index in the chunk whose level is at or after d. */
  private indexIn(chunk: Level[], d: ParsedDecimal): number {
    let lo = 0;
    let hi = chunk.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const l = chunk[mid];
      if (l !== undefined && this.cmp(l.d, d) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private insert(level: Level): void {
    if (this.chunks.length === 0) {
      this.chunks.push([level]);
      return;
    }
    let ci = this.chunkFor(level.d);
    if (ci === this.chunks.length) ci--;
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    chunk.splice(this.indexIn(chunk, level.d), 0, level);
    if (chunk.length > CHUNK_MAX * 2) {
      this.chunks.splice(ci + 1, 0, chunk.splice(CHUNK_MAX));
    }
  }

  private remove(d: ParsedDecimal): void {
    const ci = this.chunkFor(d);
    const chunk = this.chunks[ci];
    if (chunk === undefined) return;
    const i = this.indexIn(chunk, d);
    const l = chunk[i];
    if (l === undefined || compareMagnitude(l.d, d) !== 0) return;
    chunk.splice(i, 1);
    if (chunk.length === 0) {
      this.chunks.splice(ci, 1);
    } else if (chunk.length < CHUNK_MAX / 4) {
      // Merge a small chunk into its successor so deletes never fragment the list.
      const next = this.chunks[ci + 1];
      if (next !== undefined && chunk.length + next.length <= CHUNK_MAX) {
        this.chunks.splice(ci, 2, chunk.concat(next));
      }
    }
  }

  best(): Level | undefined {
    return this.chunks[0]?.[0];
  }

  /** The level at rank i (0 = best), walking chunks. */
  nth(i: number): Level | undefined {
    let rest = i;
    for (const chunk of this.chunks) {
      if (rest < chunk.length) return chunk[rest];
      rest -= chunk.length;
    }
    return undefined;
  }

  /** Would a change at d touch the first `depth` levels? (False positives allowed.) */
  touchesTop(d: ParsedDecimal, depth: number): boolean {
    if (this.map.size < depth) return true;
    const boundary = this.nth(depth - 1);
    return boundary === undefined || this.cmp(d, boundary.d) <= 0;
  }

  top(n: number): [string, string][] {
    const out: [string, string][] = [];
    for (const chunk of this.chunks) {
      for (const l of chunk) {
        if (out.length >= n) return out;
        out.push([l.price, l.size]);
      }
    }
    return out;
  }
}

export class L2Book {
  private readonly bids = new SideBook(true);
  private readonly asks = new SideBook(false);
  private reason: InvalidReason | undefined = 'no_snapshot';
  private readonly depth: number;

  /** `depth`: the published top-N, used only to tell whether a frame changed the top. */
  constructor(opts: { depth?: number } = {}) {
    this.depth = Math.max(1, Math.floor(opts.depth ?? 50));
  }

  get valid(): boolean {
    return this.reason === undefined;
  }

  get invalidReason(): InvalidReason | undefined {
    return this.reason;
  }

  /** Marks the book for resync (e.g. `too_large`, a missing raw frame, a restart). */
  invalidate(reason: InvalidReason): InvalidReason | undefined {
    if (this.reason !== undefined) return undefined;
    this.reason = reason;
    return reason;
  }

  /** Replaces the whole book. `dropped`: levels the mapper already removed from the frame. */
  applySnapshot(
    bids: readonly PriceLevel[],
    asks: readonly PriceLevel[],
    dropped = 0,
  ): ApplyResult {
    const wasValid = this.valid;
    let refused = 0;
    const parse = (levels: readonly PriceLevel[]): Level[] => {
      const out: Level[] = [];
      for (const [price, size] of levels) {
        const d = parseDecimal(price);
        const s = parseDecimal(size);
        if (d === undefined || s === undefined || d.sign < 0 || s.sign < 0) refused++;
        else out.push({ price, size, d });
      }
      return out;
    };
    this.bids.load(parse(bids));
    this.asks.load(parse(asks));
    this.reason = undefined;
    if (dropped + refused > 0) this.reason = 'dropped_levels';
    else if (this.isCrossed()) this.reason = 'crossed';
    return {
      valid: this.valid,
      invalidated: wasValid ? this.reason : undefined,
      resynced: !wasValid && this.valid,
      topChanged: true,
      dropped: refused,
    };
  }

  /** Applies one frame's changes (absolute sizes), then checks the whole frame for a cross. */
  applyChanges(changes: readonly BookChange[], dropped = 0): ApplyResult {
    const wasValid = this.valid;
    let refused = 0;
    let topChanged = false;
    for (const [side, price, size] of changes) {
      const d = parseDecimal(price);
      const s = parseDecimal(size);
      const book = side === 'buy' ? this.bids : this.asks;
      if (d === undefined || s === undefined || d.sign < 0 || s.sign < 0) {
        refused++;
        continue;
      }
      const touches = !topChanged && book.touchesTop(d, this.depth);
      const changed = book.set(price, d, size, s.sign === 0);
      if (touches && changed) topChanged = true;
    }
    if (dropped + refused > 0) this.invalidate('dropped_levels');
    if (this.isCrossed()) this.invalidate('crossed');
    return {
      valid: this.valid,
      invalidated: wasValid ? this.reason : undefined,
      resynced: false,
      topChanged,
      dropped: refused,
    };
  }

  /** Best bid ≥ best ask (both sides present). */
  isCrossed(): boolean {
    const b = this.bids.best();
    const a = this.asks.best();
    return b !== undefined && a !== undefined && compareMagnitude(b.d, a.d) >= 0;
  }

  /** The best n levels per side, best first, as the strings received. */
  top(n: number): TopOfBook {
    return { bids: this.bids.top(n), asks: this.asks.top(n) };
  }

  bestBid(): PriceLevel | undefined {
    const l = this.bids.best();
    return l === undefined ? undefined : [l.price, l.size];
  }

  bestAsk(): PriceLevel | undefined {
    const l = this.asks.best();
    return l === undefined ? undefined : [l.price, l.size];
  }

  levelCount(): { bids: number; asks: number } {
    return { bids: this.bids.size, asks: this.asks.size };
  }
}
