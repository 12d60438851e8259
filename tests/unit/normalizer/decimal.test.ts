import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  approxNumber,
  canonicalDecimal,
  compareDecimal,
  isDecimal,
  isNegative,
  isNonNegativeDecimal,
  isZero,
  parseDecimal,
  relativeChangePct,
} from '../../../services/normalizer/core/decimal.js';
import { decimalArb } from './arbitraries.js';

describe('decimal strings', () => {
  it('accepts the spellings Coinbase sends, and bare-point forms', () => {
    for (const s of ['4095.00000000', '58800.01', '0.00001305', '0', '0.0', '59800', '.5', '5.']) {
      expect(isDecimal(s), s).toBe(true);
    }
  });

  it('rejects what is not a decimal (tardis-node "0.-10000", NaN, empty, exponents, signs, spaces)', () => {
    const bad = ['0.-10000', 'NaN', '', '.', '-', '+1', '1e-08', ' 1', '1 ', '1,5', '0x10', '--1'];
    for (const s of [...bad, 'Infinity', '1'.repeat(65)]) expect(isDecimal(s), s).toBe(false);
    for (const v of [1, null, undefined, {}, ['1']]) expect(isDecimal(v)).toBe(false);
  });

  it('treats "-1" as a decimal but not as a size', () => {
    expect(isDecimal('-1')).toBe(true);
    expect(isNonNegativeDecimal('-1')).toBe(false);
    expect(isNonNegativeDecimal('-0.000')).toBe(true);
    expect(isNegative('-0.0001')).toBe(true);
    expect(isNegative('-0')).toBe(false);
  });

  it('property: the allocation-free predicates agree with parseDecimal', () => {
    const decimalish = fc.oneof(
      decimalArb.map((d) => d.text),
      fc.stringMatching(/^[-+0-9.eE ]{0,8}$/),
      fc.string(),
      fc.anything(),
    );
    fc.assert(
      fc.property(decimalish, (s) => {
        const d = parseDecimal(s);
        expect(isDecimal(s)).toBe(d !== undefined);
        expect(isNonNegativeDecimal(s)).toBe(d !== undefined && d.sign >= 0);
        if (typeof s === 'string')
          expect(approxNumber(s)).toBe(d === undefined ? Number.NaN : Number(s));
      }),
      { numRuns: 3000 },
    );
  });

  it('knows every spelling of zero (PROTOCOL.md §0.1)', () => {
    for (const z of ['0', '0.0', '0.00', '0.000000', '0.00000000', '.0', '0.', '-0', '000'])
      expect(isZero(z), z).toBe(true);
    for (const s of ['0.00000001', '1', 'abc', '']) expect(isZero(s), s).toBe(false);
  });

  it('compares numerically, not as text', () => {
    expect(compareDecimal('100.50', '100.5')).toBe(0);
    expect(compareDecimal('0.00', '0')).toBe(0);
    expect(compareDecimal('9', '10')).toBe(-1);
    expect(compareDecimal('0.5', '0.49')).toBe(1);
    expect(compareDecimal('-2', '-1')).toBe(-1);
    expect(compareDecimal('-0.5', '0')).toBe(-1);
    expect(compareDecimal('0100', '99.999')).toBe(1);
    expect(() => compareDecimal('1', 'NaN')).toThrow(RangeError);
  });

  it('canonical spellings', () => {
    expect(canonicalDecimal('0100.50')).toBe('100.5');
    expect(canonicalDecimal('.5')).toBe('0.5');
    expect(canonicalDecimal('-0.000')).toBe('0');
    expect(canonicalDecimal('4095.00000000')).toBe('4095');
    expect(canonicalDecimal('0.-10000')).toBeUndefined();
  });

  it('property: compareDecimal equals the exact BigInt comparison', () => {
    fc.assert(
      fc.property(decimalArb, decimalArb, (a, b) => {
        const expected = a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
        expect(compareDecimal(a.text, b.text)).toBe(expected);
        expect(compareDecimal(b.text, a.text)).toBe(-expected || 0);
        expect(isZero(a.text)).toBe(a.value === 0n);
        expect(isNegative(a.text)).toBe(a.value < 0n);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: the canonical form has the same value and is a fixed point', () => {
    fc.assert(
      fc.property(decimalArb, ({ text }) => {
        const c = canonicalDecimal(text);
        expect(c).toBeDefined();
        if (c === undefined) return;
        expect(compareDecimal(c, text)).toBe(0);
        expect(canonicalDecimal(c)).toBe(c);
      }),
    );
  });

  it('approximations are for flags only and NaN on invalid input', () => {
    expect(approxNumber('4095.00000000')).toBe(4095);
    expect(approxNumber('0.-1')).toBeNaN();
    expect(relativeChangePct('100', '111')).toBeCloseTo(11, 10);
    expect(relativeChangePct('100', '89.5')).toBeCloseTo(10.5, 10);
    expect(relativeChangePct('0', '0')).toBe(0);
    expect(relativeChangePct('0', '1')).toBe(Number.POSITIVE_INFINITY);
    expect(relativeChangePct('x', '1')).toBeNaN();
  });
});
