import { addDec, compareDec, maxDec, minDec } from './decimal.js';
import { floorTo } from './time.js';

/**
 * OHLCV candles. The snapshotter keeps 1-minute candles in PostgreSQL (updated in the
 * trades' transaction, from the rows the insert really added); coarser intervals are
 * rolled up from them at query time. Open and close are the first and last trade by
 * (exchange time, trade id), so a candle does not depend on the order trades arrive in:
 * `mergeCandles` is associative and commutative, which is what makes the SQL upsert and
 * the rollup agree with a naive aggregation. This module is that definition.
 */

export const CANDLE_INTERVALS = {
  '1m': 60_000_000,
  '5m': 300_000_000,
  '15m': 900_000_000,
  '1h': 3_600_000_000,
  '1d': 86_400_000_000,
} as const;
export type CandleInterval = keyof typeof CANDLE_INTERVALS;
export const CANDLE_INTERVAL_NAMES = Object.keys(CANDLE_INTERVALS) as CandleInterval[];

export interface CandleTrade {
  timeUs: number;
  tradeId: string;
  price: string;
  size: string;
}

/** Where a trade sits in the candle order: exchange time, then trade id. */
export interface TradeKey {
  timeUs: number;
  tradeId: string;
}

export interface Candle {
  startUs: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  count: number;
  first: TradeKey;
  last: TradeKey;
}

export function compareKeys(a: TradeKey, b: TradeKey): number {
  if (a.timeUs !== b.timeUs) return a.timeUs < b.timeUs ? -1 : 1;
  const x = BigInt(a.tradeId);
  const y = BigInt(b.tradeId);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function candleOf(t: CandleTrade, widthUs: number): Candle {
  const key = { timeUs: t.timeUs, tradeId: t.tradeId };
  return {
    startUs: floorTo(t.timeUs, widthUs),
    open: t.price,
    high: t.price,
    low: t.price,
    close: t.price,
    volume: t.size,
    count: 1,
    first: key,
    last: key,
  };
}

/** Two candles of the same bucket as one (the SQL upsert does the same). */
export function mergeCandles(a: Candle, b: Candle): Candle {
  const bFirst = compareKeys(b.first, a.first) < 0;
  const bLast = compareKeys(b.last, a.last) > 0;
  return {
    startUs: Math.min(a.startUs, b.startUs),
    open: bFirst ? b.open : a.open,
    high: maxDec(a.high, b.high),
    low: minDec(a.low, b.low),
    close: bLast ? b.close : a.close,
    volume: addDec(a.volume, b.volume),
    count: a.count + b.count,
    first: bFirst ? b.first : a.first,
    last: bLast ? b.last : a.last,
  };
}

/** Candles of `widthUs` from trades, in bucket order, folded one trade at a time. */
export function aggregateTrades(trades: Iterable<CandleTrade>, widthUs: number): Candle[] {
  const byStart = new Map<number, Candle>();
  for (const t of trades) {
    const c = candleOf(t, widthUs);
    const prev = byStart.get(c.startUs);
    byStart.set(c.startUs, prev === undefined ? c : mergeCandles(prev, c));
  }
  return [...byStart.values()].sort((a, b) => a.startUs - b.startUs);
}

/** Coarser candles from finer ones (1-minute rows into 5m … 1d), buckets aligned to the epoch. */
export function rollup(candles: Iterable<Candle>, widthUs: number): Candle[] {
  const byStart = new Map<number, Candle>();
  for (const c of candles) {
    const start = floorTo(c.startUs, widthUs);
    const moved = { ...c, startUs: start };
    const prev = byStart.get(start);
    byStart.set(start, prev === undefined ? moved : mergeCandles(prev, moved));
  }
  return [...byStart.values()].sort((a, b) => a.startUs - b.startUs);
}

/** Numeric equality of two candles (decimal spellings may differ: "1.50" = "1.5"). */
export function sameCandle(a: Candle, b: Candle): boolean {
  return (
    a.startUs === b.startUs &&
    compareDec(a.open, b.open) === 0 &&
    compareDec(a.high, b.high) === 0 &&
    compareDec(a.low, b.low) === 0 &&
    compareDec(a.close, b.close) === 0 &&
    compareDec(a.volume, b.volume) === 0 &&
    a.count === b.count
  );
}
