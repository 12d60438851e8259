/**
 * Messages as they arrive, taken in batches: up to `max` items, or whatever arrived
 * within `windowMs` of the oldest one waiting. `interrupt()` returns a waiting `take`
 * early (stop, consumer reset).
 */
export class BatchQueue<T> {
  private items: T[] = [];
  /** Arrival times, parallel to `items` (no object per message on the hot path). */
  private times: number[] = [];
  private waiter: (() => void) | undefined;
  /** The waiter is woken when this many items wait (1, then the batch size). */
  private wakeAt = 1;
  private interrupted = false;

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    this.times.push(performance.now());
    if (this.items.length >= this.wakeAt) this.notify();
  }

  /** Everything waiting, oldest first, without removing it. */
  peekAll(): readonly T[] {
    return this.items;
  }

  /** Removes and returns everything waiting. */
  clear(): T[] {
    const out = this.items;
    this.items = [];
    this.times = [];
    return out;
  }

  interrupt(): void {
    this.interrupted = true;
    this.notify();
  }

  /** An interrupt() since the last take() makes this one return at once. */
  async take(max: number, windowMs: number): Promise<T[]> {
    this.wakeAt = 1;
    while (this.items.length === 0 && !this.interrupted) await this.wait(60_000);
    this.wakeAt = max;
    const first = this.times[0];
    if (first !== undefined) {
      const due = first + windowMs;
      for (;;) {
        const left = due - performance.now();
        if (this.items.length >= max || left <= 0 || this.interrupted) break;
        await this.wait(left);
      }
    }
    this.interrupted = false;
    this.times.splice(0, max);
    return this.items.splice(0, max);
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.waiter = done;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private notify(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
