import type { Book, Ticker, Trade } from '../../common/schemas/normalized.js';

/**
 * The page's state, kept apart from the DOM (pure: no clock, no I/O). Prices stay the
 * decimal strings the gateway sends; they become numbers only to be drawn or for the
 * 24 h percentage. Type-only imports: nothing of zod reaches the bundle.
 */

export interface Quote {
  product: string;
  last?: string;
  bid?: string;
  ask?: string;
  open24h?: string;
  /** Direction of the last price change, for the flash. */
  move: 'up' | 'down' | 'none';
  trades: number;
  updatedMs?: number;
}

export interface PricePoint {
  /** Exchange time (ms). */
  t: number;
  price: number;
}

export interface CandleBar {
  /** Bucket start (ms). */
  t: number;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
}

export function emptyQuote(product: string): Quote {
  return { product, move: 'none', trades: 0 };
}

export function applyTicker(q: Quote, t: Ticker, nowMs: number): Quote {
  return {
    ...q,
    last: t.price,
    move: moveOf(q.last, t.price, q.move),
    bid: q.bid ?? t.best_bid,
    ask: q.ask ?? t.best_ask,
    open24h: t.open_24h ?? q.open24h,
    updatedMs: nowMs,
  };
}

/** The book is fresher than the ticker's best bid/ask (tickers come with trades only). */
export function applyBook(q: Quote, b: Book, nowMs: number): Quote {
  return { ...q, bid: b.bids[0]?.[0] ?? q.bid, ask: b.asks[0]?.[0] ?? q.ask, updatedMs: nowMs };
}

export function applyTrade(q: Quote, t: Trade, nowMs: number): Quote {
  return {
    ...q,
    last: t.price,
    move: moveOf(q.last, t.price, q.move),
    trades: q.trades + 1,
    updatedMs: nowMs,
  };
}

function moveOf(prev: string | undefined, next: string, was: Quote['move']): Quote['move'] {
  if (prev === undefined) return 'none';
  const c = compareDecimal(next, prev);
  return c > 0 ? 'up' : c < 0 ? 'down' : was;
}

// Decimal strings, exactly (for display: spread and equality)

function scaled(s: string, scale: number): bigint {
  const neg = s.startsWith('-');
  const [int = '0', frac = ''] = (neg ? s.slice(1) : s).split('.');
  const v = BigInt((int || '0') + frac.padEnd(scale, '0').slice(0, scale));
  return neg ? -v : v;
}

function scaleOf(s: string): number {
  return s.split('.')[1]?.length ?? 0;
}

export function compareDecimal(a: string, b: string): number {
  const k = Math.max(scaleOf(a), scaleOf(b));
  const x = scaled(a, k);
  const y = scaled(b, k);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** a − b, exact, with the larger number of decimals of the two. */
export function subtractDecimal(a: string, b: string): string {
  const k = Math.max(scaleOf(a), scaleOf(b));
  const d = scaled(a, k) - scaled(b, k);
  const neg = d < 0n;
  const digits = (neg ? -d : d).toString().padStart(k + 1, '0');
  const out = k === 0 ? digits : `${digits.slice(0, -k)}.${digits.slice(-k)}`;
  return neg ? `-${out}` : out;
}

/** Percentage change from open to last, two decimals, signed; undefined when unknown. */
export function change24h(q: Quote): string | undefined {
  if (q.last === undefined || q.open24h === undefined) return undefined;
  const open = Number(q.open24h);
  if (!(open > 0)) return undefined;
  const pct = ((Number(q.last) - open) / open) * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(2)}%`;
}

// Chart data

/** Appends a point, keeping at most `max` (the oldest go first). */
export function pushPoint(points: PricePoint[], p: PricePoint, max: number): void {
  points.push(p);
  if (points.length > max) points.splice(0, points.length - max);
}

/** Folds a live trade into the candles (REST history + live): same bucket or a new one. */
export function foldTrade(
  candles: CandleBar[],
  widthMs: number,
  t: number,
  price: number,
  size: number,
): void {
  const start = Math.floor(t / widthMs) * widthMs;
  const last = candles.at(-1);
  if (last !== undefined && last.t === start) {
    last.h = Math.max(last.h, price);
    last.l = Math.min(last.l, price);
    last.c = price;
    last.v += size;
  } else if (last === undefined || start > last.t) {
    candles.push({ t: start, o: price, h: price, l: price, c: price, v: size });
  }
  // A trade older than the last bucket is already in the REST candles it came with.
}

export interface RestCandle {
  start: string;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
}

export function candleBars(rows: readonly RestCandle[]): CandleBar[] {
  return rows.map((c) => ({
    t: Date.parse(c.start),
    o: Number(c.open),
    h: Number(c.high),
    l: Number(c.low),
    c: Number(c.close),
    v: Number(c.volume),
  }));
}

/** Exchange time in ms (the string may carry µs or ns; a Date keeps ms). */
export function timeMs(time: string, fallback: number): number {
  const ms = Date.parse(time);
  return Number.isFinite(ms) ? ms : fallback;
}
