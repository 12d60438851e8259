import fc from 'fast-check';
import { FLAGS, STATUS_EVENTS } from '../../../services/common/schemas/normalized.js';

/**
 * MD_NORM messages near every rule of NormalizedSchema: real-looking messages of each
 * kind with fields replaced or removed, for the properties that compare a hand-written
 * reader (or a decoder) with the schema.
 */

const common = {
  v: 1,
  venue: 'coinbase',
  product: 'BTC-USD',
  seq: 7,
  time: '2024-01-01T00:00:00.000001Z',
  recv_us: 1_704_067_200_001_500,
  flags: [],
};
export const trade = {
  ...common,
  type: 'trade',
  trade_id: '7',
  price: '1.5',
  size: '2',
  side: 'buy',
};
export const ticker = {
  ...common,
  type: 'ticker',
  price: '80691.53',
  best_bid: '80691.52',
  best_ask: '80691.53',
  best_bid_size: '1.5',
  open_24h: '79000.1',
  trade_id: '1081862675',
  sequence: '134905860112',
};
export const book = {
  ...common,
  type: 'book',
  flags: ['book_levels_dropped'],
  bids: [['1', '1']],
  asks: [
    ['2', '0.5'],
    ['3', '1.'],
  ],
};
export const gap = {
  ...common,
  type: 'status',
  event: 'gap',
  reason: 'upstream_drop',
  from: '10',
  to: '12',
};
export const BASES: Record<string, unknown>[] = [trade, ticker, book, gap];

const decimalText = fc.oneof(
  fc.stringMatching(/^-?[0-9]{0,4}\.?[0-9]{0,4}$/),
  fc.constantFrom('0', '-0', '.5', '5.', '-.5', '1e5', 'NaN', '', ' 1', '1 ', '+1', '1.2.3', '١'),
);
const validDecimal = fc.stringMatching(/^[0-9]{1,3}(\.[0-9]{1,3})?$/);
/** Mostly good levels; some with a bad decimal, too short or too long, or not arrays. */
const levelArb = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(validDecimal, validDecimal) },
  { weight: 1, arbitrary: fc.tuple(decimalText, decimalText) },
  { weight: 1, arbitrary: fc.array(validDecimal, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue() },
);
const levelsArb = fc.array(levelArb, { maxLength: 4 });
const flagsArb = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...FLAGS) },
    { weight: 1, arbitrary: fc.constantFrom('other', '', 'Conflated') },
    { weight: 1, arbitrary: fc.jsonValue() },
  ),
  { maxLength: 3 },
);

/** Values near every rule's edges: integers, decimals, ids, enums, flags, levels, types. */
const edgeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  decimalText,
  fc.stringMatching(/^[0-9]{0,32}$/),
  fc.constantFrom('-1', '1.5', '1.', '.1', '0x1', '1e3', '0'.repeat(30), '9'.repeat(31)),
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(
    -0,
    0.5,
    1.0000001,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 1,
    -Number.MAX_SAFE_INTEGER,
    1e21,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    undefined,
    null,
    '1',
    true,
  ),
  fc.constantFrom('trade', 'ticker', 'book', 'status', 'Trade', 'candle'),
  fc.constantFrom('coinbase', 'Coinbase', 'kraken', 'buy', 'sell', 'BUY', ''),
  fc.constantFrom(...STATUS_EVENTS, 'gap ', 'unknown'),
  flagsArb,
  levelsArb,
  fc.constantFrom({}, [], { '0': '1', '1': '2', length: 2 }),
);

const KEYS = [
  ...new Set([
    ...Object.keys(trade),
    ...Object.keys(ticker),
    ...Object.keys(book),
    ...Object.keys(gap),
    'best_ask_size',
    'high_24h',
    'low_24h',
    'volume_24h',
    'change_24h_pct',
    'extra',
  ]),
];

/** A real-looking message with up to four fields replaced by edge values or removed. */
export const mutated: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    fc.constantFrom(...BASES),
    fc.array(fc.record({ key: fc.constantFrom(...KEYS), remove: fc.boolean(), value: edgeValue }), {
      maxLength: 4,
    }),
  )
  .map(([base, edits]) => {
    const f = new Map<string, unknown>(Object.entries(base));
    for (const e of edits) {
      if (e.remove) f.delete(e.key);
      else f.set(e.key, e.value);
    }
    return Object.fromEntries(f);
  });

/** Books and flags whose arrays are mostly good: an array fails on one bad element. */
const arrays: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(fc.constantFrom(...BASES), levelsArb, levelsArb, flagsArb)
  .map(([base, bids, asks, flags]) =>
    base.type === 'book' ? { ...base, bids, asks, flags } : { ...base, flags },
  );

/** One field of a real-looking message set to an edge value: each rule on its own. */
const single: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(fc.constantFrom(...BASES), fc.constantFrom(...KEYS), edgeValue)
  .map(([base, key, value]) => ({ ...base, [key]: value }));

export const normalizedInputs: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: mutated },
  { weight: 4, arbitrary: single },
  { weight: 2, arbitrary: arrays },
  { weight: 2, arbitrary: fc.dictionary(fc.constantFrom(...KEYS), edgeValue) },
  { weight: 1, arbitrary: fc.jsonValue() },
  { weight: 1, arbitrary: mutated.map((f) => Object.assign([], f)) },
);
