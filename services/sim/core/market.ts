/**
 * A synthetic market for one product: a random-walk "fair" price, an L2 book that
 * follows it through limit adds and cancels, and takers that trade at the best bid or
 * ask, consuming the book. Everything is driven by a seeded Rng and the `nowUs` given
 * to each call, so the same seed yields the same trades. No I/O, no clock.
 *
 * Coinbase facts kept here: trade ids are contiguous per product; `sequence` is the
 * product's full-channel sequence, so every book event consumes numbers and matches and
 * tickers skip (PROTOCOL.md §0.2); a match's `side` is the maker's, its ticker's the
 * taker's (§0.4); one ticker follows a cascade of matches of one taker order (§1.3).
 */
import { BookSide } from './book.js';
import { fixed, toUnits, trimmed, ZERO_SPELLINGS } from './decimal.js';
import {
  heartbeatFrame,
  l2updateFrame,
  matchFrame,
  snapshotFrame,
  tickerFrame,
  type L2Change,
  type Side,
} from './frames.js';
import type { ProductSpec } from './products.js';
import type { Rng } from './rng.js';

/** Match frames kept for `recentMatches`. */
export const RECENT_KEPT = 100;

export interface MarketOptions {
  spec: ProductSpec;
  rng: Rng;
  /** Levels per side the book keeps (about); the snapshot is the whole book. */
  levels: number;
  /** Epoch µs of the market's creation (initial trade time). */
  nowUs: number;
  /** Probability that a deleted level's size is spelled "0", "0.0", ... (default 0.05). */
  zeroVariety?: number;
}

export interface Trade {
  tradeId: number;
  sequence: number;
  price: number;
  size: number;
  makerSide: Side;
  makerOrderId: string;
  takerOrderId: string;
  timeUs: number;
}

export interface StepResult {
  /** Raw `match` frames, in trade id order, with their ids. */
  trades: { tradeId: number; raw: string }[];
  /** The ticker after the cascade, when there were trades. */
  ticker: string | undefined;
}

export class Market {
  readonly spec: ProductSpec;
  readonly bids = new BookSide('buy');
  readonly asks = new BookSide('sell');
  private readonly rng: Rng;
  private readonly target: number;
  private readonly sizeStep: number;
  private readonly sigma: number;
  private readonly zeroVariety: number;
  private readonly startTicks: number;
  private fair: number;
  private seq: number;
  private timeUs: number;
  private last: Trade;
  private readonly makerIds = new Map<number, string>();
  /** The last RECENT_KEPT match frames, oldest first (an Advanced Trade trades snapshot). */
  private readonly recent: { tradeId: number; raw: string }[] = [];
  private readonly pending = new Map<number, L2Change>();
  private readonly open24h: number;
  private high24h: number;
  private low24h: number;
  private volume24h: number;
  private readonly volume30dBase: number;

  constructor(opts: MarketOptions) {
    const { spec, rng } = opts;
    this.spec = spec;
    this.rng = rng;
    this.target = Math.max(1, Math.floor(opts.levels));
    this.sizeStep = Math.max(1, toUnits(spec.baseIncrement, spec.sizeDecimals));
    this.startTicks = spec.startTicks;
    this.sigma = Math.max(0.05, spec.startTicks * 2e-6);
    this.zeroVariety = opts.zeroVariety ?? 0.05;
    this.fair = spec.startTicks;
    this.timeUs = opts.nowUs;
    this.seq = 1_000_000_000 + rng.int(1_000_000_000);
    this.buildBook();
    const bestAsk = this.asks.best() ?? spec.startTicks + 1;
    this.last = {
      tradeId: 10_000_000 + rng.int(90_000_000),
      sequence: this.seq,
      price: bestAsk,
      size: this.orderSize(0.3),
      makerSide: 'sell',
      makerOrderId: rng.uuid(),
      takerOrderId: rng.uuid(),
      timeUs: opts.nowUs,
    };
    this.open24h = Math.round(spec.startTicks * (1 + (rng.next() - 0.5) * 0.04));
    this.high24h = Math.max(this.open24h, bestAsk) + rng.int(Math.ceil(spec.startTicks * 0.01));
    this.low24h = Math.max(
      1,
      Math.min(this.open24h, bestAsk) - rng.int(Math.ceil(spec.startTicks * 0.01)),
    );
    this.volume24h = spec.typicalSize * (20_000 + rng.int(20_000));
    this.volume30dBase = this.volume24h * 25;
  }

  get sequence(): number {
    return this.seq;
  }

  get lastTrade(): Readonly<Trade> {
    return this.last;
  }

  bestBid(): number | undefined {
    return this.bids.best();
  }

  bestAsk(): number | undefined {
    return this.asks.best();
  }

  private orderSize(scale: number): number {
    const raw = this.spec.typicalSize * scale * Math.exp(this.rng.normal() * 1.1);
    return Math.max(1, Math.round(raw / this.sizeStep)) * this.sizeStep;
  }

  /** Initial book: dense near the spread, gaps growing with distance; bids stay > 0. */
  private buildBook(): void {
    const f = Math.round(this.fair);
    const bestBid = f - 1 - this.rng.int(2);
    const bestAsk = f + 1 + this.rng.int(2);
    const bidGapMean = Math.max(0, Math.min(4, (bestBid * 0.8) / this.target - 1));
    const build = (start: number, dir: 1 | -1, gapMean: number): [number, number][] => {
      const out: [number, number][] = [];
      let p = start;
      for (let i = 0; i < this.target && p >= 1; i++) {
        out.push([p, this.orderSize(1)]);
        const mean = i < 20 ? Math.min(gapMean, 1) : gapMean;
        p += dir * (1 + Math.floor(this.rng.exp(mean + 1e-9)));
      }
      return out;
    };
    this.bids.load(build(bestBid, -1, bidGapMean));
    this.asks.load(build(bestAsk, 1, 4));
  }

  private change(side: Side, price: number, size: number): void {
    (side === 'buy' ? this.bids : this.asks).set(price, size);
    const key = side === 'buy' ? price : -price;
    let sizeText: string;
    if (size > 0) sizeText = fixed(size, this.spec.sizeDecimals);
    else {
      this.makerIds.delete(key);
      sizeText = this.rng.chance(this.zeroVariety)
        ? this.rng.pick(ZERO_SPELLINGS.slice(1))
        : fixed(0, this.spec.sizeDecimals);
    }
    this.pending.set(key, [side, fixed(price, this.spec.priceDecimals), sizeText]);
  }

  private advanceTime(nowUs: number): number {
    this.timeUs = Math.max(this.timeUs, nowUs);
    return this.timeUs;
  }

  /** One market event: a limit add, a cancel, or a taker order. */
  step(nowUs: number): StepResult {
    this.advanceTime(nowUs);
    this.fair += -0.0005 * (this.fair - this.startTicks) + this.rng.normal() * this.sigma;
    if (this.fair < 2) this.fair = 2;
    const r = this.rng.next();
    let result: StepResult = { trades: [], ticker: undefined };
    if (r < 0.2) result = this.taker();
    else if (r < 0.55) this.cancel(this.rng.chance(0.5) ? 'buy' : 'sell');
    else this.add(this.rng.chance(0.5) ? 'buy' : 'sell');
    this.maintainDepth();
    // After depth upkeep, so the ticker's best bid/ask is the book as the frames leave.
    if (result.trades.length > 0) result.ticker = this.ticker();
    return result;
  }

  private add(side: Side): void {
    const book = side === 'buy' ? this.bids : this.asks;
    if (book.length > this.target * 1.05 + 2) {
      this.cancel(side);
      return;
    }
    const d = 1 + Math.floor(this.rng.exp(3));
    const f = Math.round(this.fair);
    let price: number;
    if (side === 'buy') {
      price = Math.min(f - d, (this.asks.best() ?? f + 1) - 1);
      if (price < 1) return;
    } else {
      price = Math.max(f + d, (this.bids.best() ?? f - 1) + 1);
    }
    this.seq += 1 + this.rng.int(2); // received (+ open)
    this.change(side, price, book.get(price) + this.orderSize(0.5));
  }

  private cancel(side: Side): void {
    const book = side === 'buy' ? this.bids : this.asks;
    if (book.length < 2) return;
    const n = Math.min(book.length - 1, Math.floor(this.rng.exp(4)));
    const level = book.level(n);
    if (level === undefined) return;
    const [price, size] = level;
    this.seq += 1; // done
    const keep = this.rng.chance(0.4)
      ? Math.floor((size * this.rng.next()) / this.sizeStep) * this.sizeStep
      : 0;
    this.change(side, price, keep);
  }

  private taker(): StepResult {
    const bid = this.bids.best();
    const ask = this.asks.best();
    if (bid === undefined || ask === undefined) return { trades: [], ticker: undefined };
    const mid = (bid + ask) / 2;
    const lean = Math.max(-0.4, Math.min(0.4, (this.fair - mid) / (4 * this.sigma + (ask - bid))));
    const takerSide: Side = this.rng.chance(0.5 + lean) ? 'buy' : 'sell';
    const makerSide: Side = takerSide === 'buy' ? 'sell' : 'buy';
    const book = takerSide === 'buy' ? this.asks : this.bids;
    const maxLevels = this.rng.chance(0.15) ? 1 + this.rng.int(5) : 1;
    let remaining = this.orderSize(0.4);
    const takerOrderId = this.rng.uuid();
    const trades: StepResult['trades'] = [];
    this.seq += 1; // the taker's `received`
    for (let i = 0; i < maxLevels && remaining > 0; i++) {
      const level = book.level(0);
      if (level === undefined) break;
      const [price, size] = level;
      // Keep at least one level per side so best bid/ask always exist.
      const fill =
        book.length > 1 ? Math.min(remaining, size) : Math.min(remaining, size - this.sizeStep);
      if (fill <= 0) break;
      remaining -= fill;
      this.seq += 1;
      const key = makerSide === 'buy' ? price : -price;
      let makerOrderId = this.makerIds.get(key);
      if (makerOrderId === undefined) {
        makerOrderId = this.rng.uuid();
        this.makerIds.set(key, makerOrderId);
      }
      this.last = {
        tradeId: this.last.tradeId + 1,
        sequence: this.seq,
        price,
        size: fill,
        makerSide,
        makerOrderId,
        takerOrderId,
        timeUs: this.timeUs,
      };
      this.change(makerSide, price, size - fill);
      this.high24h = Math.max(this.high24h, price);
      this.low24h = Math.min(this.low24h, price);
      this.volume24h += fill;
      const match = { tradeId: this.last.tradeId, raw: this.matchRaw('match') };
      trades.push(match);
      this.recent.push(match);
      if (this.recent.length > RECENT_KEPT * 2)
        this.recent.splice(0, this.recent.length - RECENT_KEPT);
    }
    this.seq += 1; // the taker's `done`
    return { trades, ticker: undefined };
  }

  /** Keeps each side near the target depth by adding/removing its farthest levels. */
  private maintainDepth(): void {
    const slack = Math.max(2, Math.ceil(this.target * 0.02));
    for (const book of [this.bids, this.asks]) {
      if (book.length > this.target + slack) {
        const worst = book.worst();
        if (worst !== undefined) {
          this.seq += 1;
          this.change(book.side, worst, 0);
        }
      } else if (book.length < this.target - slack) {
        const worst = book.worst() ?? Math.round(this.fair);
        const gap = 1 + Math.floor(this.rng.exp(2));
        const price = book.side === 'buy' ? worst - gap : worst + gap;
        if (price >= 1) {
          this.seq += 2;
          this.change(book.side, price, this.orderSize(1));
        }
      }
    }
  }

  private matchRaw(type: 'match' | 'last_match'): string {
    const t = this.last;
    return matchFrame({
      type,
      tradeId: t.tradeId,
      makerOrderId: t.makerOrderId,
      takerOrderId: t.takerOrderId,
      makerSide: t.makerSide,
      size: trimmed(t.size, this.spec.sizeDecimals),
      price: fixed(t.price, this.spec.priceDecimals),
      product: this.spec.id,
      sequence: t.sequence,
      timeUs: t.timeUs,
    });
  }

  /** The last `n` (at most RECENT_KEPT) match frames, oldest first. */
  recentMatches(n: number): { tradeId: number; raw: string }[] {
    return this.recent.slice(-Math.min(n, RECENT_KEPT));
  }

  /** The frame sent on a `matches` subscribe: the product's last trade. */
  lastMatch(): string {
    return this.matchRaw('last_match');
  }

  /** The ticker of the last trade with the current best bid/ask (also sent on subscribe). */
  ticker(): string {
    const t = this.last;
    const p = this.spec.priceDecimals;
    const s = this.spec.sizeDecimals;
    const bid = this.bids.level(0) ?? [0, 0];
    const ask = this.asks.level(0) ?? [0, 0];
    return tickerFrame({
      sequence: t.sequence,
      product: this.spec.id,
      price: fixed(t.price, p),
      open24h: trimmed(this.open24h, p),
      volume24h: fixed(this.volume24h, s),
      low24h: trimmed(this.low24h, p),
      high24h: trimmed(this.high24h, p),
      volume30d: fixed(this.volume30dBase + this.volume24h, s),
      bestBid: fixed(bid[0], p),
      bestBidSize: fixed(bid[1], s),
      bestAsk: fixed(ask[0], p),
      bestAskSize: fixed(ask[1], s),
      takerSide: t.makerSide === 'buy' ? 'sell' : 'buy',
      timeUs: t.timeUs,
      tradeId: t.tradeId,
      lastSize: trimmed(t.size, s),
    });
  }

  heartbeat(nowUs: number): string {
    return heartbeatFrame({
      product: this.spec.id,
      sequence: this.seq,
      lastTradeId: this.last.tradeId,
      timeUs: this.advanceTime(nowUs),
    });
  }

  /** The best `depth` levels per side, best first, spelled as in snapshots. */
  topLevels(depth: number): { bids: [string, string][]; asks: [string, string][] } {
    const p = this.spec.priceDecimals;
    const s = this.spec.sizeDecimals;
    const fmt = (levels: Iterable<[number, number]>): [string, string][] =>
      [...levels].map(([price, size]) => [fixed(price, p), fixed(size, s)]);
    return { bids: fmt(this.bids.levels(depth)), asks: fmt(this.asks.levels(depth)) };
  }

  /** The whole book (best-first), which is what Coinbase sends: one frame per subscribe. */
  snapshot(): string {
    const p = this.spec.priceDecimals;
    const s = this.spec.sizeDecimals;
    const fmt = function* (levels: Iterable<[number, number]>): Generator<[string, string]> {
      for (const [price, size] of levels) yield [fixed(price, p), fixed(size, s)];
    };
    return snapshotFrame(this.spec.id, fmt(this.bids.levels()), fmt(this.asks.levels()));
  }

  /** Number of book changes waiting for the next l2update. */
  get pendingChanges(): number {
    return this.pending.size;
  }

  /** The pending book changes as one l2update (absolute sizes, coalesced per level). */
  flushL2(nowUs: number): string | undefined {
    if (this.pending.size === 0) return undefined;
    const changes = [...this.pending.values()];
    this.pending.clear();
    return l2updateFrame(this.spec.id, changes, this.advanceTime(nowUs));
  }
}
