import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CANDLE_INTERVALS,
  CANDLE_INTERVAL_NAMES,
  aggregateTrades,
  mergeCandles,
  rollup,
  sameCandle,
  type Candle,
  type CandleTrade,
} from '../../../services/snapshotter/core/candles.js';
import { BASE_US, decimalArb } from './arbitraries.js';
import { naiveCandles } from './model.js';

const DAY_US = 86_400_000_000;

/** Trades over ~3 days, with clustered times (many per minute) and shared timestamps. */
const tradesArb: fc.Arbitrary<CandleTrade[]> = fc
  .array(
    fc.record({
      timeUs: fc.oneof(
        fc.integer({ min: 0, max: 3 * DAY_US }),
        fc.integer({ min: 0, max: 600_000_000 }),
        fc.constantFrom(0, 59_999_999, 60_000_000, DAY_US - 1, DAY_US),
      ),
      price: decimalArb,
      size: decimalArb,
    }),
    { maxLength: 120 },
  )
  .map((xs) => xs.map((t, i) => ({ ...t, timeUs: BASE_US + t.timeUs, tradeId: String(1000 + i) })));

function expectSame(actual: Candle[], expected: Candle[]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((c, i) => {
    const e = expected[i] as Candle;
    expect(
      sameCandle(c, e),
      `candle ${String(i)}: ${JSON.stringify(c)} vs ${JSON.stringify(e)}`,
    ).toBe(true);
  });
}

describe('candles (property: equal a naive aggregation)', () => {
  it('folding trades one by one equals grouping them, at every interval', () => {
    fc.assert(
      fc.property(tradesArb, (trades) => {
        for (const name of CANDLE_INTERVAL_NAMES) {
          const w = CANDLE_INTERVALS[name];
          expectSame(aggregateTrades(trades, w), naiveCandles(trades, w));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('rolling 1-minute candles up equals aggregating the trades at the coarser interval', () => {
    fc.assert(
      fc.property(tradesArb, (trades) => {
        const minutes = aggregateTrades(trades, CANDLE_INTERVALS['1m']);
        for (const name of CANDLE_INTERVAL_NAMES) {
          const w = CANDLE_INTERVALS[name];
          expectSame(rollup(minutes, w), naiveCandles(trades, w));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('does not depend on the order trades arrive in (the SQL upsert merges in any order)', () => {
    fc.assert(
      fc.property(
        tradesArb.chain((ts) =>
          fc.tuple(fc.constant(ts), fc.shuffledSubarray(ts, { minLength: ts.length })),
        ),
        ([trades, shuffled]) => {
          const w = CANDLE_INTERVALS['1m'];
          expectSame(aggregateTrades(shuffled, w), aggregateTrades(trades, w));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('merging is associative and commutative', () => {
    const one = (t: CandleTrade) => aggregateTrades([t], DAY_US * 1000)[0] as Candle;
    const tradeArb = tradesArb.filter((ts) => ts.length >= 3).map((ts) => ts.slice(0, 3).map(one));
    fc.assert(
      fc.property(tradeArb, (cs) => {
        const [a, b, c] = cs as [Candle, Candle, Candle];
        expect(sameCandle(mergeCandles(a, b), mergeCandles(b, a))).toBe(true);
        expect(
          sameCandle(mergeCandles(mergeCandles(a, b), c), mergeCandles(a, mergeCandles(b, c))),
        ).toBe(true);
      }),
    );
  });

  it('orders open and close by time, then trade id', () => {
    const t = (timeUs: number, tradeId: string, price: string): CandleTrade => ({
      timeUs,
      tradeId,
      price,
      size: '1',
    });
    const [c] = aggregateTrades(
      [t(5, '9', '3'), t(5, '10', '4'), t(1, '11', '2'), t(7, '8', '5')],
      60_000_000,
    );
    expect(c).toMatchObject({ open: '2', close: '5', high: '5', low: '2', volume: '4', count: 4 });
  });
});
