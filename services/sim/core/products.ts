import { hash32 } from './rng.js';

/** What the simulator needs to know about a product to make a believable market. */
export interface ProductSpec {
  readonly id: string;
  readonly base: string;
  readonly quote: string;
  /** Decimals of the quote increment: prices are integers of 10^-priceDecimals. */
  readonly priceDecimals: number;
  /** Decimals of sizes on the wire (Coinbase prints book sizes with 8). */
  readonly sizeDecimals: number;
  /** Starting price, in ticks. */
  readonly startTicks: number;
  /** Typical resting order size, in size units. */
  readonly typicalSize: number;
  readonly baseIncrement: string;
  readonly quoteIncrement: string;
  readonly minMarketFunds: string;
}

const KNOWN: Record<string, Omit<ProductSpec, 'id' | 'base' | 'quote'>> = {
  'BTC-USD': {
    priceDecimals: 2,
    sizeDecimals: 8,
    startTicks: 6_712_345,
    typicalSize: 5_000_000,
    baseIncrement: '0.00000001',
    quoteIncrement: '0.01',
    minMarketFunds: '1',
  },
  'ETH-USD': {
    priceDecimals: 2,
    sizeDecimals: 8,
    startTicks: 352_017,
    typicalSize: 80_000_000,
    baseIncrement: '0.00000001',
    quoteIncrement: '0.01',
    minMarketFunds: '1',
  },
  'SOL-USD': {
    priceDecimals: 2,
    sizeDecimals: 8,
    startTicks: 15_034,
    typicalSize: 1_500_000_000,
    baseIncrement: '0.001',
    quoteIncrement: '0.01',
    minMarketFunds: '1',
  },
};

/** A spec for any product id: the three defaults are tuned, others derive from the id. */
export function productSpec(id: string): ProductSpec {
  const [base = id, quote = 'USD'] = id.split('-');
  const known = KNOWN[id];
  if (known !== undefined) return { id, base, quote, ...known };
  const h = hash32(id);
  return {
    id,
    base,
    quote,
    priceDecimals: 2,
    sizeDecimals: 8,
    startTicks: 1_000 + (h % 100_000),
    typicalSize: 100_000_000,
    baseIncrement: '0.00000001',
    quoteIncrement: '0.01',
    minMarketFunds: '1',
  };
}
