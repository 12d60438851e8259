import type { NormKind } from '../../common/subjects.js';
import { dataJsonOf, type OutFrame } from './frames.js';
import type { Channel } from './protocol.js';
import { RingBuffer } from './ring-buffer.js';

/**
 * What the gateway keeps per product: the resume ring (every message, as its shared
 * frame) and the snapshot state (latest ticker, latest book, last N trades), each keyed
 * by its MD_NORM offset so snapshot-then-live has no race.
 */
export interface FeedMessage {
  /** MD_NORM stream sequence. */
  readonly offset: number;
  readonly product: string;
  readonly kind: NormKind;
  /** The channel it is delivered on; undefined for status events other than gaps. */
  readonly channel: Channel | undefined;
  /** Stream time (ms since the epoch), for the ring's age limit. */
  readonly atMs: number;
  /** Lf-Pub-Us, for the delivery latency histogram. */
  readonly pubUs: number | undefined;
  /** The update/gap/status frame every subscriber gets (snapshots read the data from it). */
  readonly frame: OutFrame;
}

export interface Snapshot {
  offset: number;
  dataJson: string;
}

export class ProductState {
  readonly ring: RingBuffer<FeedMessage>;
  private ticker: FeedMessage | undefined;
  private book: FeedMessage | undefined;
  private readonly trades: FeedMessage[] = [];

  constructor(
    readonly product: string,
    opts: { ringCapacity: number; ringMaxAgeMs: number; snapshotTrades: number; floor?: number },
  ) {
    this.ring = new RingBuffer(opts.ringCapacity, opts.ringMaxAgeMs, opts.floor ?? 0);
    this.snapshotTrades = opts.snapshotTrades;
  }

  private readonly snapshotTrades: number;

  /** A live message: into the ring and the snapshot state. */
  apply(m: FeedMessage): void {
    this.ring.push(m);
    this.seed(m);
  }

  /** Snapshot state only (messages read at start from before the ring's history). */
  seed(m: FeedMessage): void {
    switch (m.kind) {
      case 'ticker':
        if (m.offset > (this.ticker?.offset ?? 0)) this.ticker = m;
        break;
      case 'book':
        if (m.offset > (this.book?.offset ?? 0)) this.book = m;
        break;
      case 'trade': {
        const last = this.trades.at(-1);
        if (last !== undefined && m.offset <= last.offset) break;
        this.trades.push(m);
        if (this.trades.length > this.snapshotTrades) this.trades.shift();
        break;
      }
      case 'status':
        break;
    }
  }

  /**
   * The snapshot of a channel as of now. `head` (the gateway's position) stands for the
   * offset when there is nothing yet, so a resume from it misses nothing.
   */
  snapshot(channel: Channel, head: number): Snapshot {
    if (channel === 'trades') {
      const last = this.trades.at(-1);
      return {
        offset: last?.offset ?? head,
        dataJson: `[${this.trades.map((t) => dataJsonOf(t.frame)).join(',')}]`,
      };
    }
    const m = channel === 'ticker' ? this.ticker : this.book;
    return m === undefined
      ? { offset: head, dataJson: 'null' }
      : { offset: m.offset, dataJson: dataJsonOf(m.frame) };
  }
}
