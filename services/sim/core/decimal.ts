/**
 * Prices and sizes live as integers of the product's increment (ticks, base units) and
 * leave as decimal strings, never floats. Coinbase's own spelling is non-canonical: book
 * levels keep every decimal (`"0.20084671"`), 24h stats and trade sizes are trimmed
 * (`"56873.8"`, `"0.05"`; tardis-node ticker fixture 2022-12) — we reproduce both.
 */
export function fixed(units: number, decimals: number): string {
  if (!Number.isSafeInteger(units)) throw new RangeError(`not a safe integer: ${units}`);
  const negative = units < 0;
  const digits = Math.abs(units).toString();
  if (decimals === 0) return negative ? `-${digits}` : digits;
  const padded = digits.padStart(decimals + 1, '0');
  const s = `${padded.slice(0, -decimals)}.${padded.slice(-decimals)}`;
  return negative ? `-${s}` : s;
}

/** Like `fixed` but with trailing zeros (and a bare point) removed: "59800", "0.05". */
export function trimmed(units: number, decimals: number): string {
  const s = fixed(units, decimals);
  if (!s.includes('.')) return s;
  return s.replace(/0+$/, '').replace(/\.$/, '');
}

/** Parses a decimal string into integer units of 10^-decimals (throws on other input). */
export function toUnits(s: string, decimals: number): number {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (m === null) throw new RangeError(`not a decimal: ${JSON.stringify(s)}`);
  const frac = (m[3] ?? '').padEnd(decimals, '0');
  if (frac.length > decimals && /[1-9]/.test(frac.slice(decimals))) {
    throw new RangeError(`${s} has more than ${decimals} decimals`);
  }
  const v = Number(`${m[2] ?? '0'}${frac.slice(0, decimals)}`);
  return m[1] === '-' ? -v : v;
}

/**
 * The spellings of zero Coinbase uses for a deleted level (PROTOCOL.md §0.1: five seen
 * in one capture). The default is the book's own 8-decimal spelling.
 */
export const ZERO_SPELLINGS = ['0.00000000', '0', '0.0', '0.00', '0.000000'] as const;
