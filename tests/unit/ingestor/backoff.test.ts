import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../services/ingestor/core/backoff.js';

describe('backoffDelay', () => {
  const policy = { baseMs: 250, maxMs: 30_000 };

  it('doubles from the base and stops at the cap', () => {
    expect(backoffDelay(policy, 0, () => 1)).toBe(250);
    expect(backoffDelay(policy, 1, () => 1)).toBe(500);
    expect(backoffDelay(policy, 3, () => 1)).toBe(2000);
    expect(backoffDelay(policy, 20, () => 1)).toBe(30_000);
    expect(backoffDelay(policy, 1000, () => 1)).toBe(30_000);
  });

  it('jitters within [ceiling/2, ceiling] and never exceeds the cap', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(policy, attempt, () => r);
        const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
        expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(d).toBeLessThanOrEqual(Math.ceil(ceiling));
        expect(d).toBeLessThanOrEqual(policy.maxMs);
      }),
    );
  });
});
