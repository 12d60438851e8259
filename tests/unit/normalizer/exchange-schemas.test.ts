import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  HeartbeatSchema,
  L2UpdateSchema,
  MatchSchema,
  SnapshotSchema,
  TickerFrameSchema,
  checkTicker,
  readHeartbeat,
  readL2Update,
  readMatch,
  readSnapshot,
  readTicker,
} from '../../../services/normalizer/core/exchange-schemas.js';
import { decimalArb } from './arbitraries.js';

const match = {
  type: 'match',
  trade_id: 1081862675,
  maker_order_id: 'f07e510f-4edf-469d-b844-4f670f1e93f1',
  side: 'sell',
  size: '0.00000001',
  price: '80691.53',
  product_id: 'BTC-USD',
  sequence: 134905860111,
  time: '2026-08-25T03:35:57.198335Z',
};
const ticker = {
  type: 'ticker',
  sequence: 134905860112,
  product_id: 'BTC-USD',
  price: '80691.53',
  open_24h: '79000.1',
  volume_24h: '1234.5',
  low_24h: '78000',
  high_24h: '81000',
  volume_30d: '40000',
  best_bid: '80691.52',
  best_bid_size: '0.5',
  best_ask: '80691.53',
  best_ask_size: '0.25',
  side: 'buy',
  time: '2026-08-25T03:35:57.198335Z',
  trade_id: 1081862675,
  last_size: '0.00000001',
};
const heartbeat = {
  type: 'heartbeat',
  product_id: 'BTC-USD',
  sequence: 1,
  last_trade_id: 2,
  time: '2026-08-25T03:35:57.198335Z',
};
const snapshot = {
  type: 'snapshot',
  product_id: 'BTC-USD',
  bids: [['1', '1']],
  asks: [['2', '1']],
};
const l2update = {
  type: 'l2update',
  product_id: 'BTC-USD',
  changes: [['buy', '1', '0']],
  time: '2026-08-25T03:35:57.198335Z',
};

/** Values near every rule's edges: ids (unsafe, negative, -0, padded digit strings), decimals, sides, types. */
const edgeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue(),
  decimalArb.map((d) => d.text),
  fc.constantFrom('NaN', '', '1e-8', '0.-1', '-0', '-0.00', '+1', ' 1'),
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom(
    -0,
    0.5,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 1,
    -1,
    1e21,
    Number.NaN,
    Number.POSITIVE_INFINITY,
  ),
  fc.stringMatching(/^[0-9]{0,35}$/),
  fc.constantFrom('buy', 'sell', 'BUY', 'match', 'last_match', 'ticker', 'heartbeat'),
  fc.constantFrom('snapshot', 'l2update', undefined, null),
  fc.array(fc.jsonValue(), { maxLength: 3 }),
);

const KEYS = [
  'type',
  'product_id',
  'trade_id',
  'side',
  'price',
  'size',
  'time',
  'sequence',
  'last_trade_id',
  'bids',
  'asks',
  'changes',
  'best_bid',
  'best_ask',
  'best_bid_size',
  'best_ask_size',
  'open_24h',
  'high_24h',
  'low_24h',
  'volume_24h',
  'volume_30d',
  'last_size',
  'extra',
];

/** A real-looking frame with up to four fields replaced by edge values or removed. */
function mutated(base: Record<string, unknown>): fc.Arbitrary<Record<string, unknown>> {
  const edit = fc.record({
    key: fc.constantFrom(...KEYS),
    remove: fc.boolean(),
    value: edgeValue,
  });
  return fc.array(edit, { maxLength: 4 }).map((edits) => {
    const f = new Map<string, unknown>(Object.entries(base));
    for (const e of edits) {
      if (e.remove) f.delete(e.key);
      else f.set(e.key, e.value);
    }
    return Object.fromEntries(f);
  });
}

const PAIRS: [string, z.ZodType, (f: Record<string, unknown>) => unknown, object][] = [
  ['match', MatchSchema, readMatch, match],
  ['ticker', TickerFrameSchema, readTicker, ticker],
  ['heartbeat', HeartbeatSchema, readHeartbeat, heartbeat],
  ['snapshot', SnapshotSchema, readSnapshot, snapshot],
  ['l2update', L2UpdateSchema, readL2Update, l2update],
];
const ALL_BASES = PAIRS.map(([, , , base]) => base as Record<string, unknown>);

describe('hand-written frame readers = their zod schemas', () => {
  for (const [name, schema, read, base] of PAIRS) {
    it(`property: ${name}: the reader accepts exactly what the schema accepts, with the same output`, () => {
      const frames = fc.oneof(
        fc.constantFrom(...ALL_BASES).chain(mutated),
        mutated(base as Record<string, unknown>),
        fc.dictionary(fc.constantFrom(...KEYS), edgeValue),
      );
      fc.assert(
        fc.property(frames, (frame) => {
          const spec = schema.safeParse(frame);
          const fast = read(frame);
          if (spec.success) {
            expect(fast).toBeDefined();
            // toEqual: a key holding undefined equals a missing key (the mappers read keys).
            expect(fast).toEqual(spec.data);
          } else {
            expect(fast).toBeUndefined();
          }
        }),
        { numRuns: 4000 },
      );
    });
  }

  it('the real-looking frames themselves take the fast path', () => {
    expect(readMatch(match)).toBeDefined();
    expect(readTicker(ticker)).toBeDefined();
    expect(readHeartbeat(heartbeat)).toBeDefined();
    expect(readSnapshot(snapshot)).toBeDefined();
    expect(readL2Update(l2update)).toBeDefined();
  });

  it("a frame the reader declines gets the schema's own error", () => {
    const r = checkTicker({ ...ticker, best_bid: 'NaN' });
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues[0]?.path).toEqual(['best_bid']);
  });
});
