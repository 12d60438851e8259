/**
 * Naive models the snapshotter is checked against: no incremental fold, no high-water
 * mark; each answer is computed from scratch from the list of messages.
 */
import type { Normalized, Trade } from '../../../services/common/schemas/normalized.js';
import type { Candle, CandleTrade } from '../../../services/snapshotter/core/candles.js';
import { addDec, compareDec } from '../../../services/snapshotter/core/decimal.js';
import type { ProductState, Stamp } from '../../../services/snapshotter/core/state.js';
import { parseTimeUs } from '../../../services/common/time.js';

export interface Offsetted {
  offset: number;
  msg: Normalized;
}

export function timeOf(m: Normalized): number {
  return parseTimeUs(m.time) ?? m.recv_us;
}

function stamp(o: Offsetted): Stamp {
  return { time: o.msg.time, timeUs: timeOf(o.msg), offset: o.offset, seq: o.msg.seq };
}

function lastOf<T extends Normalized['type']>(
  xs: readonly Offsetted[],
  type: T,
): (Offsetted & { msg: Extract<Normalized, { type: T }> }) | undefined {
  for (let i = xs.length - 1; i >= 0; i--) {
    const x = xs[i];
    if (x?.msg.type === type) return x as Offsetted & { msg: Extract<Normalized, { type: T }> };
  }
  return undefined;
}

/** The state of a product after exactly these messages (undefined for none). */
export function naiveState(xs: readonly Offsetted[]): ProductState | undefined {
  const first = xs[0];
  const last = xs.at(-1);
  if (first === undefined || last === undefined) return undefined;
  const s: ProductState = {
    venue: first.msg.venue,
    product: first.msg.product,
    offset: last.offset,
    maxTimeUs: Math.max(...xs.map((x) => timeOf(x.msg))),
  };
  const t = lastOf(xs, 'ticker');
  if (t !== undefined) {
    const {
      v: _v,
      type: _t,
      venue: _ve,
      product: _p,
      seq: _s,
      time: _ti,
      recv_us: _r,
      flags: _f,
      ...rest
    } = t.msg;
    s.ticker = { ...stamp(t), ...rest };
  }
  const b = lastOf(xs, 'book');
  if (b !== undefined) {
    // Valid unless a book_invalid came after the last book and no book_resynced after it.
    let valid = true;
    for (const x of xs.slice(xs.indexOf(b) + 1)) {
      if (x.msg.type === 'status' && x.msg.event === 'book_invalid') valid = false;
      if (x.msg.type === 'status' && x.msg.event === 'book_resynced') valid = true;
    }
    s.book = { ...stamp(b), bids: b.msg.bids, asks: b.msg.asks, valid };
  }
  const tr = lastOf(xs, 'trade');
  if (tr !== undefined) {
    const m = tr.msg;
    s.trade = { ...stamp(tr), trade_id: m.trade_id, price: m.price, size: m.size, side: m.side };
  }
  const st = lastOf(xs, 'status');
  if (st !== undefined) s.status = { ...stamp(st), event: st.msg.event, reason: st.msg.reason };
  return s;
}

/** The state at T: the messages before the first one whose time is ≥ floor(T / I)·I. */
export function naiveStateAt(
  xs: readonly Offsetted[],
  product: string,
  tUs: number,
  intervalUs: number,
): ProductState | undefined {
  const mine = xs.filter((x) => x.msg.product === product);
  const b = Math.floor(tUs / intervalUs) * intervalUs;
  const i = mine.findIndex((x) => timeOf(x.msg) >= b);
  return naiveState(i < 0 ? mine : mine.slice(0, i));
}

/** Snapshot boundaries: each message past its prefix's last interval, at the next boundary. */
export function naiveBoundaries(
  xs: readonly Offsetted[],
  product: string,
  intervalUs: number,
): number[] {
  const mine = xs.filter((x) => x.msg.product === product).map((x) => timeOf(x.msg));
  const out = new Set<number>();
  for (let i = 1; i < mine.length; i++) {
    const prefixMax = Math.max(...mine.slice(0, i));
    const next = (Math.floor(prefixMax / intervalUs) + 1) * intervalUs;
    if ((mine[i] ?? 0) >= next) out.add(next);
  }
  return [...out].sort((a, b) => a - b);
}

/** Trades each stored once (first occurrence of a trade id per product). */
export function uniqueTrades(xs: readonly Normalized[]): Trade[] {
  const seen = new Set<string>();
  const out: Trade[] = [];
  for (const m of xs) {
    if (m.type !== 'trade') continue;
    const k = `${m.product}:${m.trade_id}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(m);
  }
  return out;
}

export function candleTrades(trades: readonly Trade[]): CandleTrade[] {
  return trades.map((t) => ({
    timeUs: timeOf(t),
    tradeId: t.trade_id,
    price: t.price,
    size: t.size,
  }));
}

/** Candles by grouping then sorting: no merging, no rollup. */
export function naiveCandles(trades: readonly CandleTrade[], widthUs: number): Candle[] {
  const groups = new Map<number, CandleTrade[]>();
  for (const t of trades) {
    const start = Math.floor(t.timeUs / widthUs) * widthUs;
    groups.set(start, [...(groups.get(start) ?? []), t]);
  }
  return [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([startUs, g]) => {
      const sorted = [...g].sort((a, b) =>
        a.timeUs !== b.timeUs
          ? a.timeUs - b.timeUs
          : BigInt(a.tradeId) < BigInt(b.tradeId)
            ? -1
            : BigInt(a.tradeId) > BigInt(b.tradeId)
              ? 1
              : 0,
      );
      const prices = g.map((t) => t.price);
      const f = sorted[0] as CandleTrade;
      const l = sorted.at(-1) as CandleTrade;
      return {
        startUs,
        open: f.price,
        close: l.price,
        high: prices.reduce((a, b) => (compareDec(b, a) > 0 ? b : a)),
        low: prices.reduce((a, b) => (compareDec(b, a) < 0 ? b : a)),
        volume: g.map((t) => t.size).reduce((a, b) => addDec(a, b)),
        count: g.length,
        first: { timeUs: f.timeUs, tradeId: f.tradeId },
        last: { timeUs: l.timeUs, tradeId: l.tradeId },
      };
    });
}

export interface NaiveStats {
  open: string;
  high: string;
  low: string;
  last: string;
  volume: string;
  count: number;
}

/** Trades in (T − 24 h, T]. */
export function naiveStats24h(trades: readonly CandleTrade[], tUs: number): NaiveStats | undefined {
  const inWindow = trades.filter((t) => t.timeUs > tUs - 86_400_000_000 && t.timeUs <= tUs);
  const [c] = naiveCandles(inWindow, Number.MAX_SAFE_INTEGER);
  if (c === undefined) return undefined;
  return {
    open: c.open,
    high: c.high,
    low: c.low,
    last: c.close,
    volume: c.volume,
    count: c.count,
  };
}
