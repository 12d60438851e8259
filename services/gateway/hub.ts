import { nowUs } from '../common/schemas/headers.js';
import type { Logger } from '../common/logger.js';
import { snapshotFrame, subscribedFrame } from './core/frames.js';
import { ProductState, type FeedMessage } from './core/product-state.js';
import {
  CHANNELS,
  type Channel,
  type GatewayErrorCode,
  type SubscribeFrame,
  type UnsubscribeFrame,
} from './core/protocol.js';
import { SubscriptionRegistry } from './core/subscriptions.js';
import type { FeedSink } from './feed.js';
import { closeLabel, type GatewayMetrics } from './metrics.js';
import type { ProductSub, Session, SessionHost } from './session.js';

/**
 * The in-process fan-out: the shared consumer's messages go into each product's state
 * and ring, then to every live subscriber's outbox (the same frame object, so the same
 * bytes); dirty sessions are flushed once per event-loop turn (setImmediate), which
 * batches everything that arrived in one socket read into one corked write per client.
 */

export interface HubOptions {
  products: readonly string[];
  ringCapacity: number;
  ringMaxAgeMs: number;
  snapshotTrades: number;
  maxSubscriptions: number;
  metrics: GatewayMetrics;
  log: Logger;
}

export class Hub implements SessionHost, FeedSink {
  readonly registry = new SubscriptionRegistry<Session>();
  readonly sessions = new Set<Session>();
  /** The highest offset fanned out (or the position the feed starts after). */
  head = 0;
  caughtUp = false;
  /** Starts a resume (resume.ts); set by the gateway. */
  resume: (s: Session, sub: ProductSub) => void = () => undefined;
  private readonly states = new Map<string, ProductState>();
  private dirty = new Set<Session>();
  private scheduled = false;
  private fanned: number[] = [];
  private written = { frames: 0, bytes: 0, writes: 0 };

  constructor(private readonly opts: HubOptions) {
    for (const product of opts.products) {
      this.states.set(
        product,
        new ProductState(product, {
          ringCapacity: opts.ringCapacity,
          ringMaxAgeMs: opts.ringMaxAgeMs,
          snapshotTrades: opts.snapshotTrades,
        }),
      );
    }
  }

  state(product: string): ProductState | undefined {
    return this.states.get(product);
  }

  // FeedSink

  seed(m: FeedMessage): void {
    this.states.get(m.product)?.seed(m);
  }

  setFloor(floor: number): void {
    for (const st of this.states.values()) st.ring.resetFloor(floor);
    this.head = floor;
  }

  onMessage(m: FeedMessage): void {
    const st = this.states.get(m.product);
    if (st === undefined || m.offset <= this.head) return;
    st.apply(m);
    this.head = m.offset;
    if (m.channel === undefined) {
      for (const s of this.registry.productSubscribers(m.product)) s.deliver(m);
    } else {
      for (const s of this.registry.subscribers(m.product, m.channel)) s.deliver(m);
    }
    if (m.pubUs !== undefined) this.fanned.push(m.pubUs);
    this.schedule();
  }

  onCaughtUp(): void {
    this.caughtUp = true;
  }

  evictOld(nowMs: number): void {
    for (const st of this.states.values()) st.ring.evictOlderThan(nowMs);
  }

  // Sessions

  add(s: Session): void {
    this.sessions.add(s);
    this.opts.metrics.connections.set(this.sessions.size);
    this.opts.metrics.connectionsTotal.inc();
  }

  remove(s: Session): void {
    if (!this.sessions.delete(s)) return;
    s.release();
    this.registry.removeAll(s);
    this.dirty.delete(s);
    s.queued = false;
    this.opts.metrics.connections.set(this.sessions.size);
    this.updateGauge();
  }

  subscribe(s: Session, f: SubscribeFrame): void {
    const id = f.id === undefined ? {} : { id: f.id };
    const products = [...new Set(f.products)];
    const channels = [...new Set(f.channels)];
    const unknown = products.filter((p) => !this.states.has(p));
    if (unknown.length > 0) {
      s.sendError(
        'UNKNOWN_PRODUCT',
        `this gateway serves ${[...this.states.keys()].join(', ')}`,
        id,
      );
      return;
    }
    if (Object.keys(f.from ?? {}).some((p) => !products.includes(p))) {
      s.sendError('BAD_REQUEST', 'from: every product in from must be in products', id);
      return;
    }
    const fresh = products.reduce(
      (n, p) => n + channels.filter((c) => !this.registry.has(s, c, p)).length,
      0,
    );
    if (this.registry.count(s) + fresh > this.opts.maxSubscriptions) {
      s.sendError(
        'TOO_MANY_SUBSCRIPTIONS',
        `at most ${this.opts.maxSubscriptions} (channel, product) pairs per connection`,
        id,
      );
      return;
    }
    const added = this.registry.add(s, channels, products);
    s.send(subscribedFrame(this.registry.of(s), f.id));
    const byProduct = new Map<string, Channel[]>();
    for (const [c, p] of added) byProduct.set(p, [...(byProduct.get(p) ?? []), c]);
    const withSnapshot = f.snapshot !== false;
    for (const [product, chs] of byProduct) {
      const existing = s.subs.get(product);
      if (existing !== undefined) {
        for (const c of chs) existing.channels.add(c);
        if (f.conflate_ms !== undefined) existing.conflateMs = f.conflate_ms;
        this.snapshotInto(s, existing, chs, withSnapshot);
        continue;
      }
      const from = f.from?.[product];
      const sub = newSub(product, chs, f.conflate_ms ?? 0, from ?? this.head);
      s.subs.set(product, sub);
      if (from === undefined) {
        this.snapshotInto(s, sub, chs, withSnapshot);
        sub.floors.status = this.head;
      } else {
        sub.mode = 'catchup';
        this.resume(s, sub);
      }
    }
    this.updateGauge();
  }

  unsubscribe(s: Session, f: UnsubscribeFrame): void {
    const removed = this.registry.remove(s, f.channels, f.products);
    for (const [c, p] of removed) {
      const sub = s.subs.get(p);
      sub?.channels.delete(c);
      if (sub?.channels.size === 0) s.dropSub(p);
    }
    s.send(subscribedFrame(this.registry.of(s), f.id));
    this.updateGauge();
  }

  /** A resume older than the stream holds: OFFSET_EXPIRED, then snapshots, then live. */
  expire(s: Session, sub: ProductSub, why: string): void {
    this.opts.metrics.resumes.labels('expired').inc();
    s.sendError('OFFSET_EXPIRED', why, { product: sub.product });
    this.snapshotInto(s, sub, [...sub.channels], true);
    sub.cursor = this.head;
    sub.floors.status = this.head;
    sub.mode = 'live';
  }

  /** Snapshot frames for channels; their offsets become the channels' floors. */
  private snapshotInto(s: Session, sub: ProductSub, channels: Channel[], send: boolean): void {
    const st = this.states.get(sub.product);
    for (const c of channels) {
      if (!send || st === undefined) {
        sub.floors[c] = Math.max(sub.floors[c], this.head);
        continue;
      }
      const snap = st.snapshot(c, this.head);
      s.send(snapshotFrame(c, sub.product, snap.offset, snap.dataJson));
      sub.floors[c] = snap.offset;
    }
  }

  // Flushing

  markDirty(s: Session): void {
    if (s.queued) return;
    s.queued = true;
    this.dirty.add(s);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushAll);
  }

  private readonly flushAll = (): void => {
    this.scheduled = false;
    const now = Date.now();
    const dirty = this.dirty;
    this.dirty = new Set();
    for (const s of dirty) {
      s.queued = false;
      s.flush(now);
      if (s.wantsFlush()) this.markDirty(s);
    }
    const m = this.opts.metrics;
    if (this.written.frames > 0) {
      m.deliveries.inc(this.written.frames);
      m.bytes.inc(this.written.bytes);
      m.writes.inc(this.written.writes);
      this.written = { frames: 0, bytes: 0, writes: 0 };
    }
    if (this.fanned.length > 0) {
      const us = nowUs();
      for (const pub of this.fanned) m.latency.observe(Math.max(0, us - pub) / 1e6);
      this.fanned = [];
    }
  };

  /** Socket plus outbox bytes over all clients, and the largest single client. */
  buffered(): { total: number; max: number } {
    let total = 0;
    let max = 0;
    for (const s of this.sessions) {
      const b = s.bufferedBytes;
      total += b;
      if (b > max) max = b;
    }
    return { total, max };
  }

  // SessionHost counters

  countError(code: GatewayErrorCode): void {
    this.opts.metrics.errors.labels(code).inc();
  }

  countSlow(r: { conflated: number; dropped: number; gapsOpened: number }): void {
    const m = this.opts.metrics;
    if (r.conflated > 0) m.conflated.inc(r.conflated);
    if (r.dropped > 0) m.droppedTrades.inc(r.dropped);
    if (r.gapsOpened > 0) m.slowGaps.inc(r.gapsOpened);
  }

  countWrites(frames: number, bytes: number): void {
    this.written.frames += frames;
    this.written.bytes += bytes;
    this.written.writes++;
    // Writes outside a flush pass (a close, a large burst) are counted at the next one.
    this.schedule();
  }

  countClose(code: number | 'dead_peer'): void {
    this.opts.metrics.disconnects.labels(code === 'dead_peer' ? code : closeLabel(code)).inc();
  }

  private updateGauge(): void {
    const counts = this.registry.countsByChannel();
    for (const c of CHANNELS) this.opts.metrics.subscriptions.labels(c).set(counts.get(c) ?? 0);
  }
}

function newSub(
  product: string,
  channels: Channel[],
  conflateMs: number,
  cursor: number,
): ProductSub {
  return {
    product,
    channels: new Set(channels),
    cursor,
    floors: { ticker: 0, trades: 0, book: 0, status: 0 },
    mode: 'live',
    conflateMs,
    abort: new AbortController(),
    lastSentMs: {},
    held: {},
  };
}
