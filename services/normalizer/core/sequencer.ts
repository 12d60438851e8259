/**
 * Per-product trade sequencer with a reorder window (DESIGN.md "Validation and ordering").
 * Pure: time comes in as `nowMs`, results go out as data.
 *
 * State: the high-water mark `hw` (every id ≤ hw is resolved: emitted, or announced in a
 * gap), and trades held back while the next expected id (hw + 1) is missing. A held
 * trade waits at most `windowMs`, and at most `windowMsgs` trades are held; past either
 * bound the missing ids below it are announced as a gap and the held trades released in
 * order. A heartbeat's `last_trade_id` beyond the mark is held the same way: the feed may
 * send a trade after a heartbeat that counts it (Coinbase does not promise order across
 * channels), so its missing tail is announced only once the window passed. Invariant: the outputs' id ranges (emit = [id, id], gap = [from, to]) are
 * contiguous and strictly increasing from the first trade (or the restored mark) on.
 *
 * Ids are decimal-integer strings (trade ids outgrow 2^53 eventually) compared as BigInt.
 */

export type SeqOutput<P> =
  | { kind: 'emit'; tradeId: string; payload: P }
  | { kind: 'gap'; from: string; to: string }
  | { kind: 'duplicate'; tradeId: string }
  | { kind: 'late'; tradeId: string };

export interface SequencerOptions {
  /** REORDER_WINDOW_MS: the longest a trade is held back behind a missing id. */
  windowMs?: number;
  /** REORDER_WINDOW_MSGS: the most trades held back at once. */
  windowMsgs?: number;
  /** Announced gaps remembered to tell `late` from `duplicate` (older ones count as duplicate). */
  gapMemory?: number;
}

export const DEFAULT_WINDOW_MS = 250;
export const DEFAULT_WINDOW_MSGS = 100;

interface Held<P> {
  id: bigint;
  payload: P;
  atMs: number;
}

const DIGITS = /^[0-9]{1,30}$/;

export function parseTradeId(id: string): bigint {
  if (!DIGITS.test(id))
    throw new RangeError(`not a decimal-integer trade id: ${JSON.stringify(id)}`);
  return BigInt(id);
}

export class TradeSequencer<P> {
  private readonly windowMs: number;
  private readonly windowMsgs: number;
  private readonly gapMemory: number;
  private hw: bigint | undefined;
  /** Sorted by id, all > hw + 1 (hw + 1 itself is the missing one). */
  private held: Held<P>[] = [];
  /**
   * Heartbeats' `last_trade_id`s beyond the mark, ascending by id, each with when it came:
   * the tail up to one is announced once its window passed and no trade is held.
   */
  private trailing: { id: bigint; atMs: number }[] = [];
  /** Announced gaps, ascending and disjoint, the most recent `gapMemory` of them. */
  private gaps: [bigint, bigint][] = [];

  constructor(opts: SequencerOptions = {}) {
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    this.windowMsgs = opts.windowMsgs ?? DEFAULT_WINDOW_MSGS;
    this.gapMemory = opts.gapMemory ?? 1024;
    if (!(this.windowMs >= 0) || !Number.isInteger(this.windowMsgs) || this.windowMsgs < 0) {
      throw new RangeError('windowMs must be ≥ 0 and windowMsgs a non-negative integer');
    }
  }

  /** After a restart: every id ≤ highWater was published before (or announced missing). */
  restore(highWater: string | undefined): void {
    this.hw = highWater === undefined ? undefined : parseTradeId(highWater);
    this.held = [];
    this.trailing = [];
    this.gaps = [];
  }

  /** The last resolved id: what to checkpoint. Held trades are not included. */
  highWater(): string | undefined {
    return this.hw === undefined ? undefined : String(this.hw);
  }

  heldCount(): number {
    return this.held.length;
  }

  /** When `tick` next has something to release (the shell's timer); undefined if nothing waits. */
  nextDeadline(): number | undefined {
    let min = Number.POSITIVE_INFINITY;
    for (const h of this.held) min = Math.min(min, h.atMs);
    const t = this.trailing[0];
    if (t !== undefined) min = Math.min(min, t.atMs);
    return min === Number.POSITIVE_INFINITY ? undefined : min + this.windowMs;
  }

  /**
   * A trade, then the window's expiries: the trade is placed first, so a trade that
   * arrives after its window passed but before any timer noticed (a busy process) fills
   * its place instead of being announced missing and then refused as late.
   */
  offer(tradeId: string, payload: P, nowMs: number): SeqOutput<P>[] {
    const out: SeqOutput<P>[] = [];
    this.place(parseTradeId(tradeId), payload, nowMs, out);
    this.expire(nowMs, out);
    return out;
  }

  private place(id: bigint, payload: P, nowMs: number, out: SeqOutput<P>[]): void {
    const hw = this.hw;
    if (hw === undefined) {
      // The first trade ever: nothing before it is owed, so no gap.
      this.emit({ id, payload, atMs: nowMs }, out);
      return;
    }
    if (id <= hw) {
      out.push({ kind: this.inAnnouncedGap(id) ? 'late' : 'duplicate', tradeId: String(id) });
      return;
    }
    if (id === hw + 1n) {
      this.emit({ id, payload, atMs: nowMs }, out);
      this.drain(out);
      this.settleTrailing(nowMs, out);
      return;
    }
    const at = this.search(id);
    if (at.found) {
      out.push({ kind: 'duplicate', tradeId: String(id) });
      return;
    }
    this.held.splice(at.index, 0, { id, payload, atMs: nowMs });
    while (this.held.length > this.windowMsgs) {
      const first = this.held[0];
      if (first === undefined) break;
      this.releaseThrough(first.id, out);
    }
    this.settleTrailing(nowMs, out);
  }

  /** Releases the held trades whose window has passed. */
  tick(nowMs: number): SeqOutput<P>[] {
    const out: SeqOutput<P>[] = [];
    this.expire(nowMs, out);
    return out;
  }

  /**
   * A heartbeat's `last_trade_id`: trades up to it exist. Beyond the mark, the missing tail
   * waits like a held trade: it is announced once `windowMs` passed and the held trades are
   * resolved, unless the trades arrive first (a trade sent after the heartbeat that counts
   * it, e.g. reordered by the feed, is not called missing and then refused as late).
   * Ignored before the first trade (no mark to measure from).
   */
  heartbeat(lastTradeId: string, nowMs: number): SeqOutput<P>[] {
    const id = parseTradeId(lastTradeId);
    const out: SeqOutput<P>[] = [];
    this.expire(nowMs, out);
    if (this.hw === undefined || id <= this.hw) return out;
    const newest = this.trailing.at(-1);
    if (newest === undefined || id > newest.id) {
      this.trailing.push({ id, atMs: nowMs });
      // Bounded like the held trades: past it, the oldest marks merge into the next one,
      // which keeps the oldest deadline.
      const cap = Math.max(this.windowMsgs, 1);
      const oldest = this.trailing[0]?.atMs ?? nowMs;
      if (this.trailing.length > cap) this.trailing.splice(0, this.trailing.length - cap);
      const first = this.trailing[0];
      if (first !== undefined) first.atMs = Math.min(first.atMs, oldest);
    }
    this.settleTrailing(nowMs, out);
    return out;
  }

  private expire(nowMs: number, out: SeqOutput<P>[]): void {
    let through: bigint | undefined;
    for (const h of this.held) {
      if (nowMs - h.atMs >= this.windowMs && (through === undefined || h.id > through)) {
        through = h.id;
      }
    }
    if (through !== undefined) this.releaseThrough(through, out);
    this.settleTrailing(nowMs, out);
  }

  /** Resolves every id up to `through` (a held id): gaps for the missing, held ones emitted;
   * then whatever continues contiguously. */
  private releaseThrough(through: bigint, out: SeqOutput<P>[]): void {
    let n = 0;
    while (n < this.held.length) {
      const h = this.held[n];
      if (h === undefined || h.id > through) break;
      const next = (this.hw ?? h.id - 1n) + 1n;
      if (h.id > next) this.announce(next, h.id - 1n, out);
      this.emit(h, out);
      n++;
    }
    this.held.splice(0, n);
    this.drain(out);
  }

  private drain(out: SeqOutput<P>[]): void {
    let n = 0;
    while (n < this.held.length) {
      const h = this.held[n];
      if (h === undefined || this.hw === undefined || h.id !== this.hw + 1n) break;
      this.emit(h, out);
      n++;
    }
    if (n > 0) this.held.splice(0, n);
  }

  /** Announces the tail up to the newest heartbeat mark whose window passed, once nothing is held. */
  private settleTrailing(nowMs: number, out: SeqOutput<P>[]): void {
    const hw = this.hw;
    if (hw === undefined) return;
    let n = 0;
    while (n < this.trailing.length && (this.trailing[n]?.id ?? 0n) <= hw) n++;
    if (n > 0) this.trailing.splice(0, n);
    if (this.held.length > 0) return;
    let due = -1;
    this.trailing.forEach((t, i) => {
      if (nowMs - t.atMs >= this.windowMs) due = i;
    });
    const through = this.trailing[due];
    if (through === undefined) return;
    this.trailing.splice(0, due + 1);
    this.announce(hw + 1n, through.id, out);
  }

  private emit(h: Held<P>, out: SeqOutput<P>[]): void {
    out.push({ kind: 'emit', tradeId: String(h.id), payload: h.payload });
    this.hw = h.id;
  }

  private announce(from: bigint, to: bigint, out: SeqOutput<P>[]): void {
    out.push({ kind: 'gap', from: String(from), to: String(to) });
    this.hw = to;
    this.gaps.push([from, to]);
    if (this.gaps.length > this.gapMemory) this.gaps.splice(0, this.gaps.length - this.gapMemory);
  }

  private inAnnouncedGap(id: bigint): boolean {
    let lo = 0;
    let hi = this.gaps.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const g = this.gaps[mid];
      if (g === undefined) return false;
      if (id < g[0]) hi = mid - 1;
      else if (id > g[1]) lo = mid + 1;
      else return true;
    }
    return false;
  }

  private search(id: bigint): { found: boolean; index: number } {
    let lo = 0;
    let hi = this.held.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const h = this.held[mid];
      if (h === undefined) break;
      if (h.id < id) lo = mid + 1;
      else hi = mid;
    }
    return { found: this.held[lo]?.id === id, index: lo };
  }
}

/**
 * Exchange tickers are ordered by the product's `sequence` (DESIGN.md "Normalized
 * messages"; not contiguous on `ticker`, PROTOCOL.md §0.2): a ticker at or below the last
 * accepted sequence is stale (a duplicate or out of order) and dropped.
 */
export class SequenceFilter {
  private last: bigint | undefined;

  restore(last: string | undefined): void {
    this.last = last === undefined ? undefined : parseTradeId(last);
  }

  accept(sequence: string): 'ok' | 'stale' {
    const s = parseTradeId(sequence);
    if (this.last !== undefined && s <= this.last) return 'stale';
    this.last = s;
    return 'ok';
  }

  lastAccepted(): string | undefined {
    return this.last === undefined ? undefined : String(this.last);
  }
}

/**
 * Advanced Trade tickers carry no sequence of their own: they are ordered by
 * (connection, `sequence_num`) (DESIGN.md "Normalized messages"). A new connection starts
 * a new order (its frames are stored after the old one's); within a connection a ticker
 * at or below the last accepted number is stale (a late frame) and dropped.
 */
export class ConnectionOrderFilter {
  private conn: string | undefined;
  private last: number | undefined;

  accept(conn: string, sequenceNum: number | undefined): 'ok' | 'stale' {
    if (conn !== this.conn) {
      this.conn = conn;
      this.last = sequenceNum;
      return 'ok';
    }
    if (sequenceNum === undefined) return 'ok';
    if (this.last !== undefined && sequenceNum <= this.last) return 'stale';
    this.last = sequenceNum;
    return 'ok';
  }
}

/** The larger of two decimal-integer ids (either may be unset). */
export function maxTradeId(a: string | undefined, b: string): string {
  if (a === undefined) return b;
  return parseTradeId(a) >= parseTradeId(b) ? a : b;
}
