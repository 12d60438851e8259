/**
 * A token bucket: `capacity` tokens, refilled at `ratePerSec`; each client frame takes
 * one. Time comes in as an argument (ms), so it is exact under test.
 */
export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

export class TokenBucket {
  private available: number;
  private lastMs: number;

  constructor(
    readonly capacity: number,
    readonly ratePerSec: number,
    nowMs: number,
  ) {
    if (!(capacity >= 1) || !(ratePerSec > 0)) throw new RangeError('capacity >= 1, rate > 0');
    this.available = capacity;
    this.lastMs = nowMs;
  }

  /** Tokens available at `nowMs` (never above capacity). */
  tokens(nowMs: number): number {
    this.refill(nowMs);
    return this.available;
  }

  take(nowMs: number, n = 1): TakeResult {
    this.refill(nowMs);
    if (this.available >= n) {
      this.available -= n;
      return { ok: true };
    }
    const missing = n - this.available;
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil((missing * 1000) / this.ratePerSec)) };
  }

  private refill(nowMs: number): void {
    // A clock that steps backwards refills nothing (and never drains).
    const elapsed = Math.max(0, nowMs - this.lastMs);
    this.lastMs = Math.max(this.lastMs, nowMs);
    this.available = Math.min(this.capacity, this.available + (elapsed * this.ratePerSec) / 1000);
  }
}
