import { z } from 'zod';
import {
  BookSchema,
  DecimalString,
  LevelSchema,
  StatusSchema,
  TickerSchema,
  TradeIdString,
  TradeSchema,
} from '../../common/schemas/normalized.js';
import { CANDLE_INTERVAL_NAMES } from '../../snapshotter/core/candles.js';
import type {
  BookAt,
  CandleOut,
  GapOut,
  StateAt,
  Stats24h,
  TickerAt,
  TradeOut,
  TradePage,
} from '../../snapshotter/queries.js';
import { REST_ERROR_CODES } from './errors.js';

/**
 * Every REST response body as a zod schema: the OpenAPI document is generated from these
 * (openapi.ts) and the integration tests validate every response against that document.
 * The handlers are typed by them; the type checks at the end keep them equal to the
 * snapshotter's query types. Decimals are strings, never floats.
 */

const Offset = z.int().nonnegative().meta({ description: 'MD_NORM stream sequence' });
const Seq = z.int().positive().meta({ description: 'MD_NORM seq (per product and kind)' });
const Utc = z.iso
  .datetime()
  .meta({ description: 'RFC 3339 UTC time with microseconds, e.g. 2024-05-01T12:00:00.123456Z' });
const ExchangeTime = z.string().meta({ description: "The exchange's time string, as received" });
const Product = z.string().meta({ description: 'Product id, e.g. BTC-USD' });
const NullableDecimal = DecimalString.nullable();

export const ErrorSchema = z
  .object({ code: z.enum([...REST_ERROR_CODES, 'UPGRADE_REQUIRED']), message: z.string() })
  .meta({ title: 'Error', description: 'Every error: a stable code and a readable message' });

// Current state (MD_NORM, direct get): the normalized messages, as the WebSocket sends them.

const withOffset = { offset: Offset };
export const CurrentSchema = z
  .object({
    venue: z.literal('coinbase'),
    product: Product,
    ticker: TickerSchema.extend(withOffset).nullable(),
    book: BookSchema.extend(withOffset)
      .nullable()
      .meta({ description: 'Top of the book, cut to `depth` levels per side' }),
    last_trade: TradeSchema.extend(withOffset).nullable(),
    status: StatusSchema.extend(withOffset)
      .nullable()
      .meta({ description: 'The latest status event (gaps included)' }),
    offsets: z
      .object({
        ticker: Offset.nullable(),
        book: Offset.nullable(),
        trade: Offset.nullable(),
        status: Offset.nullable(),
      })
      .meta({ description: 'MD_NORM offset of the latest message of each kind' }),
  })
  .meta({ title: 'ProductCurrent' });
export type Current = z.infer<typeof CurrentSchema>;

export const ProductsSchema = z
  .object({ products: z.array(CurrentSchema) })
  .meta({ title: 'Products', description: 'The configured products, in configuration order' });

// History (PostgreSQL, snapshotter/queries.ts)

const TradeOutSchema = z
  .object({
    trade_id: TradeIdString,
    price: DecimalString,
    size: DecimalString,
    side: z.enum(['buy', 'sell']).meta({ description: "The taker's side" }),
    time: ExchangeTime,
    offset: Offset,
    seq: Seq,
  })
  .meta({ title: 'Trade' });

const stamp = { time: ExchangeTime, as_of: Utc, offset: Offset, seq: Seq };

const TickerAtSchema = z
  .object({
    price: DecimalString,
    best_bid: DecimalString,
    best_ask: DecimalString,
    best_bid_size: NullableDecimal,
    best_ask_size: NullableDecimal,
    open_24h: NullableDecimal,
    high_24h: NullableDecimal,
    low_24h: NullableDecimal,
    volume_24h: NullableDecimal,
    change_24h_pct: NullableDecimal,
    trade_id: TradeIdString.nullable(),
    ...stamp,
  })
  .meta({ title: 'TickerAt' });

const BookAtSchema = z
  .object({
    bids: z.array(LevelSchema).meta({ description: '[price, size], best first' }),
    asks: z.array(LevelSchema),
    valid: z.boolean().meta({ description: 'False while the normalizer had it invalid' }),
    ...stamp,
  })
  .meta({ title: 'BookAt' });

const Stats24hSchema = z
  .object({
    from: Utc,
    to: Utc,
    open: DecimalString,
    high: DecimalString,
    low: DecimalString,
    last: DecimalString,
    volume: DecimalString,
    trade_count: z.int().nonnegative(),
  })
  .meta({ title: 'Stats24h', description: 'Trades in (at − 24 h, at]' });

export const StateAtSchema = z
  .object({
    venue: z.string(),
    product: Product,
    at: Utc,
    as_of: Utc.nullable().meta({
      description: 'The snapshot boundary used (≤ at); null when nothing was recorded before',
    }),
    offset: Offset.nullable(),
    ticker: TickerAtSchema.nullable(),
    book: BookAtSchema.nullable(),
    last_trade: TradeOutSchema.nullable(),
    stats_24h: Stats24hSchema.nullable(),
  })
  .meta({ title: 'StateAt' });

const CandleSchema = z
  .object({
    start: Utc,
    open: DecimalString,
    high: DecimalString,
    low: DecimalString,
    close: DecimalString,
    volume: DecimalString,
    trade_count: z.int().positive(),
  })
  .meta({ title: 'Candle' });

export const CandlesSchema = z
  .object({
    product: Product,
    interval: z.enum(CANDLE_INTERVAL_NAMES),
    from: Utc,
    to: Utc,
    candles: z
      .array(CandleSchema)
      .meta({ description: 'Whole buckets overlapping [from, to), oldest first; none if empty' }),
  })
  .meta({ title: 'Candles' });

const GapSchema = z
  .object({
    from: TradeIdString.meta({ description: 'First missing trade id (inclusive)' }),
    to: TradeIdString.meta({ description: 'Last missing trade id (inclusive)' }),
    time: ExchangeTime,
    reason: z.string(),
    offset: Offset,
  })
  .meta({ title: 'Gap' });

export const TradesSchema = z
  .object({
    product: Product,
    trades: z.array(TradeOutSchema),
    gaps: z
      .array(GapSchema)
      .meta({ description: "Gaps whose missing ids fall within this page's span of trade ids" }),
    next_cursor: z
      .string()
      .nullable()
      .meta({ description: 'Pass as `cursor` (same range) for the next page; null on the last' }),
  })
  .meta({ title: 'Trades' });

export const GapsSchema = z
  .object({ product: Product, from: Utc, to: Utc, gaps: z.array(GapSchema) })
  .meta({ title: 'Gaps' });

// Probes (served by ws-server.ts) and the document itself

export const HealthSchema = z.object({ status: z.literal('ok') }).meta({ title: 'Health' });
export const ReadySchema = z.object({ status: z.literal('ready') }).meta({ title: 'Ready' });
export const NotReadySchema = z
  .object({ status: z.literal('not_ready'), reason: z.string() })
  .meta({ title: 'NotReady' });
export const OpenApiSchema = z
  .looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) })
  .meta({ title: 'OpenAPI', description: 'This document (OpenAPI 3.1)' });

// The snapshotter's query types and these schemas must stay the same types.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _sameTypes: [
  Same<z.infer<typeof TradeOutSchema>, TradeOut>,
  Same<z.infer<typeof TickerAtSchema>, TickerAt>,
  Same<z.infer<typeof BookAtSchema>, BookAt>,
  Same<z.infer<typeof Stats24hSchema>, Stats24h>,
  Same<z.infer<typeof StateAtSchema>, StateAt>,
  Same<z.infer<typeof CandleSchema>, CandleOut>,
  Same<z.infer<typeof GapSchema>, GapOut>,
  Same<Omit<z.infer<typeof TradesSchema>, 'product'>, TradePage>,
] = [true, true, true, true, true, true, true, true];

export type ProductsBody = z.infer<typeof ProductsSchema>;
export type CandlesBody = z.infer<typeof CandlesSchema>;
