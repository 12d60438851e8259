import fc from 'fast-check';
import { expect } from 'vitest';
import { TickerSchema, TradeSchema } from '../../../services/common/schemas/normalized.js';
import type { MapResult } from '../../../services/normalizer/core/map-common.js';
import { tickerMessage, tradeMessage } from '../../../services/normalizer/core/messages.js';

/** Result kinds a mapper may return. */
export const MAP_KINDS = new Set([
  'trade',
  'ticker',
  'snapshot',
  'l2update',
  'heartbeat',
  'marker',
  'ignore',
  'invalid',
]);

/**
 * One mapper result is well formed: a known kind, never the mapper's last-resort catch
 * (no input may need it), and trades and tickers that make valid MD_NORM messages.
 */
export function expectWellFormed(r: MapResult): void {
  expect(MAP_KINDS.has(r.kind)).toBe(true);
  if (r.kind === 'invalid') expect(r.error).not.toMatch(/mapper error/);
  if (r.kind === 'trade')
    expect(TradeSchema.safeParse(tradeMessage(r, { seq: 1, recvUs: 1 })).success).toBe(true);
  if (r.kind === 'ticker')
    expect(TickerSchema.safeParse(tickerMessage(r, { seq: 1, recvUs: 1 })).success).toBe(true);
}

/** Runs `check` on arbitrary values, JSON or not (the "never throws" property). */
export function onAnything(check: (frame: unknown) => void): void {
  fc.assert(fc.property(fc.anything({ withNullPrototype: true, withMap: true }), check), {
    numRuns: 2000,
  });
}
