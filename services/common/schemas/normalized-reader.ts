import {
  DECIMAL_PATTERN,
  FLAGS,
  NORM_VERSION,
  STATUS_EVENTS,
  TRADE_ID_PATTERN,
  type Book,
  type Flag,
  type Level,
  type Normalized,
  type Status,
  type Ticker,
  type Trade,
} from './normalized.js';

/**
 * NormalizedSchema's rules by hand, for consumers' hot paths: zod costs several µs per
 * message (a fifth of the snapshotter's CPU per message on the bench workload). Returns
 * what `NormalizedSchema.safeParse(raw).data` returns, or undefined where it fails;
 * normalized-reader.test.ts proves the two agree (fast-check). normalized.ts stays the
 * specification: a caller that needs an error's wording asks the schema.
 *
 * Arrays (flags, book levels), and a trade without extra keys itself, are the input's own,
 * not copies as zod makes: callers pass a value fresh from JSON.parse that nothing else holds.
 */

type Fields = Record<string, unknown>;

const FLAG_SET: ReadonlySet<unknown> = new Set<Flag>(FLAGS);
const EVENT_SET: ReadonlySet<unknown> = new Set<string>(STATUS_EVENTS);

const isDecimal = (v: unknown): v is string => typeof v === 'string' && DECIMAL_PATTERN.test(v);
const isTradeId = (v: unknown): v is string => typeof v === 'string' && TRADE_ID_PATTERN.test(v);

function isFlags(v: unknown): v is Flag[] {
  if (!Array.isArray(v)) return false;
  for (const f of v) if (!FLAG_SET.has(f)) return false;
  return true;
}

function isLevels(v: unknown): v is Level[] {
  if (!Array.isArray(v)) return false;
  for (const l of v) {
    if (!Array.isArray(l) || l.length !== 2 || !isDecimal(l[0]) || !isDecimal(l[1])) return false;
  }
  return true;
}

/** The fields every kind shares, checked; the kind's own reader builds the output. */
function commonOk(f: Fields): boolean {
  const { seq, recv_us, product } = f;
  return (
    f.v === NORM_VERSION &&
    f.venue === 'coinbase' &&
    typeof product === 'string' &&
    product.length > 0 &&
    typeof seq === 'number' &&
    Number.isSafeInteger(seq) &&
    seq > 0 &&
    typeof f.time === 'string' &&
    typeof recv_us === 'number' &&
    Number.isSafeInteger(recv_us) &&
    recv_us >= 0 &&
    isFlags(f.flags)
  );
}

/** The shared fields of an output, from a value commonOk has passed. */
function header(f: Fields): Omit<Trade, 'type' | 'trade_id' | 'price' | 'size' | 'side'> {
  return {
    v: NORM_VERSION,
    venue: 'coinbase',
    product: f.product as string,
    seq: f.seq as number,
    time: f.time as string,
    recv_us: f.recv_us as number,
    flags: f.flags as Flag[],
  };
}

/**
 * An optional field as zod reads it: absent stays absent, a key holding undefined is
 * kept as such, anything else must pass `ok`. Returns false when it fails.
 */
function optional(out: Fields, f: Fields, key: string, ok: (v: unknown) => v is string): boolean {
  const v = f[key];
  if (v === undefined) {
    if (key in f) out[key] = undefined;
    return true;
  }
  if (!ok(v)) return false;
  out[key] = v;
  return true;
}

/** A trade's 12 keys, each checked present by then. */
const TRADE_KEYS = 12;

/** Own enumerable keys, up to `max + 1`. */
function keysUpTo(f: Fields, max: number): number {
  let n = 0;
  for (const k in f) {
    if (Object.hasOwn(f, k) && ++n > max) break;
  }
  return n;
}

function readTrade(f: Fields): Trade | undefined {
  const { trade_id, price, size, side } = f;
  if (!isTradeId(trade_id) || !isDecimal(price) || !isDecimal(size)) return undefined;
  if (side !== 'buy' && side !== 'sell') return undefined;
  // The hot kind: a plain object holding exactly the trade's keys is already zod's output.
  if (Object.getPrototypeOf(f) === Object.prototype && keysUpTo(f, TRADE_KEYS) === TRADE_KEYS)
    return f as Trade;
  return {
    ...header(f),
    type: 'trade',
    trade_id,
    price,
    size,
    side,
  };
}

const TICKER_OPTIONAL = [
  ['best_bid_size', isDecimal],
  ['best_ask_size', isDecimal],
  ['open_24h', isDecimal],
  ['high_24h', isDecimal],
  ['low_24h', isDecimal],
  ['volume_24h', isDecimal],
  ['change_24h_pct', isDecimal],
  ['trade_id', isTradeId],
  ['sequence', isTradeId],
] as const;

function readTicker(f: Fields): Ticker | undefined {
  const { price, best_bid, best_ask } = f;
  if (!isDecimal(price) || !isDecimal(best_bid) || !isDecimal(best_ask)) return undefined;
  const out: Ticker = {
    ...header(f),
    type: 'ticker',
    price,
    best_bid,
    best_ask,
  };
  for (const [key, ok] of TICKER_OPTIONAL) if (!optional(out, f, key, ok)) return undefined;
  return out;
}

function readBook(f: Fields): Book | undefined {
  const { bids, asks } = f;
  if (!isLevels(bids) || !isLevels(asks)) return undefined;
  return {
    ...header(f),
    type: 'book',
    bids,
    asks,
  };
}

function readStatus(f: Fields): Status | undefined {
  const { event, reason } = f;
  if (!EVENT_SET.has(event) || typeof reason !== 'string') return undefined;
  const out: Status = {
    ...header(f),
    type: 'status',
    event: event as Status['event'],
    reason,
  };
  if (!optional(out, f, 'from', isTradeId) || !optional(out, f, 'to', isTradeId)) return undefined;
  return out;
}

/** `NormalizedSchema.safeParse(raw).data`, by hand. */
export function readNormalized(raw: unknown): Normalized | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const f = raw as Fields;
  const type = f.type;
  if (type !== 'trade' && type !== 'ticker' && type !== 'book' && type !== 'status')
    return undefined;
  if (!commonOk(f)) return undefined;
  switch (type) {
    case 'trade':
      return readTrade(f);
    case 'ticker':
      return readTicker(f);
    case 'book':
      return readBook(f);
    case 'status':
      return readStatus(f);
  }
}
