/**
 * Exact decimal strings, never floats (DESIGN.md "Normalized messages": prices and sizes
 * are decimal strings end to end; compare numerically, "0.00" is zero).
 *
 * Accepted spelling: an optional `-`, then digits with an optional fraction, or a bare
 * fraction: `"4095.00000000"`, `"0.00001305"`, `"0"`, `"59800"`, `".5"`, `"5."`. Real
 * Coinbase data only shows the first forms (PROTOCOL.md §0.1; samples/*.jsonl); the last
 * two are numerically unambiguous and accepted by the normalized `DecimalString`, so they
 * are kept rather than thrown away. Rejected: `"0.-10000"` (tardis-node mappers test
 * snapshot), `"NaN"`, `""`, `"+1"`, exponents (`"1e-08"`), whitespace, and strings longer
 * than MAX_DECIMAL_LENGTH (no market quotes 64 digits; this bounds every key and compare).
 */

export const MAX_DECIMAL_LENGTH = 64;

const DECIMAL = /^(-?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))$/;

/** A decimal split into canonical digit strings: `"0100.50"` → sign 1, int "100", frac "5". */
export interface ParsedDecimal {
  readonly sign: -1 | 0 | 1;
  /** Integer digits without leading zeros ("" when the magnitude is below 1). */
  readonly int: string;
  /** Fraction digits without trailing zeros ("" for integers). */
  readonly frac: string;
}

export function parseDecimal(s: unknown): ParsedDecimal | undefined {
  if (typeof s !== 'string' || s.length === 0 || s.length > MAX_DECIMAL_LENGTH) return undefined;
  const m = DECIMAL.exec(s);
  if (m === null) return undefined;
  const int = stripLeadingZeros(m[2] ?? '');
  const frac = stripTrailingZeros(m[3] ?? m[4] ?? '');
  const sign = int === '' && frac === '' ? 0 : m[1] === '-' ? -1 : 1;
  return { sign, int, frac };
}

// The predicates below run several times per frame: they test without building a
// ParsedDecimal (same answers as parseDecimal; property-tested in decimal.test.ts).

export function isDecimal(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && s.length <= MAX_DECIMAL_LENGTH && DECIMAL.test(s);
}

/** A negative sign followed by zeros and a point only: a spelling of zero. */
const NEGATIVE_ZERO = /^-[0.]*$/;

/** A valid size or book price: a decimal that is not negative ("-0" is zero, so allowed). */
export function isNonNegativeDecimal(s: unknown): s is string {
  return isDecimal(s) && (s.charCodeAt(0) !== 45 || NEGATIVE_ZERO.test(s));
}

/** True for every spelling of zero ("0", "0.0", "0.00000000", ".0", "-0"); false if invalid. */
export function isZero(s: string): boolean {
  return parseDecimal(s)?.sign === 0;
}

/** True when the decimal is strictly below zero; false if invalid. */
export function isNegative(s: string): boolean {
  return parseDecimal(s)?.sign === -1;
}

/** The canonical spelling: `"0100.50"` → `"100.5"`, `"0.000"` → `"0"`, `".5"` → `"0.5"`. */
export function canonicalOf(d: ParsedDecimal): string {
  const body = (d.int === '' ? '0' : d.int) + (d.frac === '' ? '' : `.${d.frac}`);
  return d.sign < 0 ? `-${body}` : body;
}

export function canonicalDecimal(s: string): string | undefined {
  const d = parseDecimal(s);
  return d === undefined ? undefined : canonicalOf(d);
}

/**
 * Compares magnitudes of canonical digit strings: longer integer part wins, then the
 * digits lexicographically (same length), then the fractions lexicographically (a
 * fraction without trailing zeros orders as its value: "5" > "49" > "05").
 */
export function compareMagnitude(a: ParsedDecimal, b: ParsedDecimal): -1 | 0 | 1 {
  if (a.int.length !== b.int.length) return a.int.length < b.int.length ? -1 : 1;
  if (a.int !== b.int) return a.int < b.int ? -1 : 1;
  if (a.frac !== b.frac) return a.frac < b.frac ? -1 : 1;
  return 0;
}

export function compareParsed(a: ParsedDecimal, b: ParsedDecimal): -1 | 0 | 1 {
  if (a.sign !== b.sign) return a.sign < b.sign ? -1 : 1;
  if (a.sign === 0) return 0;
  const m = compareMagnitude(a, b);
  return a.sign > 0 ? m : m === 0 ? 0 : m < 0 ? 1 : -1;
}

/**
 * Numeric comparison of two decimal strings: "100.50" equals "100.5". Throws a RangeError
 * on a string that is not a decimal: callers compare validated values only.
 */
export function compareDecimal(a: string, b: string): -1 | 0 | 1 {
  const pa = parseDecimal(a);
  const pb = parseDecimal(b);
  if (pa === undefined || pb === undefined) {
    throw new RangeError(`not a decimal: ${JSON.stringify(pa === undefined ? a : b)}`);
  }
  return compareParsed(pa, pb);
}

/**
 * The float value, for FLAGS ONLY (price jump %, spread %), where 1e-16 relative error is
 * irrelevant. Never use it to store, compare or publish a price or size. NaN if invalid.
 */
export function approxNumber(s: string): number {
  return isDecimal(s) ? Number(s) : Number.NaN;
}

/**
 * |next − prev| / |prev| in percent, approximate (flags only). Infinity when prev is zero
 * and next is not; 0 when both are zero; NaN when either is invalid.
 */
export function relativeChangePct(prev: string, next: string): number {
  const p = approxNumber(prev);
  const n = approxNumber(next);
  if (Number.isNaN(p) || Number.isNaN(n)) return Number.NaN;
  if (p === 0) return n === 0 ? 0 : Number.POSITIVE_INFINITY;
  return (Math.abs(n - p) / Math.abs(p)) * 100;
}

function stripLeadingZeros(s: string): string {
  let i = 0;
  while (i < s.length && s.charCodeAt(i) === 48) i++;
  return i === 0 ? s : s.slice(i);
}

function stripTrailingZeros(s: string): string {
  let j = s.length;
  while (j > 0 && s.charCodeAt(j - 1) === 48) j--;
  return j === s.length ? s : s.slice(0, j);
}
