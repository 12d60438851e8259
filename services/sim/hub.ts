/**
 * Routes frames to the connections subscribed to their (channel, product), answers
 * client requests, and does the trade accounting that needs the whole picture
 * (`no_subscriber`).
 */
import type { ControlLog } from './core/control-log.js';
import { parseClientMessage, type Channel } from './core/protocol.js';
import type { OutFrame, SimConnection } from './connection.js';
import type { SimMetrics } from './metrics.js';

/** Where market frames come from: the synthetic market or a recording. */
export interface FeedSource {
  /** Products clients may subscribe to. */
  readonly products: readonly string[];
  start(): void;
  stop(): Promise<void>;
  /** Frames a new subscriber of (channel, product) gets first: snapshot, last_match, ticker, status. */
  initialFrames(channel: Channel, product: string): OutFrame[];
}

const key = (channel: Channel, product: string) => `${channel}\u0000${product}`;

export class Hub {
  private readonly conns = new Map<string, SimConnection>();
  private readonly index = new Map<string, Set<SimConnection>>();
  private readonly productSet: ReadonlySet<string>;
  private resolveFirst!: () => void;
  /** Resolves when some client first subscribes (a replay waits for it). */
  readonly firstSubscribed = new Promise<void>((r) => (this.resolveFirst = r));

  constructor(
    private readonly source: FeedSource,
    private readonly log: ControlLog,
    private readonly metrics: SimMetrics,
    private readonly ackStyle: 'modern' | 'classic',
  ) {
    this.productSet = new Set(source.products);
  }

  get size(): number {
    return this.conns.size;
  }

  ids(): string[] {
    return [...this.conns.keys()];
  }

  all(): IterableIterator<SimConnection> {
    return this.conns.values();
  }

  add(conn: SimConnection): void {
    this.conns.set(conn.id, conn);
  }

  remove(conn: SimConnection): void {
    this.conns.delete(conn.id);
    for (const e of conn.subs.entries()) {
      const channel = e.name as Channel;
      for (const p of channel === 'status' ? [''] : e.productIds)
        this.index.get(key(channel, p))?.delete(conn);
    }
  }

  handleMessage(conn: SimConnection, text: string): void {
    const req = parseClientMessage(text, this.productSet);
    if (req.kind === 'error') {
      if (req.request) conn.gotRequest();
      this.metrics.clientErrors.inc();
      conn.deliver({ raw: req.frame, kind: 'error' });
      return;
    }
    conn.gotRequest();
    if (req.kind === 'subscribe') {
      const added = conn.subs.add(req.entries);
      for (const e of added) {
        for (const p of e.channel === 'status' ? [''] : e.products) {
          const k = key(e.channel, p);
          let set = this.index.get(k);
          if (set === undefined) {
            set = new Set();
            this.index.set(k, set);
          }
          set.add(conn);
        }
      }
      conn.deliver({ raw: conn.subs.ack(this.ackStyle), kind: 'subscriptions' });
      for (const e of added) {
        for (const p of e.channel === 'status' ? [''] : e.products) {
          for (const f of this.source.initialFrames(e.channel, p)) conn.deliver(f);
        }
      }
      this.resolveFirst();
    } else {
      for (const e of conn.subs.remove(req.entries)) {
        for (const p of e.channel === 'status' ? [''] : e.products)
          this.index.get(key(e.channel, p))?.delete(conn);
      }
      conn.deliver({ raw: conn.subs.ack(this.ackStyle), kind: 'subscriptions' });
    }
  }

  /** A market frame for the subscribers of (channel, product); `status` uses product ''. */
  publish(channel: Channel, product: string, frame: OutFrame): void {
    const set = this.index.get(key(channel, product));
    if (set === undefined) return;
    for (const conn of set) conn.deliver(frame);
  }

  /** A newly generated trade: logged, then delivered or missed with `no_subscriber`. */
  publishTrade(product: string, frame: OutFrame & { tradeId: number }): void {
    this.log.generated(product, frame.tradeId);
    this.metrics.trade(product);
    const set = this.index.get(key('matches', product));
    if (set === undefined || set.size === 0) {
      this.log.missed(product, frame.tradeId, null, 'no_subscriber');
      this.metrics.missed('no_subscriber');
      return;
    }
    for (const conn of set) conn.deliver(frame);
  }

  /** A frame of unknown channel (replay): every connection with any subscription gets it. */
  broadcast(frame: OutFrame): void {
    for (const conn of this.conns.values()) if (!conn.subs.empty) conn.deliver(frame);
  }

  cork(): void {
    for (const c of this.conns.values()) c.cork();
  }

  uncork(): void {
    for (const c of this.conns.values()) c.uncork();
  }

  pollFaults(): void {
    for (const c of this.conns.values()) c.pollFaults();
  }

  /** Largest send buffer among open, subscribed connections (for --backpressure). */
  maxBuffered(): number {
    let max = 0;
    for (const c of this.conns.values())
      if (c.isOpen && !c.subs.empty) max = Math.max(max, c.bufferedAmount);
    return max;
  }
}
