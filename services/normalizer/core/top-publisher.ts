/**
 * Throttle for top-of-book publishes, one per product (DESIGN.md "Normalized messages":
 * book published when the top changes, at a bounded rate, always ending with the latest
 * state). Leading edge: a change after a quiet interval publishes at once. Trailing
 * edge: changes inside the interval are folded into one publish at its end. Pure: the
 * shell owns the timer and passes the time in.
 */

export type ThrottleDecision =
  /** Publish the current top now. */
  | { kind: 'publish_now' }
  /** Arm a timer for `atMs` and call `onTimer` then (no timer was pending). */
  | { kind: 'schedule'; atMs: number }
  /** A timer is already armed for `atMs`; it will publish the latest state. */
  | { kind: 'pending'; atMs: number };

export class TopThrottle {
  private lastPublishMs: number | undefined;
  private timerAtMs: number | undefined;
  private dirty = false;

  constructor(private readonly minIntervalMs: number) {
    if (!(minIntervalMs >= 0)) throw new RangeError('minIntervalMs must be ≥ 0');
  }

  /** The top changed at `nowMs`. */
  onChange(nowMs: number): ThrottleDecision {
    if (this.timerAtMs !== undefined) {
      this.dirty = true;
      return { kind: 'pending', atMs: this.timerAtMs };
    }
    if (this.lastPublishMs === undefined || nowMs - this.lastPublishMs >= this.minIntervalMs) {
      this.lastPublishMs = nowMs;
      this.dirty = false;
      return { kind: 'publish_now' };
    }
    this.dirty = true;
    this.timerAtMs = this.lastPublishMs + this.minIntervalMs;
    return { kind: 'schedule', atMs: this.timerAtMs };
  }

  /**
   * The timer fired: true means publish the latest state now. A timer that fires early
   * (before `atMs`) returns false and stays armed: re-arm it for `pendingAt()`.
   */
  onTimer(nowMs: number): boolean {
    if (this.timerAtMs === undefined || nowMs < this.timerAtMs) return false;
    this.timerAtMs = undefined;
    if (!this.dirty) return false;
    this.dirty = false;
    this.lastPublishMs = nowMs;
    return true;
  }

  /** When the armed timer is due, if one is. */
  pendingAt(): number | undefined {
    return this.timerAtMs;
  }

  /** Drops a pending publish (e.g. the book went invalid); the next change starts afresh. */
  cancel(): void {
    this.timerAtMs = undefined;
    this.dirty = false;
  }
}
