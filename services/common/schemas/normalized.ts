import { z } from 'zod';

/**
 * Normalized messages on MD_NORM (version 1). Prices and sizes are decimal strings end
 * to end: never a float on the wire or in storage. `time` is the exchange's string as
 * received (a JS Date keeps only milliseconds).
 */
export const NORM_VERSION = 1;

/** The patterns, shared with the hand-written reader (normalized-reader.ts). */
export const DECIMAL_PATTERN = /^-?(0|[0-9]+)(\.[0-9]+)?$|^-?\.[0-9]+$|^-?[0-9]+\.$/;
export const TRADE_ID_PATTERN = /^[0-9]{1,30}$/;

export const DecimalString = z.string().regex(DECIMAL_PATTERN, 'a decimal string');
export const TradeIdString = z.string().regex(TRADE_ID_PATTERN, 'a decimal-integer trade id');

export const FLAGS = [
  'price_jump',
  'absurd_spread',
  'time_substituted',
  'book_levels_dropped',
  'conflated',
] as const;
export const FlagSchema = z.enum(FLAGS);
export type Flag = z.infer<typeof FlagSchema>;

const common = {
  v: z.literal(NORM_VERSION),
  venue: z.literal('coinbase'),
  product: z.string().min(1),
  seq: z.number().int().positive(),
  time: z.string(),
  recv_us: z.number().int().nonnegative(),
  flags: z.array(FlagSchema),
};

export const TradeSchema = z.object({
  ...common,
  type: z.literal('trade'),
  trade_id: TradeIdString,
  price: DecimalString,
  size: DecimalString,
  /** The taker's side (Coinbase's `match.side` is the maker's). */
  side: z.enum(['buy', 'sell']),
});
export type Trade = z.infer<typeof TradeSchema>;

export const TickerSchema = z.object({
  ...common,
  type: z.literal('ticker'),
  price: DecimalString,
  best_bid: DecimalString,
  best_ask: DecimalString,
  best_bid_size: DecimalString.optional(),
  best_ask_size: DecimalString.optional(),
  open_24h: DecimalString.optional(),
  high_24h: DecimalString.optional(),
  low_24h: DecimalString.optional(),
  volume_24h: DecimalString.optional(),
  change_24h_pct: DecimalString.optional(),
  trade_id: TradeIdString.optional(),
  /** The exchange's ordering key (Exchange: the product's `sequence`), kept for restarts. */
  sequence: TradeIdString.optional(),
});
export type Ticker = z.infer<typeof TickerSchema>;

export const LevelSchema = z.tuple([DecimalString, DecimalString]);
export type Level = z.infer<typeof LevelSchema>;

export const BookSchema = z.object({
  ...common,
  type: z.literal('book'),
  bids: z.array(LevelSchema),
  asks: z.array(LevelSchema),
});
export type Book = z.infer<typeof BookSchema>;

export const STATUS_EVENTS = [
  'gap',
  'book_invalid',
  'book_resynced',
  'feed_stale',
  'feed_ok',
  'feed_reconnected',
] as const;

export const StatusSchema = z.object({
  ...common,
  type: z.literal('status'),
  event: z.enum(STATUS_EVENTS),
  reason: z.string(),
  /** For `gap`: the inclusive missing trade ids. */
  from: TradeIdString.optional(),
  to: TradeIdString.optional(),
});
export type Status = z.infer<typeof StatusSchema>;

export const NormalizedSchema = z.discriminatedUnion('type', [
  TradeSchema,
  TickerSchema,
  BookSchema,
  StatusSchema,
]);
export type Normalized = z.infer<typeof NormalizedSchema>;
