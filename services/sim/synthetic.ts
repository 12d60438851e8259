/**
 * Drives one synthetic Market per product at a total frame rate: `rate` frames/s of
 * match + ticker + l2update across all products (heartbeats and status come on their
 * own timers), or as fast as the event loop allows (`'max'`).
 */
import { performance } from 'node:perf_hooks';
import { Market } from './core/market.js';
import { productSpec } from './core/products.js';
import type { Channel } from './core/protocol.js';
import { Rng } from './core/rng.js';
import { statusFrame } from './core/frames.js';
import type { OutFrame } from './connection.js';
import type { FeedSource, Hub } from './hub.js';
import type { SimMetrics } from './metrics.js';

export interface SyntheticOptions {
  products: readonly string[];
  seed: number;
  rate: number | 'max';
  /** Book levels per side. */
  levels: number;
  heartbeatIntervalMs: number;
  statusIntervalMs: number;
  l2BatchMs: number;
  /** An l2update goes out when this many levels changed, even before l2BatchMs. */
  l2MaxChanges: number;
  zeroVariety: number;
  /** With rate 'max': pause while a subscribed client's send buffer is over this many bytes. */
  backpressureBytes: number | undefined;
  /** With rate 'max': pause while this returns true. */
  hold?: (() => boolean) | undefined;
}

/** Epoch microseconds, monotonic within the process. */
export function nowUs(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

const TICK_MS = 10;
const MAX_CHUNK = 512;

export class SyntheticSource implements FeedSource {
  readonly products: readonly string[];
  private readonly markets = new Map<string, Market>();
  private readonly rng: Rng;
  private hub: Hub | undefined;
  private timers: NodeJS.Timeout[] = [];
  private loopTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private running = false;
  private t0 = 0;
  private produced = 0;
  /** Market frames made so far (match + ticker + l2update). */
  framesGenerated = 0;

  constructor(
    private readonly opts: SyntheticOptions,
    private readonly metrics: SimMetrics,
  ) {
    this.products = opts.products;
    this.rng = Rng.derive(opts.seed, 'driver');
    const t = nowUs();
    for (const id of opts.products) {
      this.markets.set(
        id,
        new Market({
          spec: productSpec(id),
          rng: Rng.derive(opts.seed, `market:${id}`),
          levels: opts.levels,
          nowUs: t,
          zeroVariety: opts.zeroVariety,
        }),
      );
    }
  }

  attach(hub: Hub): void {
    this.hub = hub;
  }

  market(product: string): Market | undefined {
    return this.markets.get(product);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.t0 = performance.now();
    this.produced = 0;
    this.timers.push(
      setInterval(() => {
        this.heartbeats();
      }, this.opts.heartbeatIntervalMs),
      setInterval(() => {
        this.flushAll();
      }, this.opts.l2BatchMs),
      setInterval(() => {
        this.publishStatus();
      }, this.opts.statusIntervalMs),
    );
    this.schedule();
  }

  stop(): Promise<void> {
    this.pause();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    return Promise.resolve();
  }

  /**
   * The market stops making events and sends its pending book changes; heartbeats and
   * status go on. Tests compare the pipeline's books with the market's after this.
   */
  pause(): void {
    this.running = false;
    if (this.loopTimer !== undefined) {
      clearTimeout(this.loopTimer as NodeJS.Timeout);
      clearImmediate(this.loopTimer as NodeJS.Immediate);
    }
    this.flushAll();
  }

  initialFrames(channel: Channel, product: string): OutFrame[] {
    if (channel === 'status') return [{ raw: this.status(), kind: 'status' }];
    const m = this.markets.get(product);
    if (m === undefined) return [];
    switch (channel) {
      case 'matches':
        return [{ raw: m.lastMatch(), kind: 'last_match', product, tradeId: m.lastTrade.tradeId }];
      case 'ticker':
        return [{ raw: m.ticker(), kind: 'ticker', product }];
      case 'level2_batch':
        return [{ raw: m.snapshot(), kind: 'snapshot', product }];
      case 'heartbeat':
        return [];
      default: {
        const never: never = channel;
        throw new Error(`unknown channel ${String(never)}`);
      }
    }
  }

  recentTrades(product: string, n: number): OutFrame[] {
    const m = this.markets.get(product);
    if (m === undefined) return [];
    return m.recentMatches(n).map((t) => ({
      raw: t.raw,
      kind: 'match',
      product,
      tradeId: t.tradeId,
    }));
  }

  private schedule(): void {
    if (!this.running) return;
    if (this.opts.rate === 'max') {
      const limit = this.opts.backpressureBytes;
      const full = limit !== undefined && this.hub !== undefined && this.hub.maxBuffered() > limit;
      if (full || this.opts.hold?.() === true) {
        this.loopTimer = setTimeout(() => {
          this.schedule();
        }, 1);
        return;
      }
      this.loopTimer = setImmediate(() => {
        this.run(MAX_CHUNK);
        this.schedule();
      });
      return;
    }
    this.loopTimer = setTimeout(() => {
      const rate = this.opts.rate as number;
      const target = Math.floor(((performance.now() - this.t0) / 1000) * rate);
      let due = target - this.produced;
      // After a pause (GC, a slow tick) skip the backlog instead of bursting it.
      const cap = Math.max(1, Math.ceil(rate * 0.1));
      if (due > cap) {
        this.produced = target - cap;
        due = cap;
      }
      if (due > 0) this.run(due);
      this.schedule();
    }, TICK_MS);
  }

  /** Makes about `frames` market frames and publishes them, sockets corked. */
  private run(frames: number): void {
    const hub = this.hub;
    if (hub === undefined) return;
    hub.cork();
    try {
      const goal = this.produced + frames;
      const t = nowUs();
      while (this.produced < goal) {
        const product = this.rng.pick(this.products);
        const m = this.markets.get(product);
        if (m === undefined) break;
        const step = m.step(t);
        for (const trade of step.trades) {
          hub.publishTrade(product, {
            raw: trade.raw,
            kind: 'match',
            product,
            tradeId: trade.tradeId,
          });
          this.count('match');
        }
        if (step.ticker !== undefined) {
          hub.publish('ticker', product, { raw: step.ticker, kind: 'ticker', product });
          this.count('ticker');
        }
        if (m.pendingChanges >= this.opts.l2MaxChanges) this.flush(product, m, t);
      }
    } finally {
      hub.uncork();
    }
  }

  private count(kind: 'match' | 'ticker' | 'l2update'): void {
    this.produced += 1;
    this.framesGenerated += 1;
    this.metrics.generated(kind);
  }

  private flush(product: string, m: Market, t: number): void {
    const raw = m.flushL2(t);
    if (raw === undefined || this.hub === undefined) return;
    this.hub.publish('level2_batch', product, { raw, kind: 'l2update', product });
    this.count('l2update');
  }

  private flushAll(): void {
    const hub = this.hub;
    if (hub === undefined) return;
    const t = nowUs();
    hub.cork();
    for (const [product, m] of this.markets) this.flush(product, m, t);
    hub.uncork();
  }

  private heartbeats(): void {
    const hub = this.hub;
    if (hub === undefined) return;
    const t = nowUs();
    hub.cork();
    for (const [product, m] of this.markets) {
      hub.publish('heartbeat', product, { raw: m.heartbeat(t), kind: 'heartbeat', product });
    }
    hub.uncork();
  }

  private status(): string {
    return statusFrame(this.products.map((id) => productSpec(id)));
  }

  private publishStatus(): void {
    this.hub?.publish('status', '', { raw: this.status(), kind: 'status' });
  }
}
