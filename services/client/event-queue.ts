/**
 * An async iterator over pushed values with backpressure: at `high` queued values it
 * calls `pause` (the client stops reading), and once the consumer has taken it down to
 * `low` it calls `resume`. Ends on `end()` or when the consumer breaks out.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private head = 0;
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private paused = false;

  constructor(
    private readonly high: number,
    private readonly low: number,
    private readonly pause: () => void,
    private readonly resume: () => void,
    private readonly onReturn: () => void = () => undefined,
  ) {}

  get size(): number {
    return this.buffer.length - this.head;
  }

  get done(): boolean {
    return this.ended;
  }

  push(value: T): void {
    if (this.ended) return;
    const w = this.waiting;
    if (w !== undefined) {
      this.waiting = undefined;
      w({ value, done: false });
      return;
    }
    this.buffer.push(value);
    if (!this.paused && this.size >= this.high) {
      this.paused = true;
      this.pause();
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    const w = this.waiting;
    this.waiting = undefined;
    w?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.size > 0) {
      const value = this.buffer[this.head] as T;
      this.buffer[this.head++] = undefined as T;
      if (this.head > 1024 && this.head * 2 > this.buffer.length) {
        this.buffer.splice(0, this.head);
        this.head = 0;
      }
      if (this.paused && this.size <= this.low) {
        this.paused = false;
        this.resume();
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (this.paused) {
      this.paused = false;
      this.resume();
    }
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.end();
    this.buffer.length = 0;
    this.head = 0;
    if (this.paused) {
      this.paused = false;
      this.resume();
    }
    this.onReturn();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
