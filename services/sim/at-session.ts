/**
 * What makes a simulator connection an Advanced Trade session: its subscriptions, the
 * translation of market frames into Advanced Trade frames, trades batched into
 * market_trades updates until the market's current burst ends (the feed collects them
 * for 250 ms, docs market-trades), and `sequence_num`, numbered per connection from 0.
 *
 * Numbering happens after the `drop` fault (which removes single trades, so the numbers
 * stay contiguous) and before every other fault: `dup` repeats a frame with its number,
 * `reorder` moves it with its number, `seq_skip` leaves a hole. No I/O, no clock.
 */
import { CandleBook } from './core/at-candles.js';
import {
  atCandlesEvents,
  atEnvelope,
  atL2SnapshotEvents,
  atL2UpdateEvents,
  atStatusEvents,
  atTickerEvents,
  atTickerItem,
  atTradeItem,
  atTradesEvents,
  rfc3339Trimmed,
  type AtChannel,
  type AtFrameChannel,
} from './core/at-frames.js';
import { AtSubscriptions } from './core/at-protocol.js';
import type { FrameKind } from './core/faults.js';
import type { OutFrame, TradeRef } from './connection.js';

/** Trades in a market_trades snapshot (our choice: the feed's count is undocumented). */
export const AT_TRADES_SNAPSHOT = 50;

export interface AtSessionDeps {
  /** The connection's fault planner: `drop` per trade, `seq_skip` per frame. */
  decide(kind: 'drop' | 'seq_skip'): boolean;
  /** A trade removed by the `drop` fault (the control log's `fault_drop`). */
  dropped(t: TradeRef): void;
  seqSkipped(): void;
}

const SUBSCRIPTION_OF: Partial<Record<AtFrameChannel, AtChannel>> = {
  l2_data: 'level2',
  market_trades: 'market_trades',
  ticker: 'ticker',
  candles: 'candles',
  heartbeats: 'heartbeats',
  status: 'status',
};

export class AtSession {
  readonly subs = new AtSubscriptions();
  private seq = 0;
  /** The last envelope time (µs and nanosecond digits), kept increasing. */
  private lastUs = 0;
  private lastNs = 0;
  private queued: { json: string; ref: TradeRef }[] = [];
  /** Per subscribed channel, when it last carried a frame (µs), for the idle close. */
  private readonly lastActivity = new Map<AtChannel, number>();

  constructor(private readonly deps: AtSessionDeps) {}

  /** Turns a market frame into what this connection gets now; trades wait for `flush`. */
  accept(f: OutFrame, nowUs: number): OutFrame[] {
    if (f.at !== undefined)
      return [this.frame(f.at.channel, f.at.events, f.kind, nowUs, { product: f.product })];
    switch (f.kind) {
      case 'match': {
        const item = atTradeItem(f.raw);
        this.queued.push({
          json: item.json,
          ref: { product: item.product, tradeId: item.tradeId },
        });
        return [];
      }
      case 'ticker':
        return [
          this.frame(
            'ticker',
            atTickerEvents('update', [atTickerItem(f.raw).json]),
            'ticker',
            nowUs,
          ),
        ];
      case 'l2update':
        return [this.frame('l2_data', atL2UpdateEvents(f.raw), 'l2update', nowUs)];
      case 'snapshot':
        return [this.frame('l2_data', atL2SnapshotEvents(f.raw, nowUs), 'snapshot', nowUs)];
      case 'status':
        return [this.frame('status', atStatusEvents(f.raw), 'status', nowUs)];
      default:
        // Exchange-only frames (per-product heartbeats, last_match) have no counterpart.
        return [];
    }
  }

  /** The trades queued since the last flush as one market_trades update, newest first. */
  flush(nowUs: number): OutFrame[] {
    if (this.queued.length === 0) return [];
    const queued = this.queued;
    this.queued = [];
    const kept = queued.filter((q) => {
      if (!this.deps.decide('drop')) return true;
      this.deps.dropped(q.ref);
      return false;
    });
    if (kept.length === 0) return [];
    kept.reverse();
    const events = atTradesEvents(
      'update',
      kept.map((q) => q.json),
    );
    return [
      this.frame('market_trades', events, 'market_trades', nowUs, {
        trades: kept.map((q) => q.ref),
      }),
    ];
  }

  /** Trades queued but not sent (the connection ended): they are owed and missed. */
  drainQueued(): TradeRef[] {
    const refs = this.queued.map((q) => q.ref);
    this.queued = [];
    return refs;
  }

  /** The cumulative `subscriptions` frame. */
  ack(nowUs: number): OutFrame {
    return this.frame('subscriptions', this.subs.ackEvents(), 'subscriptions', nowUs);
  }

  /** market_trades snapshot from the market's recent `match` frames (oldest first). */
  tradesSnapshot(matches: readonly OutFrame[], nowUs: number): OutFrame {
    const items = matches.map((m) => atTradeItem(m.raw)).reverse();
    return this.frame(
      'market_trades',
      atTradesEvents(
        'snapshot',
        items.map((i) => i.json),
      ),
      'trades_snapshot',
      nowUs,
      { trades: items.map((i) => ({ product: i.product, tradeId: i.tradeId })) },
    );
  }

  /** One ticker snapshot for every product of a subscribe (a multi-product frame). */
  tickerSnapshot(tickers: readonly OutFrame[], nowUs: number): OutFrame {
    const items = tickers.map((t) => atTickerItem(t.raw).json);
    return this.frame('ticker', atTickerEvents('snapshot', items), 'ticker', nowUs);
  }

  candlesSnapshot(product: string, candles: CandleBook, nowUs: number): OutFrame {
    return this.frame(
      'candles',
      atCandlesEvents('snapshot', candles.snapshot(product)),
      'candles',
      nowUs,
      { product },
    );
  }

  subscribed(channel: AtChannel, nowUs: number): void {
    this.lastActivity.set(channel, nowUs);
  }

  unsubscribed(channel: AtChannel): void {
    if (!this.subs.has(channel)) this.lastActivity.delete(channel);
  }

  /**
   * A subscribed channel silent for `idleUs` while `heartbeats` is not subscribed: the feed
   * closes it (docs websocket-channels: "within 60-90 seconds").
   */
  idleChannel(nowUs: number, idleUs: number): AtChannel | undefined {
    if (this.subs.has('heartbeats')) return undefined;
    for (const [channel, at] of this.lastActivity) if (nowUs - at > idleUs) return channel;
    return undefined;
  }

  private frame(
    channel: AtFrameChannel,
    events: string,
    kind: FrameKind,
    nowUs: number,
    extra: Partial<OutFrame> = {},
  ): OutFrame {
    if (this.deps.decide('seq_skip')) {
      this.seq += 1;
      this.deps.seqSkipped();
    }
    const seq = this.seq++;
    const sub = SUBSCRIPTION_OF[channel];
    if (sub !== undefined && this.lastActivity.has(sub)) this.lastActivity.set(sub, nowUs);
    const raw = atEnvelope(channel, this.timestamp(nowUs, seq), seq, events);
    return { raw, kind, ...extra };
  }

  /** Nanosecond envelope times that never go backwards on the connection. */
  private timestamp(nowUs: number, seq: number): string {
    if (nowUs > this.lastUs) {
      this.lastUs = nowUs;
      this.lastNs = (seq * 37) % 500;
    } else {
      this.lastNs = Math.min(999, this.lastNs + 1);
    }
    return rfc3339Trimmed(this.lastUs, this.lastNs);
  }
}
