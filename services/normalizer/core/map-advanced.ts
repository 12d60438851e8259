import { z } from 'zod';
import type { Flag } from '../../common/schemas/normalized.js';
import { isNonNegativeDecimal } from './decimal.js';
import { resolveTime } from './exchange-time.js';
import {
  OptionalDecimal,
  PriceSchema,
  canonicalId,
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
  type TradeResult,
} from './map-common.js';

/**
 * The Coinbase Advanced Trade mapper, beside the Exchange one (map-exchange.ts): one raw
 * frame (one product's, the ingestor splits the others) in, the frame's results out, in
 * order. Pure and total: it never throws (property-tested on arbitrary values). Prices and
 * sizes leave as the exact strings received. Field meanings: PROTOCOL.md §2.
 *
 * - `market_trades` → trades, oldest first (the feed lists them newest first, in snapshots
 *   and in updates: JKorf 2024 capture, 22381691 before 22381690). A snapshot replays
 *   recent trades: the processor's sequencer drops those already seen.
 * - `ticker` → tickers (no trade id, no sequence: ordered by connection and `sequence_num`).
 * - `l2_data` → snapshot / l2update for the same book as the Exchange's; sides `bid`/`offer`
 *   (not `ask`: PROTOCOL.md §0.6), absolute `new_quantity`, `"0"` in any spelling deletes.
 * - `heartbeats`, `subscriptions`, `candles`, `status`, `ticker_batch`, errors: ignored.
 */
export interface AdvancedMapped {
  /** The envelope's `sequence_num` (per connection), when usable. */
  sequenceNum: number | undefined;
  results: MapResult[];
}

const EnvelopeSchema = z.object({
  channel: z.string(),
  timestamp: z.unknown().optional(),
  sequence_num: z.int().nonnegative().optional().catch(undefined),
  events: z.array(z.unknown()),
});

/** Advanced Trade trade ids are decimal strings (PROTOCOL.md §2.3; docs example "000000000"). */
const TradeIdSchema = z
  .string()
  .regex(/^[0-9]{1,30}$/)
  .transform((v) => canonicalId(v));

/**
 * `side` is the MAKER's side, as in the Exchange `match`: a `SELL` printed at the ask, a
 * `BUY` at the bid. Evidence: PROTOCOL.md §0.4 (capture: 75 of 79 SELL trades printed at
 * the best ask), the same convention as the Exchange feed these trades come from (tardis-node
 * "coinbase side field indicates the maker order side"); Coinbase does not document it.
 */
const MakerSideSchema = z.enum(['BUY', 'SELL']);

const TradeSchema = z.object({
  product_id: z.string(),
  trade_id: TradeIdSchema,
  price: PriceSchema,
  size: PriceSchema,
  side: MakerSideSchema,
  time: z.unknown().optional(),
});

const TradesEventSchema = z.object({
  type: z.enum(['snapshot', 'update']),
  trades: z.array(z.unknown()),
});

const TickerSchema = z.object({
  product_id: z.string(),
  price: PriceSchema,
  best_bid: PriceSchema,
  best_ask: PriceSchema,
  best_bid_quantity: OptionalDecimal,
  best_ask_quantity: OptionalDecimal,
  volume_24_h: OptionalDecimal,
  low_24_h: OptionalDecimal,
  high_24_h: OptionalDecimal,
  price_percent_chg_24_h: OptionalDecimal,
});

const TickersEventSchema = z.object({
  type: z.enum(['snapshot', 'update']),
  tickers: z.array(z.unknown()),
});

const L2EventSchema = z.object({
  type: z.enum(['snapshot', 'update']),
  product_id: z.string(),
  updates: z.array(z.unknown()),
});

export function mapAdvancedFrame(frame: unknown, ctx: MapContext): AdvancedMapped {
  try {
    return mapUnsafe(frame, ctx);
  } catch (err) {
    // Unreachable by design; keeps "never throws" true for hostile values (getters, proxies).
    return one(invalid(`mapper error: ${describe(err)}`));
  }
}

/** Parses the raw text first: a frame that is not JSON is `unparsable`. */
export function mapAdvancedText(text: string, ctx: MapContext): AdvancedMapped {
  const parsed = parseFrameText(text);
  return 'value' in parsed ? mapAdvancedFrame(parsed.value, ctx) : one(parsed);
}

function one(r: MapResult, sequenceNum?: number): AdvancedMapped {
  return { sequenceNum, results: [r] };
}

function mapUnsafe(frame: unknown, ctx: MapContext): AdvancedMapped {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame))
    return one(invalid('not a JSON object'));
  const type = (frame as { type?: unknown }).type;
  if (type === 'lf_feed') return one(mapMarker(frame, ctx));
  const channel = (frame as { channel?: unknown }).channel;
  if (typeof channel !== 'string') {
    // Errors are not enveloped ({"type":"error",…}); they never name a product.
    if (typeof type === 'string') return one({ kind: 'ignore', type: type.slice(0, 64) });
    return one(invalid('no string "channel"'));
  }
  if (channel !== 'market_trades' && channel !== 'ticker' && channel !== 'l2_data')
    return one({ kind: 'ignore', type: channel.slice(0, 64) });
  const env = EnvelopeSchema.safeParse(frame);
  if (!env.success) return one(schemaError(env.error));
  const { events, sequence_num: sequenceNum } = env.data;
  // Every event's time is the envelope's: per-level `event_time`s are not monotonic
  // (PROTOCOL.md §2.3, nautilus parse_ws_l2_snapshot).
  const envelopeTime = resolveTime(env.data.timestamp, ctx);
  const results: MapResult[] = [];
  for (const [i, event] of events.entries()) {
    const r =
      channel === 'market_trades'
        ? mapTrades(event, ctx)
        : channel === 'ticker'
          ? mapTickers(event, ctx, envelopeTime)
          : mapL2(event, ctx, envelopeTime);
    const bad = r.find((x): x is Extract<MapResult, { kind: 'invalid' }> => x.kind === 'invalid');
    // A frame is one unit: one bad item sends it whole to MD_DLQ (kept, counted).
    if (bad !== undefined)
      return one({ ...bad, error: `events.${String(i)}: ${bad.error}` }, sequenceNum);
    results.push(...r);
  }
  return { sequenceNum, results };
}

function mapTrades(event: unknown, ctx: MapContext): MapResult[] {
  const e = TradesEventSchema.safeParse(event);
  if (!e.success) return [schemaError(e.error)];
  const out: TradeResult[] = [];
  for (const [i, item] of e.data.trades.entries()) {
    const t = TradeSchema.safeParse(item);
    if (!t.success) return [prefixed(`trades.${String(i)}`, schemaError(t.error))];
    if (t.data.product_id !== ctx.product) return [wrongProduct(t.data.product_id, ctx)];
    const time = resolveTime(t.data.time, ctx);
    out.push({
      kind: 'trade',
      product: t.data.product_id,
      tradeId: t.data.trade_id,
      price: t.data.price,
      size: t.data.size,
      side: t.data.side === 'BUY' ? 'sell' : 'buy',
      sequence: undefined,
      last: e.data.type === 'snapshot',
      time: time.time,
      flags: time.substituted ? ['time_substituted'] : [],
    });
  }
  // Oldest first: the sequencer then sees ids in order.
  return out.sort((a, b) => compareIds(a.tradeId, b.tradeId));
}

function mapTickers(
  event: unknown,
  ctx: MapContext,
  time: { time: string; substituted: boolean },
): MapResult[] {
  const e = TickersEventSchema.safeParse(event);
  if (!e.success) return [schemaError(e.error)];
  const out: MapResult[] = [];
  for (const [i, item] of e.data.tickers.entries()) {
    const t = TickerSchema.safeParse(item);
    if (!t.success) return [prefixed(`tickers.${String(i)}`, schemaError(t.error))];
    const f = t.data;
    if (f.product_id !== ctx.product) return [wrongProduct(f.product_id, ctx)];
    const r: TickerResult = {
      kind: 'ticker',
      product: f.product_id,
      price: f.price,
      best_bid: f.best_bid,
      best_ask: f.best_ask,
      time: time.time,
      flags: time.substituted ? ['time_substituted'] : [],
    };
    // Optional fields are absent when the feed lacks them (no open_24h, no trade id).
    const optional: [keyof TickerResult, string | undefined][] = [
      ['best_bid_size', f.best_bid_quantity],
      ['best_ask_size', f.best_ask_quantity],
      ['volume_24h', f.volume_24_h],
      ['low_24h', f.low_24_h],
      ['high_24h', f.high_24_h],
      ['change_24h_pct', f.price_percent_chg_24_h],
    ];
    for (const [k, v] of optional) if (v !== undefined) Object.assign(r, { [k]: v });
    out.push(r);
  }
  return out;
}

function mapL2(
  event: unknown,
  ctx: MapContext,
  time: { time: string; substituted: boolean },
): MapResult[] {
  const e = L2EventSchema.safeParse(event);
  if (!e.success) return [schemaError(e.error)];
  if (e.data.product_id !== ctx.product) return [wrongProduct(e.data.product_id, ctx)];
  const bids: PriceLevel[] = [];
  const asks: PriceLevel[] = [];
  const changes: BookChange[] = [];
  let dropped = 0;
  for (const u of e.data.updates) {
    const level = asLevel(u);
    if (level === undefined) {
      dropped++;
      continue;
    }
    const [side, price, size] = level;
    if (e.data.type === 'update') changes.push(level);
    else (side === 'buy' ? bids : asks).push([price, size]);
  }
  const flags: Flag[] = time.substituted ? ['time_substituted'] : [];
  if (dropped > 0) flags.push('book_levels_dropped');
  const product = e.data.product_id;
  return [
    e.data.type === 'snapshot'
      ? { kind: 'snapshot', product, bids, asks, time: time.time, flags, dropped }
      : { kind: 'l2update', product, changes, time: time.time, flags, dropped },
  ];
}

/** `{side, price_level, new_quantity}` with a known side and valid decimals, else undefined. */
function asLevel(u: unknown): BookChange | undefined {
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return undefined;
  const { side, price_level: price, new_quantity: size } = u as Record<string, unknown>;
  if (!isNonNegativeDecimal(price) || !isNonNegativeDecimal(size)) return undefined;
  if (side === 'bid') return ['buy', price, size];
  if (side === 'offer') return ['sell', price, size];
  return undefined;
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function wrongProduct(product: string, ctx: MapContext): MapResult {
  return invalid(`product_id ${JSON.stringify(product)} on the subject of ${ctx.product}`);
}

function prefixed(path: string, r: MapResult): MapResult {
  return r.kind === 'invalid' ? { ...r, error: `${path}: ${r.error}` } : r;
}
