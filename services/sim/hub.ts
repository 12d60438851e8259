/**
 * Routes frames to the connections subscribed to their (channel, product), answers
 * client requests, and does the trade accounting that needs the whole picture
 * (`no_subscriber`). Channels are the market's (Exchange names); an Advanced Trade
 * subscription maps onto them (`market_trades` → matches, `level2` → level2_batch) plus
 * the two it has alone, `heartbeats` (per connection) and `candles`.
 */
import { CandleBook } from './core/at-candles.js';
import { atCandlesEvents, atHeartbeatEvents, type AtChannel } from './core/at-frames.js';
import { parseAtClientMessage } from './core/at-protocol.js';
import type { ControlLog } from './core/control-log.js';
import { parseClientMessage, type Channel } from './core/protocol.js';
import { AT_TRADES_SNAPSHOT } from './at-session.js';
import type { OutFrame, SimConnection } from './connection.js';
import type { SimMetrics } from './metrics.js';
import { nowUs as nowUsOf } from './synthetic.js';

/** Where market frames come from: the synthetic market or a recording. */
export interface FeedSource {
  /** Products clients may subscribe to. */
  readonly products: readonly string[];
  start(): void;
  stop(): Promise<void>;
  /** Frames a new subscriber of (channel, product) gets first: snapshot, last_match, ticker, status. */
  initialFrames(channel: Channel, product: string): OutFrame[];
  /** The product's last `n` match frames, oldest first (the Advanced Trade trades snapshot). */
  recentTrades(product: string, n: number): OutFrame[];
}

type HubChannel = Channel | 'heartbeats' | 'candles';

/** The market channel an Advanced Trade channel reads. */
const AT_TO_HUB: Readonly<Record<AtChannel, HubChannel>> = {
  heartbeats: 'heartbeats',
  ticker: 'ticker',
  market_trades: 'matches',
  level2: 'level2_batch',
  candles: 'candles',
  status: 'status',
};

const key = (channel: HubChannel, product: string) => `${channel}\u0000${product}`;

export class Hub {
  private readonly conns = new Map<string, SimConnection>();
  private readonly index = new Map<string, Set<SimConnection>>();
  private readonly productSet: ReadonlySet<string>;
  private resolveFirst!: () => void;
  /** Resolves when some client first subscribes (a replay waits for it). */
  readonly firstSubscribed = new Promise<void>((r) => (this.resolveFirst = r));
  /** Advanced Trade candles, folded from every trade (only when serving Advanced Trade). */
  readonly candles: CandleBook | undefined;

  constructor(
    private readonly source: FeedSource,
    private readonly log: ControlLog,
    private readonly metrics: SimMetrics,
    private readonly ackStyle: 'modern' | 'classic',
    feed: 'exchange' | 'advanced' = 'exchange',
  ) {
    this.productSet = new Set(source.products);
    if (feed === 'advanced') this.candles = new CandleBook();
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
    for (const set of this.index.values()) set.delete(conn);
  }

  private indexAdd(conn: SimConnection, channel: HubChannel, product: string): void {
    const k = key(channel, product);
    let set = this.index.get(k);
    if (set === undefined) {
      set = new Set();
      this.index.set(k, set);
    }
    set.add(conn);
  }

  handleMessage(conn: SimConnection, text: string): void {
    if (conn.at !== undefined) {
      this.handleAtMessage(conn, text);
      return;
    }
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
        for (const p of e.channel === 'status' ? [''] : e.products)
          this.indexAdd(conn, e.channel, p);
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

  /**
   * One Advanced Trade (un)subscribe: the ack (cumulative), then the channel's first
   * frames: a trades snapshot per product, one ticker snapshot for all of them, a level2
   * snapshot per product, candles per product, status.
   */
  private handleAtMessage(conn: SimConnection, text: string): void {
    const session = conn.at;
    if (session === undefined) return;
    const req = parseAtClientMessage(text, this.productSet);
    if (req.kind === 'error') {
      if (req.request) conn.gotRequest();
      this.metrics.clientErrors.inc();
      conn.send([{ raw: req.frame, kind: 'error' }]);
      return;
    }
    conn.gotRequest();
    const now = nowUsOf();
    const hubChannel = AT_TO_HUB[req.channel];
    const products = hubChannel === 'heartbeats' || hubChannel === 'status' ? [''] : req.products;
    if (req.kind === 'unsubscribe') {
      const gone = session.subs.remove(req.channel, req.products);
      for (const p of req.products.length === 0 ? [...gone, ''] : gone)
        this.index.get(key(hubChannel, p))?.delete(conn);
      session.unsubscribed(req.channel);
      conn.send([session.ack(now)]);
      return;
    }
    session.subs.add(req.channel, req.products);
    session.subscribed(req.channel, now);
    for (const p of products) this.indexAdd(conn, hubChannel, p);
    const out: OutFrame[] = [session.ack(now)];
    switch (req.channel) {
      case 'market_trades':
        for (const p of req.products)
          out.push(session.tradesSnapshot(this.source.recentTrades(p, AT_TRADES_SNAPSHOT), now));
        break;
      case 'ticker':
        out.push(
          session.tickerSnapshot(
            req.products.flatMap((p) => this.source.initialFrames('ticker', p)),
            now,
          ),
        );
        break;
      case 'level2':
        for (const p of req.products)
          for (const f of this.source.initialFrames('level2_batch', p))
            out.push(...session.accept(f, now));
        break;
      case 'candles':
        if (this.candles !== undefined)
          for (const p of req.products) out.push(session.candlesSnapshot(p, this.candles, now));
        break;
      case 'status':
        for (const f of this.source.initialFrames('status', ''))
          out.push(...session.accept(f, now));
        break;
      case 'heartbeats':
        break;
      default: {
        const never: never = req.channel;
        throw new Error(`unknown channel ${String(never)}`);
      }
    }
    conn.send(out);
    this.resolveFirst();
  }

  /**
   * Advanced Trade timers, once a second: `heartbeats` to every connection that has it,
   * candle updates for products whose current bucket changed, and the idle close of
   * connections whose channels went quiet without `heartbeats`.
   */
  atTick(nowUs: number, uptimeUs: number, idleUs: number): void {
    this.cork();
    const hb = atHeartbeatEvents(nowUs, uptimeUs);
    this.publish('heartbeats', '', {
      raw: '',
      kind: 'heartbeat',
      at: { channel: 'heartbeats', events: hb },
    });
    for (const { product, candle } of this.candles?.takeChanged() ?? []) {
      this.publish('candles', product, {
        raw: '',
        kind: 'candles',
        product,
        at: { channel: 'candles', events: atCandlesEvents('update', [candle]) },
      });
    }
    for (const c of this.conns.values()) {
      const idle = c.at?.idleChannel(nowUs, idleUs);
      if (idle !== undefined && c.isOpen) c.close('idle', 1006, `channel ${idle} idle`);
    }
    this.uncork();
  }

  /** A market frame for the subscribers of (channel, product); `status` uses product ''. */
  publish(channel: HubChannel, product: string, frame: OutFrame): void {
    const set = this.index.get(key(channel, product));
    if (set === undefined) return;
    for (const conn of set) conn.deliver(frame);
  }

  /** A newly generated trade: logged, then delivered or missed with `no_subscriber`. */
  publishTrade(product: string, frame: OutFrame & { tradeId: number }): void {
    this.log.generated(product, frame.tradeId);
    this.metrics.trade(product);
    if (this.candles !== undefined) {
      const m = JSON.parse(frame.raw) as { price: string; size: string; time: string };
      this.candles.trade(product, m.price, m.size, Date.parse(m.time) * 1000);
    }
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
    for (const conn of this.conns.values()) if (conn.subscribed) conn.deliver(frame);
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
      if (c.isOpen && c.subscribed) max = Math.max(max, c.bufferedAmount);
    return max;
  }
}
