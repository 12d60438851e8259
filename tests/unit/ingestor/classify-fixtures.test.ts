import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyExchangeFrame } from '../../../services/ingestor/core/classify.js';

/** Every real recorded Exchange frame (tests/fixtures/SOURCES.md), as the server sent it. */
const DIR = path.resolve(import.meta.dirname, '../../fixtures/coinbase-exchange');
const frames = readdirSync(DIR)
  .filter((f) => f.endsWith('.jsonl') && !f.startsWith('normalizer-'))
  .flatMap((f) =>
    readFileSync(path.join(DIR, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((line, i) => ({ where: `${f}:${String(i + 1)}`, line })),
  );

describe('classifyExchangeFrame on every real frame', () => {
  it('has the recorded frames to check', () => {
    expect(frames.length).toBeGreaterThan(50);
  });

  it.each(frames)('$where', ({ line }) => {
    const value = JSON.parse(line) as Record<string, unknown>;
    const c = classifyExchangeFrame(line);
    if (typeof value.product_id !== 'string') {
      // subscriptions, error, status: no product, the feed's control subject
      expect(c).toMatchObject({ kind: 'control', type: value.type });
      return;
    }
    expect(c.kind).toBe('product');
    if (c.kind !== 'product') return;
    expect(c.product).toBe(value.product_id);
    expect(c.type).toBe(value.type);
    if (value.type === 'match' || value.type === 'last_match') {
      expect(c.id).toEqual({ scope: 'trade', tradeId: String(value.trade_id) });
    } else if (value.type === 'ticker') {
      expect(c.id).toEqual({ scope: 'ticker', sequence: String(value.sequence) });
    } else {
      // heartbeat, snapshot, l2update and full-channel frames: connection-scoped ids
      expect(c.id).toEqual({ scope: 'connection' });
    }
    // Odd values are routed untouched: a 0001-01-01 time, a "0.-10000" size (schema is the normalizer's job).
    expect(c.time).toBe(typeof value.time === 'string' ? value.time : undefined);
  });

  it('routes the real anomalies unchanged, and rejects only non-JSON', () => {
    const odd = frames.filter(
      ({ line }) => line.includes('0001-01-01') || line.includes('0.-10000'),
    );
    expect(odd.length).toBeGreaterThanOrEqual(3);
    for (const { line } of odd) expect(classifyExchangeFrame(line).kind).toBe('product');
    // The sandbox's non-JSON answer (PROTOCOL.md §1.2, coinbase-pro-node PR#376).
    expect(classifyExchangeFrame('\u0000invalid (un)subscribe msg').kind).toBe('unparsable');
  });
});
