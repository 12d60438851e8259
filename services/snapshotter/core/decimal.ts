/**
 * Exact decimal arithmetic on the strings MD_NORM carries (never a float), with
 * PostgreSQL NUMERIC's scale rules: a sum keeps the larger scale, max/min return an
 * operand. Enough for candles and 24-hour statistics.
 */

export interface Dec {
  readonly coef: bigint;
  readonly scale: number;
}

const DECIMAL = /^(-?)([0-9]*)(?:\.([0-9]*))?$/;

export function parseDec(s: string): Dec {
  const m = DECIMAL.exec(s);
  if (m === null || (m[2] === '' && (m[3] ?? '') === '')) {
    throw new RangeError(`not a decimal: ${JSON.stringify(s)}`);
  }
  const frac = m[3] ?? '';
  const coef = BigInt(`${m[2] === '' ? '0' : (m[2] ?? '0')}${frac}`);
  return { coef: m[1] === '-' ? -coef : coef, scale: frac.length };
}

function rescale(d: Dec, scale: number): bigint {
  return d.coef * 10n ** BigInt(scale - d.scale);
}

export function compareDec(a: string, b: string): -1 | 0 | 1 {
  const x = parseDec(a);
  const y = parseDec(b);
  const scale = Math.max(x.scale, y.scale);
  const l = rescale(x, scale);
  const r = rescale(y, scale);
  return l < r ? -1 : l > r ? 1 : 0;
}

export function formatDec(d: Dec): string {
  const neg = d.coef < 0n;
  const digits = (neg ? -d.coef : d.coef).toString().padStart(d.scale + 1, '0');
  const int = digits.slice(0, digits.length - d.scale);
  const frac = d.scale === 0 ? '' : `.${digits.slice(digits.length - d.scale)}`;
  return `${neg ? '-' : ''}${int}${frac}`;
}

export function addDec(a: string, b: string): string {
  const x = parseDec(a);
  const y = parseDec(b);
  const scale = Math.max(x.scale, y.scale);
  return formatDec({ coef: rescale(x, scale) + rescale(y, scale), scale });
}

export function maxDec(a: string, b: string): string {
  return compareDec(b, a) > 0 ? b : a;
}

export function minDec(a: string, b: string): string {
  return compareDec(b, a) < 0 ? b : a;
}

/** Numeric equality ("1.50" equals "1.5"). */
export function eqDec(a: string, b: string): boolean {
  return compareDec(a, b) === 0;
}
