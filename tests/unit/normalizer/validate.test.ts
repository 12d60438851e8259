import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isAbsurdSpread,
  isPriceJump,
  tickerFlags,
  tradeFlags,
} from '../../../services/normalizer/core/validate.js';

describe('price_jump', () => {
  it('flags a move of more than the threshold either way, not at it', () => {
    expect(isPriceJump('100', '110', 10)).toBe(false);
    expect(isPriceJump('100', '110.01', 10)).toBe(true);
    expect(isPriceJump('100', '89.99', 10)).toBe(true);
    expect(isPriceJump('100.00000000', '100.5', 10)).toBe(false);
    expect(isPriceJump(undefined, '1', 10)).toBe(false);
    expect(isPriceJump('0', '1', 10)).toBe(true);
    expect(tradeFlags('100', { price: '200' })).toEqual(['price_jump']);
    expect(tradeFlags('100', { price: '200' }, { priceJumpPct: 150, absurdSpreadPct: 5 })).toEqual(
      [],
    );
  });
});

describe('absurd_spread', () => {
  it('flags a wide spread and a crossed ticker, not a locked or normal one', () => {
    expect(isAbsurdSpread('58800.00', '58800.01', 5)).toBe(false);
    expect(isAbsurdSpread('100', '100.00', 5)).toBe(false);
    expect(isAbsurdSpread('100.01', '100', 5)).toBe(true);
    expect(isAbsurdSpread('5200', '6800', 5)).toBe(true);
    expect(isAbsurdSpread('0', '1', 5)).toBe(true);
    expect(isAbsurdSpread('97', '103', 5)).toBe(true);
    expect(isAbsurdSpread('98', '102', 5)).toBe(false);
    expect(isAbsurdSpread('x', '1', 5)).toBe(false);
  });

  it('combines both flags for tickers', () => {
    expect(tickerFlags('100', { price: '150', best_bid: '150', best_ask: '149' })).toEqual([
      'price_jump',
      'absurd_spread',
    ]);
    expect(tickerFlags(undefined, { price: '150', best_bid: '149.99', best_ask: '150' })).toEqual(
      [],
    );
  });

  it('property: a bid above the ask is always absurd, a tight spread never', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 ** 9 }),
        fc.integer({ min: 1, max: 10 ** 6 }),
        (bid, d) => {
          expect(isAbsurdSpread(String(bid + d), String(bid), 5)).toBe(true);
          expect(isAbsurdSpread(`${String(bid)}.00`, `${String(bid)}.01`, 5)).toBe(false);
        },
      ),
    );
  });
});
