import { conflatedWire, type GapRange, type OutFrame } from './frames.js';

/**
 * A client's outbox: frames waiting for the next write. Normally a FIFO. Once the client
 * is slow (`degrade()`), it keeps bounded state instead of a backlog:
 *
 * - ticker, book and heartbeat frames are conflated per product: the newest replaces the
 *   pending one and moves to the end (sent with `"conflated":true`), so frames stay in
 *   offset order;
 * - queued and new trades of a product are replaced by one pending `gap` frame
 *   (reason slow_client) at the position of the first dropped trade, extended while the
 *   client stays slow; the client resumes from `from_offset - 1` to get them back;
 * - everything else (status, upstream gaps, snapshots, answers) keeps its place.
 *
 * Pure: the shell decides when to degrade/recover from the socket's buffered bytes.
 */

/**
 * A plain frame is queued as itself (no allocation per delivery); a frame sent in its
 * conflated variant, and a pending gap, get a slot object of their own.
 */
type Folded = { readonly t: 'folded'; readonly frame: OutFrame; readonly wire: Buffer };
type Gap = { readonly t: 'gap'; readonly product: string; readonly range: GapRange };
type Slot = OutFrame | Folded | Gap;

const isGap = (s: Slot): s is Gap => 't' in s && s.t === 'gap';
const frameOf = (s: OutFrame | Folded): OutFrame => ('t' in s ? s.frame : s);

export interface PushResult {
  conflated: boolean;
  dropped: boolean;
  gapOpened: boolean;
}

export interface DegradeResult {
  conflated: number;
  dropped: number;
  gapsOpened: number;
}

/** What a pending gap frame counts for in `bytes` before it is serialized. */
export const GAP_FRAME_ESTIMATE = 200;

const NOTHING: PushResult = { conflated: false, dropped: false, gapOpened: false };

export class Outbox {
  private slots: (Slot | undefined)[] = [];
  private head = 0;
  private live = 0;
  private readonly keyAt = new Map<string, number>();
  private readonly gapAt = new Map<string, number>();
  private pendingBytes = 0;
  private isSlow = false;

  /** `gapWire` serializes a slow_client gap frame (frames.ts slowGapFrame). */
  constructor(private readonly gapWire: (product: string, range: GapRange) => Buffer) {}

  /** Bytes pending (wire bytes; a gap counts GAP_FRAME_ESTIMATE). */
  get bytes(): number {
    return this.pendingBytes;
  }

  get length(): number {
    return this.live;
  }

  get slow(): boolean {
    return this.isSlow;
  }

  push(frame: OutFrame): PushResult {
    if (!this.isSlow) {
      this.append(frame);
      return NOTHING;
    }
    if (frame.kind === 'trade') return this.dropTrade(frame, undefined);
    const key = conflationKey(frame);
    if (key === undefined) {
      this.append(frame);
      return NOTHING;
    }
    const previous = this.keyAt.get(key);
    if (previous !== undefined) this.tombstone(previous);
    this.keyAt.set(key, this.append(previous === undefined ? frame : folded(frame)));
    return { conflated: previous !== undefined, dropped: false, gapOpened: false };
  }

  /** The client fell behind: fold what is queued, and keep folding until recover(). */
  degrade(): DegradeResult {
    const result: DegradeResult = { conflated: 0, dropped: 0, gapsOpened: 0 };
    if (this.isSlow) return result;
    this.isSlow = true;
    for (let i = this.head; i < this.slots.length; i++) {
      const slot = this.slots[i];
      if (slot === undefined) continue;
      if (isGap(slot)) {
        this.gapAt.set(slot.product, i);
        continue;
      }
      const frame = frameOf(slot);
      if (frame.kind === 'trade') {
        const r = this.dropTrade(frame, i);
        result.dropped++;
        if (r.gapOpened) result.gapsOpened++;
        continue;
      }
      const key = conflationKey(frame);
      if (key === undefined) continue;
      const previous = this.keyAt.get(key);
      if (previous !== undefined) {
        this.tombstone(previous);
        const f = folded(frame);
        this.pendingBytes += f.wire.length - slot.wire.length;
        this.slots[i] = f;
        result.conflated++;
      }
      this.keyAt.set(key, i);
    }
    return result;
  }

  /** The client caught up: back to a plain FIFO (pending gaps stay where they are). */
  recover(): void {
    this.isSlow = false;
    this.keyAt.clear();
    this.gapAt.clear();
  }

  /**
   * Removes and returns wire frames in order until at least `maxBytes` are taken (always
   * at least one when any is pending).
   */
  take(maxBytes = Infinity): { frames: Buffer[]; bytes: number } {
    const frames: Buffer[] = [];
    let taken = 0;
    while (this.head < this.slots.length && (frames.length === 0 || taken < maxBytes)) {
      const i = this.head++;
      const slot = this.slots[i];
      if (slot === undefined) continue;
      this.slots[i] = undefined;
      this.live--;
      let wire: Buffer;
      if (isGap(slot)) {
        wire = this.gapWire(slot.product, slot.range);
        this.pendingBytes -= GAP_FRAME_ESTIMATE;
        if (this.gapAt.get(slot.product) === i) this.gapAt.delete(slot.product);
      } else {
        wire = slot.wire;
        this.pendingBytes -= wire.length;
        if (this.isSlow) {
          const key = conflationKey(frameOf(slot));
          if (key !== undefined && this.keyAt.get(key) === i) this.keyAt.delete(key);
        }
      }
      frames.push(wire);
      taken += wire.length;
    }
    if (this.live === 0) this.reset();
    return { frames, bytes: taken };
  }

  private dropTrade(frame: OutFrame, at: number | undefined): PushResult {
    const product = frame.product ?? '';
    const tradeId = frame.tradeId ?? 0;
    const offset = frame.offset ?? 0;
    const open = this.gapAt.get(product);
    const gap = open === undefined ? undefined : this.slots[open];
    if (gap !== undefined && isGap(gap)) {
      gap.range.to = tradeId;
      gap.range.toOffset = offset;
      if (at !== undefined) this.tombstone(at);
      return { conflated: false, dropped: true, gapOpened: false };
    }
    const slot: Gap = {
      t: 'gap',
      product,
      range: { from: tradeId, to: tradeId, fromOffset: offset, toOffset: offset },
    };
    if (at === undefined) {
      this.gapAt.set(product, this.append(slot));
    } else {
      this.pendingBytes += GAP_FRAME_ESTIMATE - weight(this.slots[at]);
      this.slots[at] = slot;
      this.gapAt.set(product, at);
    }
    return { conflated: false, dropped: true, gapOpened: true };
  }

  private append(slot: Slot): number {
    if (this.slots.length - this.head > 64 && this.slots.length - this.head > 2 * this.live) {
      this.compact();
    }
    this.slots.push(slot);
    this.live++;
    this.pendingBytes += weight(slot);
    return this.slots.length - 1;
  }

  private tombstone(i: number): void {
    const slot = this.slots[i];
    if (slot === undefined) return;
    this.slots[i] = undefined;
    this.live--;
    this.pendingBytes -= weight(slot);
  }

  /** Drops tombstones; indexes are rebuilt from the surviving slots. */
  private compact(): void {
    const kept = this.slots.slice(this.head).filter((s): s is Slot => s !== undefined);
    this.slots = kept;
    this.head = 0;
    this.keyAt.clear();
    this.gapAt.clear();
    if (!this.isSlow) return;
    kept.forEach((slot, i) => {
      if (isGap(slot)) this.gapAt.set(slot.product, i);
      else {
        const key = conflationKey(frameOf(slot));
        if (key !== undefined) this.keyAt.set(key, i);
      }
    });
  }

  private reset(): void {
    this.slots = [];
    this.head = 0;
    this.keyAt.clear();
    this.gapAt.clear();
    this.pendingBytes = 0;
  }
}

function weight(slot: Slot | undefined): number {
  if (slot === undefined) return 0;
  return isGap(slot) ? GAP_FRAME_ESTIMATE : slot.wire.length;
}

function conflationKey(frame: OutFrame): string | undefined {
  switch (frame.kind) {
    case 'ticker':
    case 'book':
      return `${frame.kind}|${frame.product ?? ''}`;
    case 'heartbeat':
      return 'heartbeat';
    case 'trade':
    case 'other':
      return undefined;
  }
}

/** The frame in its `"conflated":true` variant (heartbeats have none). */
function folded(frame: OutFrame): Folded {
  return {
    t: 'folded',
    frame,
    wire: frame.kind === 'heartbeat' ? frame.wire : conflatedWire(frame),
  };
}
