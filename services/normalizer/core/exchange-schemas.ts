import { z } from 'zod';
import { isDecimal, isNonNegativeDecimal } from './decimal.js';
import { OptionalDecimal, PriceSchema, canonicalId } from './map-common.js';

/**
 * The Coinbase Exchange frame schemas (zod: the specification) and, beside each, a
 * hand-written reader of the same rules for the hot path: zod costs several µs per frame
 * (a third of the mapper's time on the bench workload). A reader returns zod's output
 * or undefined; on undefined the zod schema decides, so an error reads exactly as zod
 * words it, and a reader stricter than its schema costs speed, never a frame.
 * exchange-schemas.test.ts proves reader and schema agree (fast-check).
 */

// Venue schemas: z.object strips unknown keys, so new fields are tolerated (PROTOCOL.md §0.10).

/** Exchange ids are JSON integers; digit strings are accepted too. Unsafe integers are not
 * (JSON.parse already lost their digits). */
export const IdSchema = z
  .union([z.int().nonnegative(), z.string().regex(/^[0-9]{1,30}$/)])
  .transform((v) => canonicalId(v));
const OptionalId = z
  .unknown()
  .optional()
  .transform((v) => {
    const r = IdSchema.safeParse(v);
    return r.success ? r.data : undefined;
  });
const SideSchema = z.enum(['buy', 'sell']);

export const MatchSchema = z.object({
  type: z.enum(['match', 'last_match']),
  product_id: z.string(),
  trade_id: IdSchema,
  side: SideSchema,
  price: PriceSchema,
  size: PriceSchema,
  sequence: OptionalId,
  time: z.unknown().optional(),
});

export const TickerFrameSchema = z.object({
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

export const HeartbeatSchema = z.object({
  type: z.literal('heartbeat'),
  product_id: z.string(),
  sequence: IdSchema,
  last_trade_id: IdSchema,
  time: z.unknown().optional(),
});

export const SnapshotSchema = z.object({
  type: z.literal('snapshot'),
  product_id: z.string(),
  bids: z.array(z.unknown()),
  asks: z.array(z.unknown()),
  time: z.unknown().optional(),
});

export const L2UpdateSchema = z.object({
  type: z.literal('l2update'),
  product_id: z.string(),
  changes: z.array(z.unknown()),
  time: z.unknown().optional(),
});

export type MatchFrame = z.infer<typeof MatchSchema>;
export type TickerFrame = z.infer<typeof TickerFrameSchema>;
export type HeartbeatFrame = z.infer<typeof HeartbeatSchema>;
export type SnapshotFrame = z.infer<typeof SnapshotSchema>;
export type L2UpdateFrame = z.infer<typeof L2UpdateSchema>;

type Fields = Record<string, unknown>;

const ID_DIGITS = /^[0-9]{1,30}$/;

/** IdSchema by hand: a safe non-negative integer, or 1 to 30 digits; canonical string. */
export function readId(v: unknown): string | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? canonicalId(v) : undefined;
  if (typeof v === 'string') return ID_DIGITS.test(v) ? canonicalId(v) : undefined;
  return undefined;
}

function optionalDecimal(v: unknown): string | undefined {
  return isDecimal(v) ? v : undefined;
}

export function readMatch(f: Fields): MatchFrame | undefined {
  const { type, product_id, side, price, size } = f;
  if (type !== 'match' && type !== 'last_match') return undefined;
  if (typeof product_id !== 'string') return undefined;
  const trade_id = readId(f.trade_id);
  if (trade_id === undefined) return undefined;
  if (side !== 'buy' && side !== 'sell') return undefined;
  if (!isNonNegativeDecimal(price) || !isNonNegativeDecimal(size)) return undefined;
  return {
    type,
    product_id,
    trade_id,
    side,
    price,
    size,
    sequence: readId(f.sequence),
    time: f.time,
  };
}

export function readTicker(f: Fields): TickerFrame | undefined {
  const { product_id, price, best_bid, best_ask, side } = f;
  if (f.type !== 'ticker' || typeof product_id !== 'string') return undefined;
  const sequence = readId(f.sequence);
  if (sequence === undefined) return undefined;
  if (!isNonNegativeDecimal(price)) return undefined;
  if (!isNonNegativeDecimal(best_bid) || !isNonNegativeDecimal(best_ask)) return undefined;
  return {
    type: 'ticker',
    product_id,
    sequence,
    price,
    best_bid,
    best_ask,
    best_bid_size: optionalDecimal(f.best_bid_size),
    best_ask_size: optionalDecimal(f.best_ask_size),
    open_24h: optionalDecimal(f.open_24h),
    high_24h: optionalDecimal(f.high_24h),
    low_24h: optionalDecimal(f.low_24h),
    volume_24h: optionalDecimal(f.volume_24h),
    volume_30d: optionalDecimal(f.volume_30d),
    last_size: optionalDecimal(f.last_size),
    trade_id: readId(f.trade_id),
    side: side === 'buy' || side === 'sell' ? side : undefined,
    time: f.time,
  };
}

export function readHeartbeat(f: Fields): HeartbeatFrame | undefined {
  const { product_id } = f;
  if (f.type !== 'heartbeat' || typeof product_id !== 'string') return undefined;
  const sequence = readId(f.sequence);
  const last_trade_id = readId(f.last_trade_id);
  if (sequence === undefined || last_trade_id === undefined) return undefined;
  return { type: 'heartbeat', product_id, sequence, last_trade_id, time: f.time };
}

export function readSnapshot(f: Fields): SnapshotFrame | undefined {
  const { product_id, bids, asks } = f;
  if (f.type !== 'snapshot' || typeof product_id !== 'string') return undefined;
  if (!Array.isArray(bids) || !Array.isArray(asks)) return undefined;
  return {
    type: 'snapshot',
    product_id,
    bids: bids as unknown[],
    asks: asks as unknown[],
    time: f.time,
  };
}

export function readL2Update(f: Fields): L2UpdateFrame | undefined {
  const { product_id, changes } = f;
  if (f.type !== 'l2update' || typeof product_id !== 'string') return undefined;
  if (!Array.isArray(changes)) return undefined;
  return { type: 'l2update', product_id, changes: changes as unknown[], time: f.time };
}

export type Checked<T> = { success: true; data: T } | { success: false; error: z.ZodError };

/** The reader's answer, or the schema's when the reader declines. */
function checked<T>(
  schema: z.ZodType<T>,
  read: (f: Fields) => T | undefined,
): (frame: object) => Checked<T> {
  return (frame) => {
    const data = read(frame as Fields);
    return data !== undefined ? { success: true, data } : schema.safeParse(frame);
  };
}

export const checkMatch = checked(MatchSchema, readMatch);
export const checkTicker = checked(TickerFrameSchema, readTicker);
export const checkHeartbeat = checked(HeartbeatSchema, readHeartbeat);
export const checkSnapshot = checked(SnapshotSchema, readSnapshot);
export const checkL2Update = checked(L2UpdateSchema, readL2Update);
