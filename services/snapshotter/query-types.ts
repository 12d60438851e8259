import type { Level } from '../common/schemas/normalized.js';
import type { TimeArg } from './core/paging.js';

/**
 * What the read queries (queries.ts) return: the shapes the gateway's REST serves.
 * Decimals are strings, trade ids decimal strings, `offset` the MD_NORM stream sequence,
 * `time` the exchange's string as received, other times RFC 3339 UTC with µs.
 */

export interface TickerAt {
  price: string;
  best_bid: string;
  best_ask: string;
  best_bid_size: string | null;
  best_ask_size: string | null;
  open_24h: string | null;
  high_24h: string | null;
  low_24h: string | null;
  volume_24h: string | null;
  change_24h_pct: string | null;
  trade_id: string | null;
  time: string;
  /** The ticker's exchange time, normalized. */
  as_of: string;
  offset: number;
  seq: number;
}

export interface BookAt {
  bids: Level[];
  asks: Level[];
  /** False when the normalizer had announced the book invalid (and not yet resynced). */
  valid: boolean;
  time: string;
  as_of: string;
  offset: number;
  seq: number;
}

export interface TradeOut {
  trade_id: string;
  price: string;
  size: string;
  side: 'buy' | 'sell';
  time: string;
  offset: number;
  seq: number;
}

export interface Stats24h {
  /** The window (from, to]: the 24 hours up to T. */
  from: string;
  to: string;
  open: string;
  high: string;
  low: string;
  last: string;
  volume: string;
  trade_count: number;
}

export interface StateAt {
  venue: string;
  product: string;
  at: string;
  /**
   * The snapshot used: the state of every message before the first one whose exchange
   * time is at or after `as_of` (≤ at). Null when nothing was recorded before `at`.
   */
  as_of: string | null;
  offset: number | null;
  ticker: TickerAt | null;
  book: BookAt | null;
  last_trade: TradeOut | null;
  stats_24h: Stats24h | null;
}

export interface CandleOut {
  start: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  trade_count: number;
}

export interface GapOut {
  /** Inclusive missing trade ids. */
  from: string;
  to: string;
  time: string;
  reason: string;
  offset: number;
}

export type TradeRange = { from: TimeArg; to: TimeArg } | { fromId: string; toId: string };

export interface TradePage {
  trades: TradeOut[];
  /** Gaps whose missing ids fall within this page's span of trade ids. */
  gaps: GapOut[];
  /** Pass back as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}
