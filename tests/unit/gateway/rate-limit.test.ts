import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../../services/gateway/core/rate-limit.js';

describe('TokenBucket', () => {
  it('never holds more than its capacity, whatever the timing', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.double({ min: 0.1, max: 1000, noNaN: true }),
        fc.array(fc.tuple(fc.integer({ min: -1000, max: 100_000 }), fc.boolean()), {
          maxLength: 100,
        }),
        (capacity, rate, steps) => {
          let now = 0;
          const b = new TokenBucket(capacity, rate, now);
          for (const [dt, take] of steps) {
            now += dt;
            if (take) b.take(now);
            const t = b.tokens(now);
            expect(t).toBeLessThanOrEqual(capacity);
            expect(t).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });

  it('grants at most capacity + rate x elapsed to a greedy client', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 300 }),
        (capacity, rate, gaps) => {
          let now = 0;
          const b = new TokenBucket(capacity, rate, now);
          let granted = 0;
          for (const dt of gaps) {
            now += dt;
            while (b.take(now).ok) granted++;
          }
          expect(granted).toBeLessThanOrEqual(capacity + (rate * now) / 1000 + 1e-9);
        },
      ),
    );
  });

  it('refills at its rate: a drained bucket gets rate x elapsed back, up to capacity', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 20 }),
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 50 }),
        (capacity, rate, gaps) => {
          let now = 0;
          const b = new TokenBucket(capacity, rate, now);
          let granted = 0;
          let produced = capacity;
          for (const dt of gaps) {
            const before = b.tokens(now);
            now += dt;
            const after = b.tokens(now);
            expect(after).toBeCloseTo(Math.min(capacity, before + (rate * dt) / 1000), 9);
            produced += after - before;
            while (b.take(now).ok) granted++;
          }
          // Every whole token produced was handed out (what is left is less than one).
          expect(granted).toBe(Math.round(produced - b.tokens(now)));
        },
      ),
    );
  });

  it('says how long to wait for the next token', () => {
    const b = new TokenBucket(2, 10, 0);
    expect(b.take(0).ok).toBe(true);
    expect(b.take(0).ok).toBe(true);
    expect(b.take(0)).toEqual({ ok: false, retryAfterMs: 100 });
    expect(b.take(50)).toEqual({ ok: false, retryAfterMs: 50 });
    expect(b.take(100).ok).toBe(true);
  });
});
