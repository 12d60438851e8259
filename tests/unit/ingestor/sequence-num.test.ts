import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnectionSequence } from '../../../services/ingestor/core/sequence-num.js';

const WINDOW = { windowMs: 500, windowFrames: 20 };

describe('ConnectionSequence (Advanced Trade sequence_num per connection)', () => {
  it('accepts 0, 1, 2 …; a repeat is a duplicate; a new connection starts at 0 again', () => {
    const s = new ConnectionSequence(WINDOW);
    expect([0, 1, 2].map((n) => s.accept(n, 0))).toEqual(['ok', 'ok', 'ok']);
    expect(s.accept(2, 0)).toBe('duplicate');
    expect(s.accept(0, 0)).toBe('duplicate');
    s.reset();
    expect(s.accept(0, 0)).toBe('ok');
  });

  it('a number that arrives within the window after its successors was late, not missing', () => {
    const s = new ConnectionSequence(WINDOW);
    expect([0, 2, 3, 1].map((n) => s.accept(n, 10))).toEqual(['ok', 'ok', 'ok', 'late']);
    expect(s.missingCount).toBe(0);
    expect(s.overdue(10_000)).toBeUndefined();
  });

  it('a hole is reported once its window passes (time or frames), once per connection', () => {
    const byTime = new ConnectionSequence(WINDOW);
    byTime.accept(0, 0);
    byTime.accept(3, 0);
    expect(byTime.overdue(499)).toBeUndefined();
    expect(byTime.overdue(500)).toEqual({ from: 1, to: 2 });
    expect(byTime.overdue(5_000)).toBeUndefined();
    const byFrames = new ConnectionSequence(WINDOW);
    for (const n of [0, 2]) byFrames.accept(n, 0);
    for (let n = 3; n < 22; n++) byFrames.accept(n, 0);
    expect(byFrames.overdue(0)).toBeUndefined();
    byFrames.accept(22, 0);
    expect(byFrames.overdue(0)).toEqual({ from: 1, to: 1 });
  });

  it('a first frame above 0 leaves 0 missing (numbering starts at 0, PROTOCOL.md §0.3)', () => {
    const s = new ConnectionSequence(WINDOW);
    expect(s.accept(1, 0)).toBe('ok');
    expect(s.overdue(1_000)).toEqual({ from: 0, to: 0 });
  });

  it('property: a stream displaced by at most K (< window) with repeats never reports a hole; each number is ok or late once, repeats are duplicates', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 20 }),
        (n, k, swaps, repeats) => {
          const order = Array.from({ length: n }, (_, i) => i);
          // Local swaps at most k apart keep every number within k places of its own.
          for (const x of swaps) {
            const i = x % n;
            const j = Math.min(n - 1, i + 1 + (x % k));
            if (Math.abs(i - j) <= k) [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
          }
          const stream: number[] = [];
          for (const [i, v] of order.entries()) {
            stream.push(v);
            if (repeats.includes(i)) stream.push(v);
          }
          const s = new ConnectionSequence({ windowMs: 1_000, windowFrames: 3 * k + 10 });
          const verdicts = new Map<number, string[]>();
          for (const v of stream) {
            const list = verdicts.get(v) ?? [];
            list.push(s.accept(v, 0));
            verdicts.set(v, list);
            expect(s.overdue(0)).toBeUndefined();
          }
          for (const [, list] of verdicts) {
            expect(['ok', 'late']).toContain(list[0]);
            expect(list.slice(1).every((x) => x === 'duplicate')).toBe(true);
          }
          expect(s.missingCount).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('property: dropping any number is reported as a hole containing it, after the window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 100 }), fc.nat(), (n, d) => {
        const dropped = d % (n - 1);
        const s = new ConnectionSequence({ windowMs: 100, windowFrames: 1_000 });
        for (let v = 0; v < n; v++) if (v !== dropped) s.accept(v, 0);
        const hole = s.overdue(100);
        expect(hole).toEqual({ from: dropped, to: dropped });
      }),
    );
  });
});
