import { z } from 'zod';
import type { Flag } from '../../common/schemas/normalized.js';
import { isDecimal, isNonNegativeDecimal } from './decimal.js';
import { resolveTime } from './exchange-time.js';

/**
 * The Coinbase Exchange mapper: one raw frame in, one MapResult out. Pure and total: it
 * never throws, whatever the input (property-tested on arbitrary values). Prices and sizes
 * leave as the exact strings received; ids as canonical decimal-integer strings.
 * Field meanings follow PROTOCOL.md §1.4; quirks cite their evidence inline. messages.ts
 * turns trade and ticker results into MD_NORM messages.
 */

export type Side = 'buy' | 'sell';
export type PriceLevel = readonly [price: string, size: string];
export type BookChange = readonly [side: Side, price: string, size: string];
export type MarkerState = 'connected' | 'stale' | 'resubscribed' | 'dropped';

export interface MapContext {
  /** Epoch µs at receipt (the Lf-Recv-Us header). */
  recvUs: number;
  /** The product of the raw subject; a frame for another product is a schema error. */
  product: string;
  /** The product's previous valid exchange time, the first substitute for a bad one. */
  lastValidTime?: string | undefined;
}

export interface TradeResult {
  kind: 'trade';
  product: string;
  tradeId: string;
  price: string;
  size: string;
  /** The TAKER side: the opposite of `match.side`, which is the maker's (PROTOCOL.md §0.4). */
  side: Side;
  /** The product's full-channel sequence (not contiguous on `matches`). */
  sequence: string | undefined;
  /** `last_match`: the replay of the latest trade on subscribe, possibly seen already. */
  last: boolean;
  time: string;
  flags: Flag[];
}

export interface TickerResult {
  kind: 'ticker';
  product: string;
  sequence: string;
  price: string;
  best_bid: string;
  best_ask: string;
  best_bid_size?: string;
  best_ask_size?: string;
  open_24h?: string;
  high_24h?: string;
  low_24h?: string;
  volume_24h?: string;
  volume_30d?: string;
  last_size?: string;
  trade_id?: string;
  /** Ticker `side` is already the taker's (PROTOCOL.md §0.4: 107/107 pairs opposite to match). */
  side?: Side;
  time: string;
  flags: Flag[];
}

export type MapResult =
  | TradeResult
  | TickerResult
  | {
      kind: 'snapshot';
      product: string;
      bids: PriceLevel[];
      asks: PriceLevel[];
      /** Absent in 2021 snapshots (PROTOCOL.md §1.4); substituted and flagged when invalid. */
      time: string | undefined;
      flags: Flag[];
      /** Levels dropped for a NaN or negative price/size: the caller marks the book for resync. */
      dropped: number;
    }
  | {
      kind: 'l2update';
      product: string;
      changes: BookChange[];
      time: string;
      flags: Flag[];
      dropped: number;
    }
  | {
      kind: 'heartbeat';
      product: string;
      lastTradeId: string;
      sequence: string;
      time: string;
      flags: Flag[];
    }
  | { kind: 'marker'; state: MarkerState; conn: string; reason?: string }
  | { kind: 'ignore'; type: string }
  | { kind: 'invalid'; reason: 'schema' | 'unparsable'; error: string };

export type MapKind = MapResult['kind'];

// Venue schemas: z.object strips unknown keys, so new fields are tolerated (PROTOCOL.md §0.10).

/** Exchange ids are JSON integers; digit strings are accepted too. Unsafe integers are not
 * (JSON.parse already lost their digits). */
const IdSchema = z
  .union([z.int().nonnegative(), z.string().regex(/^[0-9]{1,30}$/)])
  .transform((v) => canonicalId(v));
const PriceSchema = z.string().refine(isNonNegativeDecimal, 'a non-negative decimal string');
/** Optional stats: null or an odd value is omitted, never a reason to reject the frame. */
const OptionalDecimal = z
  .unknown()
  .optional()
  .transform((v) => (isDecimal(v) ? v : undefined));
const OptionalId = z
  .unknown()
  .optional()
  .transform((v) => {
    const r = IdSchema.safeParse(v);
    return r.success ? r.data : undefined;
  });
const SideSchema = z.enum(['buy', 'sell']);

const MatchSchema = z.object({
  type: z.enum(['match', 'last_match']),
  product_id: z.string(),
  trade_id: IdSchema,
  side: SideSchema,
  price: PriceSchema,
  size: PriceSchema,
  sequence: OptionalId,
  time: z.unknown().optional(),
});

const TickerFrameSchema = z.object({
  type: z.literal('ticker'),
  product_id: z.string(),
  sequence: IdSchema,
  price: PriceSchema,
  best_bid: PriceSchema,
  best_ask: PriceSchema,
  best_bid_size: OptionalDecimal,
  best_ask_size: OptionalDecimal,
  open_24h: OptionalDecimal,
  high_24h: OptionalDecimal,
  low_24h: OptionalDecimal,
  volume_24h: OptionalDecimal,
  volume_30d: OptionalDecimal,
  last_size: OptionalDecimal,
  trade_id: OptionalId,
  side: z
    .unknown()
    .optional()
    .transform((v) => (v === 'buy' || v === 'sell' ? v : undefined)),
  time: z.unknown().optional(),
});

const HeartbeatSchema = z.object({
  type: z.literal('heartbeat'),
  product_id: z.string(),
  sequence: IdSchema,
  last_trade_id: IdSchema,
  time: z.unknown().optional(),
});

const SnapshotSchema = z.object({
  type: z.literal('snapshot'),
  product_id: z.string(),
  bids: z.array(z.unknown()),
  asks: z.array(z.unknown()),
  time: z.unknown().optional(),
});

const L2UpdateSchema = z.object({
  type: z.literal('l2update'),
  product_id: z.string(),
  changes: z.array(z.unknown()),
  time: z.unknown().optional(),
});

/** Our own feed-boundary marker (services/ingestor/core/route.ts `marker`). */
const MarkerSchema = z.object({
  type: z.literal('lf_feed'),
  state: z.enum(['connected', 'stale', 'resubscribed', 'dropped']),
  conn: z.string().min(1),
  product_id: z.string().optional(),
  reason: z.string().optional(),
});

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
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'invalid', reason: 'unparsable', error: `not JSON: ${describe(err)}` };
  }
  return mapExchangeFrame(value, ctx);
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
  const r = MatchSchema.safeParse(frame);
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
  const r = TickerFrameSchema.safeParse(frame);
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
  const r = HeartbeatSchema.safeParse(frame);
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
  const r = SnapshotSchema.safeParse(frame);
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
  const r = L2UpdateSchema.safeParse(frame);
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

const NONE: readonly unknown[] = [];

function asList(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : NONE;
}

function mapMarker(frame: object, ctx: MapContext): MapResult {
  const r = MarkerSchema.safeParse(frame);
  if (!r.success) return schemaError(r.error);
  if (r.data.product_id !== undefined && r.data.product_id !== ctx.product) {
    return invalid(`marker for ${r.data.product_id} on the subject of ${ctx.product}`);
  }
  const out: MapResult = { kind: 'marker', state: r.data.state, conn: r.data.conn };
  if (r.data.reason !== undefined) out.reason = r.data.reason;
  return out;
}

function canonicalId(v: number | string): string {
  if (typeof v === 'number') return String(v);
  const s = v.replace(/^0+(?=[0-9])/, '');
  return s;
}

function invalid(error: string): MapResult {
  return { kind: 'invalid', reason: 'schema', error };
}

function schemaError(err: z.ZodError): MapResult {
  const text = err.issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  return invalid(text.slice(0, 500));
}

function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable error';
  }
}
