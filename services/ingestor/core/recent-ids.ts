/**
 * The last N ids seen, as a set (not a high-water mark: trades may arrive out of
 * order, and ordering is the normalizer's job). A Set keeps insertion order, so the
 * oldest entry is evicted first.
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Adds the id; returns false when it was already present. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (oldest.done !== true) this.ids.delete(oldest.value);
    }
    return true;
  }

  delete(id: string): void {
    this.ids.delete(id);
  }

  get size(): number {
    return this.ids.size;
  }
}
