import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readNormalized } from '../../../services/common/schemas/normalized-reader.js';
import { NormalizedSchema } from '../../../services/common/schemas/normalized.js';
import {
  BASES,
  book,
  gap,
  mutated,
  normalizedInputs,
  ticker,
  trade,
} from './normalized-arbitraries.js';

describe('readNormalized = NormalizedSchema', () => {
  it('property: accepts exactly what the schema accepts, with the same output', () => {
    fc.assert(
      fc.property(normalizedInputs, (raw) => {
        const spec = NormalizedSchema.safeParse(raw);
        const fast = readNormalized(raw);
        if (spec.success) expect(fast).toStrictEqual(spec.data);
        else expect(fast).toBeUndefined();
      }),
      { numRuns: 20_000 },
    );
  });

  it('property: the same on values that went through JSON (as on the wire)', () => {
    fc.assert(
      fc.property(mutated, (m) => {
        const raw: unknown = JSON.parse(JSON.stringify(m));
        const spec = NormalizedSchema.safeParse(raw);
        const fast = readNormalized(raw);
        if (spec.success) expect(fast).toStrictEqual(spec.data);
        else expect(fast).toBeUndefined();
      }),
      { numRuns: 5_000 },
    );
  });

  it('takes the real-looking messages of every kind, and the generators reach both answers', () => {
    for (const m of BASES) expect(readNormalized(m)).toStrictEqual(NormalizedSchema.parse(m));
    // A property whose inputs all pass (or all fail) would prove little.
    const sample = fc.sample(mutated, { numRuns: 2_000, seed: 1 });
    const passed = sample.filter((m) => NormalizedSchema.safeParse(m).success).length;
    expect(passed).toBeGreaterThan(200);
    expect(passed).toBeLessThan(1_800);
  });

  it('refuses what the schema refuses, one rule at a time', () => {
    const bad: Record<string, unknown>[] = [
      { ...trade, v: 2 },
      { ...trade, venue: 'kraken' },
      { ...trade, product: '' },
      { ...trade, seq: 0 },
      { ...trade, seq: Number.MAX_SAFE_INTEGER + 1 },
      { ...trade, recv_us: -1 },
      { ...trade, recv_us: 1.5 },
      { ...trade, flags: ['nope'] },
      { ...trade, price: '1e5' },
      { ...trade, trade_id: '-1' },
      { ...trade, side: 'BUY' },
      { ...ticker, open_24h: null },
      { ...ticker, sequence: 5 },
      { ...ticker, sequence: '1.5' },
      { ...book, bids: [['1', '2', '3']] },
      { ...book, asks: [['1']] },
      { ...gap, event: 'nope' },
      { ...gap, to: '' },
      { ...trade, type: 'candle' },
    ];
    for (const m of bad) {
      expect(NormalizedSchema.safeParse(m).success).toBe(false);
      expect(readNormalized(m)).toBeUndefined();
    }
  });
});
