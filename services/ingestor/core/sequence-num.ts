/**
 * Advanced Trade `sequence_num` on one connection (PROTOCOL.md §0.3: per connection, all
 * channels, from 0, +1 per message). A number below the highest seen and not missing is a
 * repeat. A number that jumps ahead leaves the skipped ones missing; a missing number
 * that arrives within the window (`windowMs` or `windowFrames` later frames) was only
 * late, and one that does not is a hole: the connection lost a message, and the caller
 * reconnects for fresh snapshots (the server never resends). Pure: time comes in.
 */
export interface SequenceWindow {
  windowMs: number;
  windowFrames: number;
}

export type SequenceVerdict = 'ok' | 'late' | 'duplicate';

interface Missing {
  from: number;
  to: number;
  atMs: number;
  atFrame: number;
}

export class ConnectionSequence {
  private next = 0;
  private frames = 0;
  private missing: Missing[] = [];
  private broken = false;

  constructor(private readonly window: SequenceWindow) {}

  /** A new connection: numbering starts again at 0. */
  reset(): void {
    this.next = 0;
    this.frames = 0;
    this.missing = [];
    this.broken = false;
  }

  /** Numbers skipped and not arrived yet. */
  get missingCount(): number {
    return this.missing.reduce((n, m) => n + (m.to - m.from + 1), 0);
  }

  accept(seq: number, nowMs: number): SequenceVerdict {
    this.frames++;
    if (seq === this.next) {
      this.next++;
      return 'ok';
    }
    if (seq > this.next) {
      this.missing.push({ from: this.next, to: seq - 1, atMs: nowMs, atFrame: this.frames });
      this.next = seq + 1;
      return 'ok';
    }
    const i = this.missing.findIndex((m) => seq >= m.from && seq <= m.to);
    const m = this.missing[i];
    if (m === undefined) return 'duplicate';
    const parts: Missing[] = [];
    if (m.from < seq) parts.push({ ...m, to: seq - 1 });
    if (seq < m.to) parts.push({ ...m, from: seq + 1 });
    this.missing.splice(i, 1, ...parts);
    return 'late';
  }

  /**
   * The oldest missing range whose window has passed, once per connection: after a hole
   * the connection is being replaced, and what it still delivers is only published.
   */
  overdue(nowMs: number): { from: number; to: number } | undefined {
    if (this.broken) return undefined;
    const m = this.missing.find(
      (x) =>
        nowMs - x.atMs >= this.window.windowMs ||
        this.frames - x.atFrame >= this.window.windowFrames,
    );
    if (m === undefined) return undefined;
    this.broken = true;
    return { from: m.from, to: m.to };
  }
}
