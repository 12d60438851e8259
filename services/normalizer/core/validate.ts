import type { Flag } from '../../common/schemas/normalized.js';
import { approxNumber, compareDecimal, isDecimal, relativeChangePct } from './decimal.js';

/**
 * Plausibility flags (DESIGN.md "Validation and ordering": a price jump or absurd spread
 * is published with a flag and counted, never dropped). The percentages are computed in
 * floating point: a flag threshold does not need exact decimals (decimal.ts
 * `approxNumber`); the crossed check (bid > ask) is exact.
 */

export interface ValidateOptions {
  /** `price_jump` when a price moves more than this percentage from the previous one. */
  priceJumpPct: number;
  /** `absurd_spread` when (ask − bid) / mid exceeds this percentage. */
  absurdSpreadPct: number;
}

export const DEFAULT_VALIDATE: Readonly<ValidateOptions> = Object.freeze({
  priceJumpPct: 10,
  absurdSpreadPct: 5,
});

/** A move of more than `pct` percent from `prev` (no previous price: no jump). */
export function isPriceJump(prev: string | undefined, next: string, pct: number): boolean {
  if (prev === undefined) return false;
  const change = relativeChangePct(prev, next);
  return !Number.isNaN(change) && change > pct;
}

/** bid > ask, or a spread above `pct` percent of the mid price. A locked market (bid = ask)
 * is not absurd. Invalid decimals are not judged here (the venue schema rejects them). */
export function isAbsurdSpread(bid: string, ask: string, pct: number): boolean {
  if (!isDecimal(bid) || !isDecimal(ask)) return false;
  const c = compareDecimal(bid, ask);
  if (c > 0) return true;
  if (c === 0) return false;
  const b = approxNumber(bid);
  const a = approxNumber(ask);
  const mid = (a + b) / 2;
  if (mid <= 0) return true;
  return ((a - b) / mid) * 100 > pct;
}

export function tradeFlags(
  prevPrice: string | undefined,
  trade: { price: string },
  opts: ValidateOptions = DEFAULT_VALIDATE,
): Flag[] {
  return isPriceJump(prevPrice, trade.price, opts.priceJumpPct) ? ['price_jump'] : [];
}

export function tickerFlags(
  prevPrice: string | undefined,
  ticker: { price: string; best_bid: string; best_ask: string },
  opts: ValidateOptions = DEFAULT_VALIDATE,
): Flag[] {
  const flags: Flag[] = [];
  if (isPriceJump(prevPrice, ticker.price, opts.priceJumpPct)) flags.push('price_jump');
  if (isAbsurdSpread(ticker.best_bid, ticker.best_ask, opts.absurdSpreadPct)) {
    flags.push('absurd_spread');
  }
  return flags;
}
