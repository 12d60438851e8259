import { z } from 'zod';
import type { Flag } from '../../common/schemas/normalized.js';
import { isDecimal, isNonNegativeDecimal } from './decimal.js';

/**
 * What both venue mappers (map-exchange.ts, map-advanced.ts) share: the result types the
 * product processor consumes, our own feed-boundary markers, and the schema helpers.
 * Pure and total, like the mappers.
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
  /** The TAKER side (both feeds print the maker's; PROTOCOL.md §0.4). */
  side: Side;
  /** The product's full-channel sequence (not contiguous on `matches`; none on Advanced Trade). */
  sequence: string | undefined;
  /** Replayed on subscribe (`last_match`, a market_trades snapshot): possibly seen already. */
  last: boolean;
  time: string;
  flags: Flag[];
}

export interface TickerResult {
  kind: 'ticker';
  product: string;
  /** The Exchange's per-product `sequence` (Advanced Trade tickers have none). */
  sequence?: string;
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
  change_24h_pct?: string;
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

export const PriceSchema = z.string().refine(isNonNegativeDecimal, 'a non-negative decimal string');

/** Optional stats: null or an odd value is omitted, never a reason to reject the frame. */
export const OptionalDecimal = z
  .unknown()
  .optional()
  .transform((v) => (isDecimal(v) ? v : undefined));

/** Our own feed-boundary marker (services/ingestor/core/route.ts `marker`). */
const MarkerSchema = z.object({
  type: z.literal('lf_feed'),
  state: z.enum(['connected', 'stale', 'resubscribed', 'dropped']),
  conn: z.string().min(1),
  product_id: z.string().optional(),
  reason: z.string().optional(),
});

const NONE: readonly unknown[] = [];

export function asList(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : NONE;
}

/** Parses the raw text: a frame that is not JSON is `unparsable`. */
export function parseFrameText(text: string): { value: unknown } | MapResult {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    return { kind: 'invalid', reason: 'unparsable', error: `not JSON: ${describe(err)}` };
  }
}

export function mapMarker(frame: object, ctx: MapContext): MapResult {
  const r = MarkerSchema.safeParse(frame);
  if (!r.success) return schemaError(r.error);
  if (r.data.product_id !== undefined && r.data.product_id !== ctx.product) {
    return invalid(`marker for ${r.data.product_id} on the subject of ${ctx.product}`);
  }
  const out: MapResult = { kind: 'marker', state: r.data.state, conn: r.data.conn };
  if (r.data.reason !== undefined) out.reason = r.data.reason;
  return out;
}

export function canonicalId(v: number | string): string {
  if (typeof v === 'number') return String(v);
  const s = v.replace(/^0+(?=[0-9])/, '');
  return s;
}

export function invalid(error: string): MapResult {
  return { kind: 'invalid', reason: 'schema', error };
}

export function schemaError(err: z.ZodError): MapResult {
  const text = err.issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  return invalid(text.slice(0, 500));
}

export function describe(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable error';
  }
}
