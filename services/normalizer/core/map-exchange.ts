import type { Flag } from '../../common/schemas/normalized.js';
import { isNonNegativeDecimal } from './decimal.js';
import {
  checkHeartbeat,
  checkL2Update,
  checkMatch,
  checkSnapshot,
  checkTicker,
} from './exchange-schemas.js';
import { resolveTime } from './exchange-time.js';
import {
  asList,
  describe,
  invalid,
  mapMarker,
  parseFrameText,
  schemaError,
  type BookChange,
  type MapContext,
  type MapResult,
  type PriceLevel,
  type TickerResult,
} from './map-common.js';

/**
 * The Coinbase Exchange mapper: one raw frame in, one MapResult out. Pure and total: it
 * never throws, whatever the input (property-tested on arbitrary values). Prices and sizes
 * leave as the exact strings received; ids as canonical decimal-integer strings.
 * Field meanings follow PROTOCOL.md §1.4; quirks cite their evidence inline. messages.ts
 * turns trade and ticker results into MD_NORM messages.
 */

/** Frame types we publish from; every other `type` is ignored (docs overview: "Clients are
 * expected to ignore messages they do not support"). */
const HANDLED = new Set(['match', 'last_match', 'ticker', 'heartbeat', 'snapshot', 'l2update']);

export function mapExchangeFrame(frame: unknown, ctx: MapContext): MapResult {
  try {
    return mapUnsafe(frame, ctx);
  } catch (err) {
    // Unreachable by design; the net keeps "never throws" true even for hostile values
    // (getters, proxies) that no JSON.parse produces.
    return { kind: 'invalid', reason: 'schema', error: `mapper error: ${describe(err)}` };
  }
}

/** Parses the raw text first: a frame that is not JSON is `unparsable`. */
export function mapExchangeText(text: string, ctx: MapContext): MapResult {
  const parsed = parseFrameText(text);
  return 'value' in parsed ? mapExchangeFrame(parsed.value, ctx) : parsed;
}

function mapUnsafe(frame: unknown, ctx: MapContext): MapResult {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    return invalid('not a JSON object');
  }
  const type = (frame as { type?: unknown }).type;
  if (typeof type !== 'string') return invalid('no string "type"');
  if (type === 'lf_feed') return mapMarker(frame, ctx);
  if (!HANDLED.has(type)) return { kind: 'ignore', type: type.slice(0, 64) };

  const product = (frame as { product_id?: unknown }).product_id;
  if (product !== ctx.product) {
    return invalid(`product_id ${JSON.stringify(product)} on the subject of ${ctx.product}`);
  }
  switch (type) {
    case 'match':
    case 'last_match':
      return mapMatch(frame, ctx);
    case 'ticker':
      return mapTicker(frame, ctx);
    case 'heartbeat':
      return mapHeartbeat(frame, ctx);
    case 'snapshot':
      return mapSnapshot(frame, ctx);
    default:
      return mapL2Update(frame, ctx);
  }
}

function mapMatch(frame: object, ctx: MapContext): MapResult {
  const r = checkMatch(frame);
  if (!r.success) return schemaError(r.error);
  const f = r.data;
  const t = resolveTime(f.time, ctx);
  return {
    kind: 'trade',
    product: f.product_id,
    tradeId: f.trade_id,
    price: f.price,
    size: f.size,
    // match.side is the maker's side; a taker buy lifts a resting sell (tardis-node
    // src/mappers/coinbase.ts: "coinbase side field indicates the maker order side").
    side: f.side === 'buy' ? 'sell' : 'buy',
    sequence: f.sequence,
    last: f.type === 'last_match',
    time: t.time,
    flags: t.substituted ? ['time_substituted'] : [],
  };
}

function mapTicker(frame: object, ctx: MapContext): MapResult {
  const r = checkTicker(frame);
  if (!r.success) return schemaError(r.error);
  const { type: _type, product_id, time, ...f } = r.data;
  // Very old tickers had no time (PROTOCOL.md §1.4): substituted like an invalid one.
  const t = resolveTime(time, ctx);
  const out: TickerResult = {
    kind: 'ticker',
    product: product_id,
    sequence: f.sequence,
    price: f.price,
    best_bid: f.best_bid,
    best_ask: f.best_ask,
    time: t.time,
    flags: t.substituted ? ['time_substituted'] : [],
  };
  for (const key of OPTIONAL_TICKER_KEYS) {
    const v = f[key];
    if (v !== undefined) out[key] = v;
  }
  if (f.side !== undefined) out.side = f.side;
  return out;
}

const OPTIONAL_TICKER_KEYS = [
  'best_bid_size',
  'best_ask_size',
  'open_24h',
  'high_24h',
  'low_24h',
  'volume_24h',
  'volume_30d',
  'last_size',
  'trade_id',
] as const;

function mapHeartbeat(frame: object, ctx: MapContext): MapResult {
  const r = checkHeartbeat(frame);
  if (!r.success) return schemaError(r.error);
  const t = resolveTime(r.data.time, ctx);
  return {
    kind: 'heartbeat',
    product: r.data.product_id,
    // 0 for a product without trades (sandbox heartbeat, bennycode fixture).
    lastTradeId: r.data.last_trade_id,
    sequence: r.data.sequence,
    time: t.time,
    flags: t.substituted ? ['time_substituted'] : [],
  };
}

function mapSnapshot(frame: object, ctx: MapContext): MapResult {
  const r = checkSnapshot(frame);
  if (!r.success) return schemaError(r.error);
  const bids: PriceLevel[] = [];
  const asks: PriceLevel[] = [];
  const dropped = collectLevels(r.data.bids, bids) + collectLevels(r.data.asks, asks);
  const flags: Flag[] = [];
  let time: string | undefined;
  if (r.data.time !== undefined) {
    const t = resolveTime(r.data.time, ctx);
    time = t.time;
    if (t.substituted) flags.push('time_substituted');
  }
  if (dropped > 0) flags.push('book_levels_dropped');
  return { kind: 'snapshot', product: r.data.product_id, bids, asks, time, flags, dropped };
}

function mapL2Update(frame: object, ctx: MapContext): MapResult {
  const r = checkL2Update(frame);
  if (!r.success) return schemaError(r.error);
  const changes: BookChange[] = [];
  let dropped = 0;
  for (const c of r.data.changes) {
    const [side, price, size] = asList(c);
    if (
      (side === 'buy' || side === 'sell') &&
      isNonNegativeDecimal(price) &&
      isNonNegativeDecimal(size)
    ) {
      changes.push([side, price, size]);
    } else {
      dropped++;
    }
  }
  const t = resolveTime(r.data.time, ctx);
  const flags: Flag[] = t.substituted ? ['time_substituted'] : [];
  if (dropped > 0) flags.push('book_levels_dropped');
  return { kind: 'l2update', product: r.data.product_id, changes, time: t.time, flags, dropped };
}

/** Keeps `[price, size, ...]` levels with valid non-negative decimals; returns the count
 * dropped (e.g. size "0.-10000", tardis-node mappers test YFI-USD snapshot). */
function collectLevels(raw: readonly unknown[], into: PriceLevel[]): number {
  let dropped = 0;
  for (const level of raw) {
    const [price, size] = asList(level);
    if (isNonNegativeDecimal(price) && isNonNegativeDecimal(size)) {
      into.push([price, size]);
    } else {
      dropped++;
    }
  }
  return dropped;
}
