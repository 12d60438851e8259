/**
 * Builders for the Exchange feed's server frames, field sets and key order as in the
 * real recordings (tests/fixtures/coinbase-exchange/, compared key by key in tests).
 * Numbers that are decimals on the wire arrive here already as strings.
 */
import { formatMicros } from './time.js';

export type Side = 'buy' | 'sell';

export interface HeartbeatFields {
  product: string;
  sequence: number;
  lastTradeId: number;
  timeUs: number;
}

/** Key order as in the 2021–2022 captures (unattributed-findstring-misc…). */
export function heartbeatFrame(f: HeartbeatFields): string {
  return JSON.stringify({
    type: 'heartbeat',
    last_trade_id: f.lastTradeId,
    product_id: f.product,
    sequence: f.sequence,
    time: formatMicros(f.timeUs),
  });
}

export interface MatchFields {
  type: 'match' | 'last_match';
  tradeId: number;
  makerOrderId: string;
  takerOrderId: string;
  /** The MAKER's side (PROTOCOL.md §0.4): "sell" means the trade printed at the ask. */
  makerSide: Side;
  size: string;
  price: string;
  product: string;
  sequence: number;
  timeUs: number;
}

/** Key order as in the 2026 capture (unattributed-idx59533280927…). */
export function matchFrame(f: MatchFields): string {
  return JSON.stringify({
    type: f.type,
    trade_id: f.tradeId,
    maker_order_id: f.makerOrderId,
    taker_order_id: f.takerOrderId,
    side: f.makerSide,
    size: f.size,
    price: f.price,
    product_id: f.product,
    sequence: f.sequence,
    time: formatMicros(f.timeUs),
  });
}

export interface TickerFields {
  sequence: number;
  product: string;
  price: string;
  open24h: string;
  volume24h: string;
  low24h: string;
  high24h: string;
  volume30d: string;
  bestBid: string;
  bestBidSize: string;
  bestAsk: string;
  bestAskSize: string;
  /** The TAKER's side: a ticker's side is opposite to its match's (PROTOCOL.md §0.4). */
  takerSide: Side;
  timeUs: number;
  tradeId: number;
  lastSize: string;
}

/** Post-2022 ticker (with best_*_size), key order as in the 2022-12/2023 captures. */
export function tickerFrame(f: TickerFields): string {
  return JSON.stringify({
    type: 'ticker',
    sequence: f.sequence,
    product_id: f.product,
    price: f.price,
    open_24h: f.open24h,
    volume_24h: f.volume24h,
    low_24h: f.low24h,
    high_24h: f.high24h,
    volume_30d: f.volume30d,
    best_bid: f.bestBid,
    best_bid_size: f.bestBidSize,
    best_ask: f.bestAsk,
    best_ask_size: f.bestAskSize,
    side: f.takerSide,
    time: formatMicros(f.timeUs),
    trade_id: f.tradeId,
    last_size: f.lastSize,
  });
}

/** A [price, size] pair list in JSON; the strings are plain decimals, no escaping needed. */
function levelsJson(levels: Iterable<readonly [string, string]>): string {
  const parts: string[] = [];
  for (const [p, s] of levels) parts.push(`["${p}","${s}"]`);
  return `[${parts.join(',')}]`;
}

/**
 * level2(_batch) snapshot: no `sequence`, no `time` (2021 and 2026 captures), asks
 * listed before bids as in the 2026 capture, both best-first. Built by concatenation:
 * a full-depth snapshot has hundreds of thousands of levels.
 */
export function snapshotFrame(
  product: string,
  bids: Iterable<readonly [string, string]>,
  asks: Iterable<readonly [string, string]>,
): string {
  return `{"type":"snapshot","product_id":${JSON.stringify(product)},"asks":${levelsJson(asks)},"bids":${levelsJson(bids)}}`;
}

export type L2Change = readonly [Side, string, string];

/** Key order as in the 2021–2026 captures: changes before time. Sizes are absolute. */
export function l2updateFrame(
  product: string,
  changes: readonly L2Change[],
  timeUs: number,
): string {
  return JSON.stringify({
    type: 'l2update',
    product_id: product,
    changes,
    time: formatMicros(timeUs),
  });
}

export function errorFrame(message: string, reason?: string): string {
  return JSON.stringify(
    reason === undefined ? { type: 'error', message } : { type: 'error', message, reason },
  );
}

export interface AckChannel {
  name: string;
  productIds: readonly string[];
}

/**
 * The cumulative subscriptions ack. `modern` is what the feed sends today (2026 capture:
 * `level2_batch` reported as `level2_50`, `"account_ids":null` per channel); `classic`
 * is the shape of 2017–2023 captures.
 */
export function subscriptionsFrame(
  channels: readonly AckChannel[],
  style: 'modern' | 'classic',
): string {
  return JSON.stringify({
    type: 'subscriptions',
    channels: channels.map((c) =>
      style === 'modern'
        ? {
            name: c.name === 'level2_batch' ? 'level2_50' : c.name,
            product_ids: c.productIds,
            account_ids: null,
          }
        : { name: c.name, product_ids: c.productIds },
    ),
  });
}

export interface StatusProduct {
  id: string;
  base: string;
  quote: string;
  baseIncrement: string;
  quoteIncrement: string;
  minMarketFunds: string;
}

/** `status` channel frame, fields as in the 2022-05 capture (products, then currencies). */
export function statusFrame(products: readonly StatusProduct[]): string {
  const currencies = [...new Set(products.flatMap((p) => [p.base, p.quote]))];
  return JSON.stringify({
    type: 'status',
    currencies: currencies.map((id) => ({
      id,
      name: id,
      min_size: id === 'USD' || id === 'EUR' || id === 'GBP' ? '0.01' : '0.00000001',
      status: 'online',
      funding_account_id: '',
      status_message: '',
      max_precision: id === 'USD' || id === 'EUR' || id === 'GBP' ? '0.01' : '0.00000001',
      convertible_to: [],
      details: {
        type: id === 'USD' || id === 'EUR' || id === 'GBP' ? 'fiat' : 'crypto',
        symbol: '',
      },
    })),
    products: products.map((p) => ({
      id: p.id,
      base_currency: p.base,
      quote_currency: p.quote,
      base_min_size: p.baseIncrement,
      base_max_size: '1000000',
      base_increment: p.baseIncrement,
      quote_increment: p.quoteIncrement,
      display_name: `${p.base}/${p.quote}`,
      status: 'online',
      margin_enabled: false,
      status_message: '',
      min_market_funds: p.minMarketFunds,
      max_market_funds: '1000000',
      post_only: false,
      limit_only: false,
      cancel_only: false,
      auction_mode: false,
      type: 'spot',
      fx_stablecoin: false,
      max_slippage_percentage: '0.10000000',
    })),
  });
}
