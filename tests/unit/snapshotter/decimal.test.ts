import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addDec,
  compareDec,
  eqDec,
  maxDec,
  minDec,
  parseDec,
} from '../../../services/snapshotter/core/decimal.js';
import { decimalArb } from './arbitraries.js';

const signed = fc.tuple(fc.boolean(), decimalArb).map(([neg, d]) => (neg ? `-${d}` : d));
/** Exact value as a fraction over 10^8 (decimalArb has at most 4 places). */
const scaled = (s: string) => {
  const d = parseDec(s);
  return d.coef * 10n ** BigInt(8 - d.scale);
};

describe('decimal strings', () => {
  it('adds and compares exactly', () => {
    fc.assert(
      fc.property(signed, signed, (a, b) => {
        expect(scaled(addDec(a, b))).toBe(scaled(a) + scaled(b));
        const c = compareDec(a, b);
        expect(c).toBe(scaled(a) < scaled(b) ? -1 : scaled(a) > scaled(b) ? 1 : 0);
        expect(eqDec(maxDec(a, b), scaled(a) >= scaled(b) ? a : b)).toBe(true);
        expect(eqDec(minDec(a, b), scaled(a) <= scaled(b) ? a : b)).toBe(true);
      }),
    );
  });

  it('keeps the larger scale in a sum, as NUMERIC does', () => {
    expect(addDec('1.50', '2.5')).toBe('4.00');
    expect(addDec('-0.25', '0.25')).toBe('0.00');
    expect(addDec('.5', '5.')).toBe('5.5');
    expect(compareDec('100.50', '100.5')).toBe(0);
  });

  it('refuses what is not a decimal', () => {
    for (const s of ['', '.', '-', 'NaN', '1e5', '1.2.3'])
      expect(() => parseDec(s), s).toThrow(RangeError);
  });
});
