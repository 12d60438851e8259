import type { Level } from '../../common/schemas/normalized.js';
import type { GapRow, TradeRow } from './batch.js';
import type { ProductState, Stamp } from './state.js';
import { isoFromUs } from '../../common/time.js';

/**
 * Column layouts, declared once: each column names its SQL type and how to read it off a
 * row. store.ts builds `INSERT … SELECT … FROM unnest($1::text::text[], …)` from them (every
 * value travels as text and is cast in SQL, so a µs time or a long decimal never passes
 * through a JS Date or a float), and restores a product's state from the same list.
 */

export type SqlType =
  'text' | 'numeric' | 'numeric[]' | 'text[]' | 'bigint' | 'boolean' | 'timestamptz';

export interface Column<T> {
  name: string;
  type: SqlType;
  get: (row: T) => string | null;
  /** A text value that is a token or an enum (no quotes, no backslashes): quoted, not escaped. */
  token?: true;
}

const str = (v: string | undefined): string | null => v ?? null;
const int = (v: number | undefined): string | null => (v === undefined ? null : String(v));
const time = (us: number | undefined): string | null => (us === undefined ? null : isoFromUs(us));
/** A PostgreSQL array literal of decimals (validated strings: digits, '.', '-'). */
const decArray = (xs: readonly string[] | undefined): string | null =>
  xs === undefined ? null : `{${xs.join(',')}}`;
const textArray = (xs: readonly string[]): string => (xs.length === 0 ? '{}' : `{${xs.join(',')}}`);

function stampColumns(
  prefix: string,
  get: (s: ProductState) => Stamp | undefined,
): Column<ProductState>[] {
  return [
    { name: `${prefix}_time`, type: 'timestamptz', get: (s) => time(get(s)?.timeUs) },
    { name: `${prefix}_time_raw`, type: 'text', get: (s) => str(get(s)?.time) },
    { name: `${prefix}_offset`, type: 'bigint', get: (s) => int(get(s)?.offset) },
    { name: `${prefix}_seq`, type: 'bigint', get: (s) => int(get(s)?.seq) },
  ];
}

const TICKER_DECIMALS = [
  'price',
  'best_bid',
  'best_ask',
  'best_bid_size',
  'best_ask_size',
  'open_24h',
  'high_24h',
  'low_24h',
  'volume_24h',
  'change_24h_pct',
  'trade_id',
  'sequence',
] as const;

/** The state columns shared by `snapshots` and `latest_state`. */
export const STATE_COLUMNS: readonly Column<ProductState>[] = [
  { name: 'norm_offset', type: 'bigint', get: (s) => String(s.offset) },
  { name: 'max_time', type: 'timestamptz', get: (s) => isoFromUs(s.maxTimeUs) },
  ...TICKER_DECIMALS.map((f): Column<ProductState> => ({
    name: `ticker_${f}`,
    type: 'numeric',
    get: (s) => str(s.ticker?.[f]),
  })),
  ...stampColumns('ticker', (s) => s.ticker),
  { name: 'book_bid_px', type: 'numeric[]', get: (s) => decArray(s.book?.bids.map((l) => l[0])) },
  { name: 'book_bid_sz', type: 'numeric[]', get: (s) => decArray(s.book?.bids.map((l) => l[1])) },
  { name: 'book_ask_px', type: 'numeric[]', get: (s) => decArray(s.book?.asks.map((l) => l[0])) },
  { name: 'book_ask_sz', type: 'numeric[]', get: (s) => decArray(s.book?.asks.map((l) => l[1])) },
  {
    name: 'book_valid',
    type: 'boolean',
    get: (s) => (s.book === undefined ? null : String(s.book.valid)),
  },
  ...stampColumns('book', (s) => s.book),
  { name: 'trade_id', type: 'numeric', get: (s) => str(s.trade?.trade_id) },
  { name: 'trade_price', type: 'numeric', get: (s) => str(s.trade?.price) },
  { name: 'trade_size', type: 'numeric', get: (s) => str(s.trade?.size) },
  { name: 'trade_side', type: 'text', get: (s) => str(s.trade?.side) },
  ...stampColumns('trade', (s) => s.trade),
  { name: 'status_event', type: 'text', get: (s) => str(s.status?.event) },
  { name: 'status_reason', type: 'text', get: (s) => str(s.status?.reason) },
  ...stampColumns('status', (s) => s.status),
];

export const TRADE_COLUMNS: readonly Column<TradeRow>[] = [
  { name: 'venue', type: 'text', get: (t) => t.venue, token: true },
  { name: 'product', type: 'text', get: (t) => t.product, token: true },
  { name: 'trade_id', type: 'numeric', get: (t) => t.trade_id },
  { name: 'time', type: 'timestamptz', get: (t) => isoFromUs(t.timeUs) },
  { name: 'time_raw', type: 'text', get: (t) => t.time },
  { name: 'price', type: 'numeric', get: (t) => t.price },
  { name: 'size', type: 'numeric', get: (t) => t.size },
  { name: 'side', type: 'text', get: (t) => t.side, token: true },
  { name: 'seq', type: 'bigint', get: (t) => String(t.seq) },
  { name: 'norm_offset', type: 'bigint', get: (t) => String(t.offset) },
  { name: 'recv_us', type: 'bigint', get: (t) => String(t.recv_us) },
  { name: 'flags', type: 'text[]', get: (t) => textArray(t.flags), token: true },
];

export const GAP_COLUMNS: readonly Column<GapRow>[] = [
  { name: 'venue', type: 'text', get: (g) => g.venue, token: true },
  { name: 'product', type: 'text', get: (g) => g.product, token: true },
  { name: 'from_id', type: 'numeric', get: (g) => g.from_id },
  { name: 'to_id', type: 'numeric', get: (g) => g.to_id },
  { name: 'time', type: 'timestamptz', get: (g) => isoFromUs(g.timeUs) },
  { name: 'time_raw', type: 'text', get: (g) => g.time },
  { name: 'reason', type: 'text', get: (g) => g.reason },
  { name: 'norm_offset', type: 'bigint', get: (g) => String(g.offset) },
];

/** Types whose values never need quoting in an array literal: never empty, never "NULL". */
const BARE: ReadonlySet<SqlType> = new Set(['numeric', 'bigint', 'timestamptz', 'boolean']);
const quote = (v: string): string =>
  v.includes('"') || v.includes('\\') ? `"${v.replace(/["\\]/g, '\\$&')}"` : `"${v}"`;

/**
 * One PostgreSQL array literal per column (`{1.5,NULL,"a \"b\""}`), for
 * `unnest($n::text::text[])`: built here in one pass per column, cheaper than a driver
 * serializing every element of every array.
 */
export function columnLiterals<T>(rows: readonly T[], columns: readonly Column<T>[]): string[] {
  return columns.map((c) => {
    const bare = BARE.has(c.type);
    const token = c.token === true;
    const parts = new Array<string>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const v = c.get(rows[i] as T);
      parts[i] = v === null ? 'NULL' : bare ? v : token ? `"${v}"` : quote(v);
    }
    return `{${parts.join(',')}}`;
  });
}

/**
 * A product's state back from a `latest_state` row read as text (times as µs integers,
 * arrays as PostgreSQL literals): the exact inverse of STATE_COLUMNS, up to decimal spelling.
 */
export function stateFromRow(
  venue: string,
  product: string,
  r: Record<string, string | null>,
): ProductState {
  const num = (k: string): number => Number(r[k]);
  const opt = (k: string): string | undefined => r[k] ?? undefined;
  const stamp = (p: string): Stamp | undefined =>
    r[`${p}_offset`] === null || r[`${p}_offset`] === undefined
      ? undefined
      : {
          time: r[`${p}_time_raw`] ?? '',
          timeUs: num(`${p}_time`),
          offset: num(`${p}_offset`),
          seq: num(`${p}_seq`),
        };
  const state: ProductState = {
    venue,
    product,
    offset: num('norm_offset'),
    maxTimeUs: num('max_time'),
  };
  const ts = stamp('ticker');
  if (ts !== undefined) {
    const t = Object.fromEntries(TICKER_DECIMALS.map((f) => [f, opt(`ticker_${f}`)]));
    state.ticker = {
      ...ts,
      ...t,
      price: opt('ticker_price') ?? '0',
      best_bid: opt('ticker_best_bid') ?? '0',
      best_ask: opt('ticker_best_ask') ?? '0',
    };
  }
  const bs = stamp('book');
  if (bs !== undefined) {
    const bids = zipLevels(r.book_bid_px ?? null, r.book_bid_sz ?? null);
    const asks = zipLevels(r.book_ask_px ?? null, r.book_ask_sz ?? null);
    state.book = { ...bs, bids, asks, valid: r.book_valid === 'true' };
  }
  const tr = stamp('trade');
  if (tr !== undefined) {
    state.trade = {
      ...tr,
      trade_id: opt('trade_id') ?? '0',
      price: opt('trade_price') ?? '0',
      size: opt('trade_size') ?? '0',
      side: r.trade_side === 'sell' ? 'sell' : 'buy',
    };
  }
  const st = stamp('status');
  if (st !== undefined) {
    state.status = { ...st, event: opt('status_event') ?? '', reason: opt('status_reason') ?? '' };
  }
  return state;
}

/** `{1.5,2}` + `{0.1,3}` → [["1.5","0.1"],["2","3"]]. */
export function zipLevels(prices: string | null, sizes: string | null): Level[] {
  const px = parseArrayLiteral(prices);
  const sz = parseArrayLiteral(sizes);
  return px.map((p, i) => [p, sz[i] ?? '0']);
}

function parseArrayLiteral(s: string | null): string[] {
  if (s === null || s === '{}') return [];
  return s.slice(1, -1).split(',');
}
