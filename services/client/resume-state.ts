import type { Channel } from './types.js';

/**
 * Per product: where to resume and what was already seen (pure; no socket, no clock).
 *
 * - `resume` is the offset to send as `from` on the next (re)subscribe: the highest
 *   offset processed from the server's ordered stream. A slow_client gap lowers it to
 *   `from_offset - 1`, so the dropped trades come again.
 * - `hwm` per channel (and for status events) skips what was already delivered when a
 *   replay starts earlier than the newest frame seen ("skip offsets already seen").
 * - While a slow_client recovery is being set up, the product is `blocked`: frames of it
 *   are ignored until the re-subscribe is answered, so trades stay in order.
 */
export type TrackKey = Channel | 'status';

interface Track {
  resume: number | undefined;
  hwm: Partial<Record<TrackKey, number>>;
  blocked: boolean;
  recovering: { fromOffset: number; toOffset: number } | undefined;
}

export class ResumeTracker {
  private readonly tracks = new Map<string, Track>();

  private track(product: string): Track {
    let t = this.tracks.get(product);
    if (t === undefined) {
      t = { resume: undefined, hwm: {}, blocked: false, recovering: undefined };
      this.tracks.set(product, t);
    }
    return t;
  }

  /** A starting point given by the application. */
  seed(product: string, offset: number): void {
    this.track(product).resume = offset;
  }

  resumeFrom(product: string): number | undefined {
    return this.tracks.get(product)?.resume;
  }

  offsets(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [p, t] of this.tracks) if (t.resume !== undefined) out[p] = t.resume;
    return out;
  }

  forget(product: string): void {
    this.tracks.delete(product);
  }

  /** A snapshot resets its channel: what follows is newer than it. */
  snapshot(product: string, channel: Channel, offset: number): boolean {
    const t = this.track(product);
    if (t.blocked) return false;
    t.hwm[channel] = offset;
    t.resume = Math.max(t.resume ?? 0, offset);
    return true;
  }

  /** Whether a frame is new (emit it); either way it moves the resume point. */
  accept(product: string, key: TrackKey, offset: number): boolean {
    const t = this.track(product);
    if (t.blocked) return false;
    t.resume = Math.max(t.resume ?? 0, offset);
    if (offset <= (t.hwm[key] ?? -1)) return false;
    t.hwm[key] = offset;
    return true;
  }

  /** A slow_client gap: resume before it and ignore the product until `unblock`. */
  slowGap(product: string, fromOffset: number, toOffset: number): boolean {
    const t = this.track(product);
    if (t.blocked) return false;
    const from = Math.max(0, fromOffset - 1);
    t.resume = Math.min(t.resume ?? from, from);
    t.blocked = true;
    const r = t.recovering;
    t.recovering = {
      fromOffset: Math.min(r?.fromOffset ?? fromOffset, fromOffset),
      toOffset: Math.max(r?.toOffset ?? toOffset, toOffset),
    };
    return true;
  }

  isBlocked(product: string): boolean {
    return this.tracks.get(product)?.blocked === true;
  }

  unblock(product: string): void {
    const t = this.tracks.get(product);
    if (t !== undefined) t.blocked = false;
  }

  /** A new connection: nothing is blocked on it. */
  unblockAll(): void {
    for (const t of this.tracks.values()) t.blocked = false;
  }

  /** The recovery a frame at `offset` completes, if any (reported once). */
  recoveredBy(
    product: string,
    offset: number,
  ): { fromOffset: number; toOffset: number } | undefined {
    const t = this.tracks.get(product);
    const r = t?.recovering;
    if (t === undefined || r === undefined || t.blocked || offset < r.toOffset) return undefined;
    t.recovering = undefined;
    return r;
  }

  /** The recovery cannot complete (the offset expired): drop it. */
  abandonRecovery(product: string): void {
    const t = this.tracks.get(product);
    if (t !== undefined) {
      t.recovering = undefined;
      t.blocked = false;
    }
  }
}
