import fc from 'fast-check';
import type { PriceLevel } from '../../../services/normalizer/core/book.js';

/**
 * A simple model of an L2 book side for property tests of L2Book and of the mappers that
 * feed it: a Map keyed by the exact value (BigInt scaled by 10^4), latest spelling kept.
 */
export const ZEROS = ['0', '0.0', '0.00', '0.000000', '0.00000000'];

const SCALE = 4;
function valueOf(s: string): bigint {
  const [int = '', frac = ''] = s.split('.');
  return BigInt(`${int || '0'}${frac.padEnd(SCALE, '0')}`);
}

export type Model = Map<bigint, PriceLevel>;

export function modelApply(m: Model, price: string, size: string): void {
  if (valueOf(size) === 0n) m.delete(valueOf(price));
  else m.set(valueOf(price), [price, size]);
}

export function modelTop(m: Model, desc: boolean, n: number): [string, string][] {
  return [...m.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0) * (desc ? -1 : 1))
    .slice(0, n)
    .map(([, [p, s]]) => [p, s]);
}

export function modelCrossed(bids: Model, asks: Model): boolean {
  if (bids.size === 0 || asks.size === 0) return false;
  const bestBid = [...bids.keys()].reduce((a, b) => (b > a ? b : a));
  const bestAsk = [...asks.keys()].reduce((a, b) => (b < a ? b : a));
  return bestBid >= bestAsk;
}

/** Prices from a small grid in several spellings, so levels collide often. */
export const priceArb = fc
  .record({
    int: fc.integer({ min: 90, max: 110 }),
    frac: fc.constantFrom('', '.5', '.50', '.25', '.250', '.0', '.00'),
    lead: fc.boolean(),
  })
  .map(({ int, frac, lead }) => `${lead ? '0' : ''}${String(int)}${frac}`);
export const sizeArb = fc.oneof(
  fc.constantFrom(...ZEROS),
  fc.constantFrom('1', '0.5', '2.00000000', '0.00000001', '13.37'),
);
export const levelArb = fc.tuple(priceArb, sizeArb);
export const changeArb = fc.tuple(
  fc.constantFrom<'buy' | 'sell'>('buy', 'sell'),
  priceArb,
  sizeArb,
);
