/**
 * The resume buffer of one product: the last `capacity` messages, none older than
 * `maxAgeMs`. Offsets are pushed strictly increasing. `floor` is the promise: every
 * message of the product with an offset above it is held, so `after(x)` for any
 * x >= floor answers exactly the messages after x, and undefined below the floor (the
 * caller then reads the stream).
 */
export interface RingItem {
  readonly offset: number;
  /** When the message was stored (ms since the epoch), for age eviction. */
  readonly atMs: number;
}

export class RingBuffer<T extends RingItem> {
  private readonly slots: (T | undefined)[];
  private start = 0;
  private count = 0;
  private floorOffset: number;

  constructor(
    readonly capacity: number,
    readonly maxAgeMs: number,
    floor = 0,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be >= 1');
    this.slots = new Array<T | undefined>(capacity);
    this.floorOffset = floor;
  }

  get size(): number {
    return this.count;
  }

  /** Every pushed item with an offset above this is still held. */
  get floor(): number {
    return this.floorOffset;
  }

  /** The newest offset held, or the floor when empty. */
  get last(): number {
    return this.count === 0 ? this.floorOffset : (this.at(this.count - 1)?.offset ?? 0);
  }

  /** An empty ring may move its floor (the feed learns where its history starts). */
  resetFloor(floor: number): void {
    if (this.count !== 0) throw new Error('resetFloor on a non-empty ring');
    this.floorOffset = floor;
  }

  push(item: T): void {
    if (item.offset <= this.last) {
      throw new RangeError(`offsets must increase: ${item.offset} after ${this.last}`);
    }
    if (this.count === this.capacity) this.dropOldest();
    this.slots[(this.start + this.count) % this.capacity] = item;
    this.count++;
  }

  /** Drops items stored before `nowMs - maxAgeMs`. */
  evictOlderThan(nowMs: number): void {
    const limit = nowMs - this.maxAgeMs;
    while (this.count > 0 && (this.at(0)?.atMs ?? Infinity) < limit) this.dropOldest();
  }

  covers(offset: number): boolean {
    return offset >= this.floorOffset;
  }

  /** The items after `offset` (at most `limit`), or undefined when the ring cannot tell. */
  after(offset: number, limit = Infinity): T[] | undefined {
    if (!this.covers(offset)) return undefined;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.at(mid)?.offset ?? Infinity) <= offset) lo = mid + 1;
      else hi = mid;
    }
    const out: T[] = [];
    for (let i = lo; i < this.count && out.length < limit; i++) {
      const item = this.at(i);
      if (item !== undefined) out.push(item);
    }
    return out;
  }

  private at(i: number): T | undefined {
    return this.slots[(this.start + i) % this.capacity];
  }

  private dropOldest(): void {
    const item = this.slots[this.start];
    this.slots[this.start] = undefined;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
    if (item !== undefined) this.floorOffset = item.offset;
  }
}
