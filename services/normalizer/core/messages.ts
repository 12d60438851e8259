import {
  FLAGS,
  NORM_VERSION,
  type Book,
  type Flag,
  type Status,
  type Ticker,
  type Trade,
} from '../../common/schemas/normalized.js';
import type { TopOfBook } from './book.js';
import type { TickerResult, TradeResult } from './map-common.js';

/**
 * MD_NORM message builders (services/common/schemas/normalized.ts, DESIGN.md "Normalized
 * messages"). The caller owns `seq` (contiguous per venue + product + type) and adds the
 * validation flags; strings pass through untouched.
 */

export interface NormMeta {
  seq: number;
  /** Epoch µs at receipt of the source frame (Lf-Recv-Us). */
  recvUs: number;
  /** Flags to add to the mapper's own (price_jump, absurd_spread, …). */
  flags?: readonly Flag[];
}

export function tradeMessage(r: TradeResult, meta: NormMeta): Trade {
  return {
    v: NORM_VERSION,
    type: 'trade',
    venue: 'coinbase',
    product: r.product,
    seq: meta.seq,
    time: r.time,
    recv_us: meta.recvUs,
    flags: mergeFlags(r.flags, meta.flags),
    trade_id: r.tradeId,
    price: r.price,
    size: r.size,
    side: r.side,
  };
}

const TICKER_PASS_THROUGH = [
  'best_bid_size',
  'best_ask_size',
  'open_24h',
  'high_24h',
  'low_24h',
  'volume_24h',
  'change_24h_pct',
  'trade_id',
  'sequence',
] as const;

export function tickerMessage(r: TickerResult, meta: NormMeta): Ticker {
  const out: Ticker = {
    v: NORM_VERSION,
    type: 'ticker',
    venue: 'coinbase',
    product: r.product,
    seq: meta.seq,
    time: r.time,
    recv_us: meta.recvUs,
    flags: mergeFlags(r.flags, meta.flags),
    price: r.price,
    best_bid: r.best_bid,
    best_ask: r.best_ask,
  };
  for (const key of TICKER_PASS_THROUGH) {
    const v = r[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** A top-N book message; `time` is the last applied frame's (substituted if need be). */
export function bookMessage(
  product: string,
  top: TopOfBook,
  meta: NormMeta & { time: string },
): Book {
  return {
    v: NORM_VERSION,
    type: 'book',
    venue: 'coinbase',
    product,
    seq: meta.seq,
    time: meta.time,
    recv_us: meta.recvUs,
    flags: mergeFlags([], meta.flags),
    bids: top.bids,
    asks: top.asks,
  };
}

/** A status message; a `gap` carries the inclusive missing trade ids. */
export function statusMessage(
  product: string,
  event: Status['event'],
  reason: string,
  meta: NormMeta & { time: string; from?: string; to?: string },
): Status {
  const out: Status = {
    v: NORM_VERSION,
    type: 'status',
    venue: 'coinbase',
    product,
    seq: meta.seq,
    time: meta.time,
    recv_us: meta.recvUs,
    flags: mergeFlags([], meta.flags),
    event,
    reason,
  };
  if (meta.from !== undefined) out.from = meta.from;
  if (meta.to !== undefined) out.to = meta.to;
  return out;
}

/** Union of flag lists in the canonical order of FLAGS (stable output for equal inputs). */
export function mergeFlags(a: readonly Flag[], b: readonly Flag[] = []): Flag[] {
  if (b.length === 0 && a.length <= 1) return [...a];
  return FLAGS.filter((f) => a.includes(f) || b.includes(f));
}
