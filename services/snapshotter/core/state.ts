import { assertNever } from '../../common/assert.js';
import type { Level, Normalized } from '../../common/schemas/normalized.js';

/**
 * The point-in-time state of one product, folded from MD_NORM in stream order, and the
 * snapshot rule (DESIGN.md "PostgreSQL"): snapshots follow message time. Per product the
 * fold keeps the high-water mark of exchange time; the first message whose interval
 * (floor(time / interval)) lies past that mark triggers a snapshot of the state BEFORE
 * it, keyed at the first boundary crossed. So:
 *
 *   snapshot at B = the fold of the messages before the first one whose time is ≥ B,
 *
 * and the latest state row is the snapshot-to-be at `nextBoundary`. `stateAt(T)` reads
 * the one with the greatest key ≤ T. The fold is deterministic in the messages, so a
 * redelivered or replayed batch yields the same snapshots (stored ON CONFLICT DO NOTHING).
 */

/** Where a component of the state came from: exchange time (raw and µs) and MD_NORM position. */
export interface Stamp {
  /** The exchange's time string as received. */
  time: string;
  timeUs: number;
  /** MD_NORM stream sequence. */
  offset: number;
  /** Per-subject `seq` of the normalized message. */
  seq: number;
}

export interface TickerState extends Stamp {
  price: string;
  best_bid: string;
  best_ask: string;
  best_bid_size?: string | undefined;
  best_ask_size?: string | undefined;
  open_24h?: string | undefined;
  high_24h?: string | undefined;
  low_24h?: string | undefined;
  volume_24h?: string | undefined;
  change_24h_pct?: string | undefined;
  trade_id?: string | undefined;
  sequence?: string | undefined;
}

export interface BookState extends Stamp {
  bids: Level[];
  asks: Level[];
  /** False after a `book_invalid` status, until a book or `book_resynced` arrives. */
  valid: boolean;
}

export interface TradeState extends Stamp {
  trade_id: string;
  price: string;
  size: string;
  side: 'buy' | 'sell';
}

export interface StatusState extends Stamp {
  event: string;
  reason: string;
}

export interface ProductState {
  venue: string;
  product: string;
  /** MD_NORM offset of the last message folded. */
  offset: number;
  /** High-water mark of the exchange times folded (µs). */
  maxTimeUs: number;
  ticker?: TickerState | undefined;
  book?: BookState | undefined;
  trade?: TradeState | undefined;
  status?: StatusState | undefined;
}

export interface FoldInput {
  offset: number;
  msg: Normalized;
}

export interface Snapshot {
  boundaryUs: number;
  state: ProductState;
}

export function productKey(venue: string, product: string): string {
  return `${venue}:${product}`;
}

/** The boundary the next crossing will snapshot at: the latest state's key. */
export function nextBoundaryUs(state: ProductState, intervalUs: number): number {
  return (Math.floor(state.maxTimeUs / intervalUs) + 1) * intervalUs;
}

/** A fresh copy of a state (its component objects are immutable and shared). */
export function copyState(s: ProductState): ProductState {
  return {
    venue: s.venue,
    product: s.product,
    offset: s.offset,
    maxTimeUs: s.maxTimeUs,
    ticker: s.ticker,
    book: s.book,
    trade: s.trade,
    status: s.status,
  };
}

/** The boundary a message at `timeUs` crosses after `prev`, if it crosses one. */
export function crossedBoundaryUs(
  prev: ProductState | undefined,
  timeUs: number,
  intervalUs: number,
): number | undefined {
  if (prev === undefined) return undefined;
  const hw = Math.floor(prev.maxTimeUs / intervalUs);
  return Math.floor(timeUs / intervalUs) > hw ? (hw + 1) * intervalUs : undefined;
}

/**
 * Applies one message to `s` IN PLACE (a state the caller owns; component objects are
 * replaced, never mutated), or to a new state when `s` is undefined; returns the state.
 * The batch planner owns one copy per product per batch instead of one per message.
 */
export function applyMessage(
  s: ProductState | undefined,
  input: FoldInput,
  timeUs: number,
): ProductState {
  const { msg, offset } = input;
  const next: ProductState = s ?? {
    venue: msg.venue,
    product: msg.product,
    offset,
    maxTimeUs: timeUs,
    ticker: undefined,
    book: undefined,
    trade: undefined,
    status: undefined,
  };
  next.offset = offset;
  if (timeUs > next.maxTimeUs) next.maxTimeUs = timeUs;
  const time = msg.time;
  const seq = msg.seq;
  switch (msg.type) {
    case 'trade':
      next.trade = {
        time,
        timeUs,
        offset,
        seq,
        trade_id: msg.trade_id,
        price: msg.price,
        size: msg.size,
        side: msg.side,
      };
      break;
    case 'ticker':
      next.ticker = {
        time,
        timeUs,
        offset,
        seq,
        price: msg.price,
        best_bid: msg.best_bid,
        best_ask: msg.best_ask,
        best_bid_size: msg.best_bid_size,
        best_ask_size: msg.best_ask_size,
        open_24h: msg.open_24h,
        high_24h: msg.high_24h,
        low_24h: msg.low_24h,
        volume_24h: msg.volume_24h,
        change_24h_pct: msg.change_24h_pct,
        trade_id: msg.trade_id,
        sequence: msg.sequence,
      };
      break;
    case 'book':
      next.book = { time, timeUs, offset, seq, bids: msg.bids, asks: msg.asks, valid: true };
      break;
    case 'status': {
      next.status = { time, timeUs, offset, seq, event: msg.event, reason: msg.reason };
      const book = next.book;
      if (book !== undefined && (msg.event === 'book_invalid' || msg.event === 'book_resynced'))
        next.book = { ...book, valid: msg.event === 'book_resynced' };
      break;
    }
    default:
      assertNever(msg);
  }
  return next;
}
