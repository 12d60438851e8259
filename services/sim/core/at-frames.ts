/**
 * Advanced Trade server frames (PROTOCOL.md §2), built from the market's frames. The
 * simulator runs one market and speaks either protocol: an Advanced Trade connection turns
 * each Exchange-shaped market frame into the Advanced Trade event that carries the same
 * fact, so both feeds describe the same trades and the same book.
 *
 * Shapes follow the 2024 captures (tests/fixtures/coinbase-advanced/, JKorf) where they
 * exist, else the documented field lists (PROTOCOL.md §2.3). Decimal strings pass through
 * untouched; only the 24h percentage change is computed (the feed prints it as a float).
 */
import type { AdvancedChannel } from '../../common/advanced-trade.js';
import { productSpec } from './products.js';
import { formatMicros } from './time.js';

export type AtChannel = AdvancedChannel;

/** The envelope's `channel`: level2 data arrives as `l2_data` (docs level2). */
export type AtFrameChannel = Exclude<AtChannel, 'level2'> | 'l2_data' | 'subscriptions';

/**
 * RFC 3339 with trailing zeros of the fraction trimmed, as Go's RFC3339Nano prints it:
 * envelope timestamps carry nanoseconds (27–30 chars), trade times microseconds
 * (`2026-08-09T21:05:38.50436Z`) [PROTOCOL.md §0.7, capture].
 */
export function rfc3339Trimmed(us: number, extraNs = 0): string {
  const base = formatMicros(us); // …:SS.ffffffZ
  const frac = `${base.slice(20, 26)}${String(extraNs).padStart(3, '0')}`.replace(/0+$/, '');
  return frac === '' ? `${base.slice(0, 19)}Z` : `${base.slice(0, 20)}${frac}Z`;
}

/** `{channel, client_id, timestamp, sequence_num, events}`: key order of the 2024 capture. */
export function atEnvelope(
  channel: AtFrameChannel,
  timestamp: string,
  sequenceNum: number,
  events: string,
): string {
  return `{"channel":"${channel}","client_id":"","timestamp":"${timestamp}","sequence_num":${String(sequenceNum)},"events":${events}}`;
}

/** Errors are not enveloped (PROTOCOL.md §2.1; coinbase-advanced-py#19, #92). */
export function atErrorFrame(message: string): string {
  return JSON.stringify({ type: 'error', message });
}

// Exchange market frames as the market makes them (services/sim/core/frames.ts).
interface ExMatch {
  trade_id: number;
  side: 'buy' | 'sell';
  size: string;
  price: string;
  product_id: string;
  time: string;
}
interface ExTicker {
  product_id: string;
  price: string;
  open_24h: string;
  volume_24h: string;
  low_24h: string;
  high_24h: string;
  best_bid: string;
  best_bid_size: string;
  best_ask: string;
  best_ask_size: string;
}
interface ExSnapshot {
  product_id: string;
  bids: [string, string][];
  asks: [string, string][];
}
interface ExL2Update {
  product_id: string;
  changes: ['buy' | 'sell', string, string][];
  time: string;
}
interface ExStatus {
  products: {
    id: string;
    base_currency: string;
    quote_currency: string;
    base_increment: string;
    quote_increment: string;
    display_name: string;
    status: string;
    status_message: string;
    min_market_funds: string;
  }[];
}

/** Trims the trailing zeros of a µs time string: `…38.504360Z` → `…38.50436Z`. */
function trimTime(t: string): string {
  return t.replace(/(\.\d*?)0+Z$/, '$1Z').replace(/\.Z$/, 'Z');
}

/**
 * One market_trades trade, key order as in the 2024 capture. `side` is the MAKER's side,
 * upper case, exactly as the Exchange `match.side` it comes from: recorded Advanced Trade
 * trades behave the same way (PROTOCOL.md §0.4: 75/79 SELL prints at the ask).
 */
export function atTradeItem(matchRaw: string): { json: string; product: string; tradeId: number } {
  const m = JSON.parse(matchRaw) as ExMatch;
  const json = JSON.stringify({
    product_id: m.product_id,
    trade_id: String(m.trade_id),
    price: m.price,
    size: m.size,
    time: trimTime(m.time),
    side: m.side === 'buy' ? 'BUY' : 'SELL',
  });
  return { json, product: m.product_id, tradeId: m.trade_id };
}

/** `[{"type":…,"trades":[…]}]`, the items newest first as the feed sends them. */
export function atTradesEvents(type: 'snapshot' | 'update', itemsNewestFirst: string[]): string {
  return `[{"type":"${type}","trades":[${itemsNewestFirst.join(',')}]}]`;
}

/** 52-week range: not in the market's state, so a fixed band around the product's start price. */
function yearRange(product: string, low24: string, high24: string): [string, string] {
  const spec = productSpec(product);
  const scale = 10 ** spec.priceDecimals;
  const low = Math.min(Math.floor(spec.startTicks * 0.55), Math.round(Number(low24) * scale));
  const high = Math.max(Math.ceil(spec.startTicks * 1.6), Math.round(Number(high24) * scale));
  return [String(low / scale), String(high / scale)];
}

/** One ticker, fields in PROTOCOL.md §2.3's order (best_* since 2024-04-12). */
export function atTickerItem(tickerRaw: string): { json: string; product: string } {
  const t = JSON.parse(tickerRaw) as ExTicker;
  const [low52, high52] = yearRange(t.product_id, t.low_24h, t.high_24h);
  const open = Number(t.open_24h);
  const change = open > 0 ? ((Number(t.price) - open) / open) * 100 : 0;
  const json = JSON.stringify({
    type: 'ticker',
    product_id: t.product_id,
    price: t.price,
    volume_24_h: t.volume_24h,
    low_24_h: t.low_24h,
    high_24_h: t.high_24h,
    low_52_w: low52,
    high_52_w: high52,
    price_percent_chg_24_h: String(change),
    best_bid: t.best_bid,
    best_ask: t.best_ask,
    best_bid_quantity: t.best_bid_size,
    best_ask_quantity: t.best_ask_size,
  });
  return { json, product: t.product_id };
}

export function atTickerEvents(type: 'snapshot' | 'update', items: string[]): string {
  return `[{"type":"${type}","tickers":[${items.join(',')}]}]`;
}

function levelJson(side: 'bid' | 'offer', eventTime: string, price: string, size: string): string {
  return `{"side":"${side}","event_time":"${eventTime}","price_level":"${price}","new_quantity":"${size}"}`;
}

/**
 * The level2 snapshot as `l2_data`: every bid, then every offer, each with the snapshot's
 * time as `event_time` (PROTOCOL.md §2.3). Concatenated: a full book has tens of
 * thousands of levels.
 */
export function atL2SnapshotEvents(snapshotRaw: string, nowUs: number): string {
  const s = JSON.parse(snapshotRaw) as ExSnapshot;
  const time = rfc3339Trimmed(nowUs);
  const parts: string[] = [];
  for (const [p, q] of s.bids) parts.push(levelJson('bid', time, p, q));
  for (const [p, q] of s.asks) parts.push(levelJson('offer', time, p, q));
  return `[{"type":"snapshot","product_id":${JSON.stringify(s.product_id)},"updates":[${parts.join(',')}]}]`;
}

/** An l2update as an `l2_data` update: sides `bid`/`offer`, absolute `new_quantity`. */
export function atL2UpdateEvents(l2updateRaw: string): string {
  const u = JSON.parse(l2updateRaw) as ExL2Update;
  const time = trimTime(u.time);
  const parts = u.changes.map(([side, p, q]) =>
    levelJson(side === 'buy' ? 'bid' : 'offer', time, p, q),
  );
  return `[{"type":"update","product_id":${JSON.stringify(u.product_id)},"updates":[${parts.join(',')}]}]`;
}

/** The status channel's product list (docs example fields). */
export function atStatusEvents(statusRaw: string): string {
  const s = JSON.parse(statusRaw) as ExStatus;
  const products = s.products.map((p) => ({
    product_type: 'SPOT',
    id: p.id,
    base_currency: p.base_currency,
    quote_currency: p.quote_currency,
    base_increment: p.base_increment,
    quote_increment: p.quote_increment,
    display_name: p.display_name,
    status: p.status,
    status_message: p.status_message,
    min_market_funds: p.min_market_funds,
  }));
  return JSON.stringify([{ type: 'snapshot', products }]);
}

/**
 * `heartbeats`: `current_time` in Go's time.String() form with the monotonic reading, and
 * `heartbeat_counter` an integer equal to the server's uptime in seconds [2024 capture;
 * the docs show a string].
 */
export function atHeartbeatEvents(nowUs: number, uptimeUs: number): string {
  const t = formatMicros(nowUs); // 2024-10-04T07:04:40.820713Z
  const sub = String(uptimeUs % 1000).padStart(3, '0'); // nanosecond digits: any will do
  const current = `${t.slice(0, 10)} ${t.slice(11, 26)}${sub} +0000 UTC m=+${(uptimeUs / 1e6).toFixed(9)}`;
  const counter = Math.floor(uptimeUs / 1e6);
  return `[{"current_time":"${current}","heartbeat_counter":${String(counter)}}]`;
}

/** The cumulative subscriptions of a connection: `heartbeats` lists itself. */
export function atSubscriptionsEvents(subs: ReadonlyMap<AtChannel, ReadonlySet<string>>): string {
  const map: Record<string, string[]> = {};
  for (const [channel, products] of subs)
    map[channel] = channel === 'heartbeats' ? ['heartbeats'] : [...products];
  return JSON.stringify([{ subscriptions: map }]);
}

export interface CandleJson {
  start: string;
  high: string;
  low: string;
  open: string;
  close: string;
  volume: string;
  product_id: string;
}

export function atCandlesEvents(type: 'snapshot' | 'update', candles: CandleJson[]): string {
  return JSON.stringify([{ type, candles }]);
}
