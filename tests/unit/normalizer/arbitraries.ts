import fc from 'fast-check';

/** Scale of `value` in decimalArb: every generated decimal has at most this many decimals. */
export const DECIMAL_SCALE = 12;

/** Decimal strings in every accepted spelling, with their exact value scaled by 10^12. */
export const decimalArb = fc
  .record({
    neg: fc.boolean(),
    int: fc.stringMatching(/^[0-9]{0,20}$/),
    point: fc.boolean(),
    frac: fc.stringMatching(/^[0-9]{0,12}$/),
  })
  .filter(({ int, point, frac }) => int !== '' || (point && frac !== ''))
  .map(({ neg, int, point, frac }) => {
    const text = `${neg ? '-' : ''}${int}${point ? `.${frac}` : ''}`;
    const digits = `${int || '0'}${(point ? frac : '').padEnd(DECIMAL_SCALE, '0')}`;
    const value = BigInt(digits) * (neg ? -1n : 1n);
    return { text, value };
  });

/** Non-negative decimal strings (prices and sizes). */
export const unsignedDecimalArb = decimalArb.map(({ text, value }) =>
  value < 0n || text.startsWith('-') ? { text: text.slice(1), value: -value } : { text, value },
);
