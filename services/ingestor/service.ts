import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/logger.js';
import { MIN_MAX_PAYLOAD } from '../common/nats.js';
import { Publisher, type Discontinuity, type PublishOutcome } from '../common/publisher.js';
import { nowUs } from '../common/schemas/headers.js';
import { parseRawSubject, resyncSubject, type Feed } from '../common/subjects.js';
import type { IngestorConfig } from './config.js';
import { FrameRouter, type MarkerState, type Routed } from './core/route.js';
import { checkAck, subscribeMessage, type ExchangeChannel } from './core/subscribe.js';
import { FeedConnection, type CloseCause } from './feeds/ws-connection.js';
import { createIngestorMetrics, frameTypeLabel, type IngestorMetrics } from './metrics.js';

/** Headers and subject need room inside NATS max_payload. */
const HEADER_ROOM = 4 * 1024;
/** The WebSocket accepts larger frames than NATS so that they reach MD_DLQ as too_large. */
const WS_MAX_PAYLOAD = 64 * 1024 * 1024;

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The Exchange-feed ingestor: one WebSocket to the feed, every frame into MD_RAW
 * exactly once and in order (DESIGN.md "Raw frames"), backpressure from the publish
 * window to the socket, and resync requests served as resubscribes.
 */
export class Ingestor {
  readonly metrics: IngestorMetrics;
  private readonly feed: Feed = 'coinbase';
  private readonly router: FrameRouter;
  private readonly publisher: Publisher;
  private readonly conn: FeedConnection;
  private readonly lastResync = new Map<string, number>();
  private readonly pendingResync = new Map<string, NodeJS.Timeout>();
  private resyncSub: Subscription | undefined;
  private gaugeTimer: NodeJS.Timeout | undefined;
  private waitingForRoom = false;
  /** Label children resolved once: `labels()` hashes its arguments on every call. */
  private readonly frameCounters = new Map<string, { inc(): void }>();
  private readonly publishedCounters = new Map<string, { inc(): void }>();
  private subscribed = false;

  constructor(
    private readonly config: Readonly<IngestorConfig>,
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    registry: Registry,
  ) {
    this.metrics = createIngestorMetrics(registry, config.PRODUCTS);
    const maxPayload = nc.info?.max_payload ?? MIN_MAX_PAYLOAD;
    this.router = new FrameRouter({
      feed: this.feed,
      shards: config.SHARDS,
      products: config.PRODUCTS,
      maxFrameBytes: maxPayload - HEADER_ROOM,
      recentTrades: config.RECENT_TRADE_IDS,
    });
    this.publisher = new Publisher(nc, {
      window: config.PUBLISH_WINDOW,
      timeoutMs: config.PUBLISH_TIMEOUT_MS,
      retryHorizonMs: config.PUBLISH_RETRY_HORIZON_MS,
      log: log.child({ component: 'publisher' }),
      onDiscontinuity: (d) => {
        this.onDiscontinuity(d);
      },
      metrics: {
        settled: (outcome, seconds, duplicate) => {
          this.counterFor(
            this.publishedCounters,
            this.metrics.published,
            duplicate ? 'duplicate' : outcome,
          ).inc();
          if (outcome === 'stored') this.metrics.publishLatency.observe(seconds);
        },
      },
    });
    this.conn = new FeedConnection({
      url: config.COINBASE_WS_URL,
      log: log.child({ component: 'feed' }),
      backoff: { baseMs: config.RECONNECT_MIN_MS, maxMs: config.RECONNECT_MAX_MS },
      staleMs: config.FEED_STALE_MS,
      pingMs: config.FEED_PING_MS,
      maxPayload: WS_MAX_PAYLOAD,
      // While NATS cannot take data, reading the feed would only lose it.
      beforeConnect: () => this.publisher.waitForRoom(),
      onOpen: (connId) => {
        this.onOpen(connId);
      },
      onFrame: (data, recvUs) => {
        this.onFrame(data, recvUs);
      },
      onStale: () => {
        this.markAll('stale');
      },
      onClose: ({ cause }) => {
        this.onClose(cause);
      },
    });
  }

  get products(): readonly string[] {
    return this.config.PRODUCTS;
  }

  async start(): Promise<void> {
    this.resyncSub = this.nc.subscribe(resyncSubject(this.feed), {
      callback: (err, msg) => {
        if (err !== null) return;
        msg.respond(enc.encode(JSON.stringify(this.onResyncRequest(msg.data))));
      },
    });
    this.gaugeTimer = setInterval(() => {
      this.metrics.sinceLastFrame.set(this.conn.millisSinceLastFrame / 1000);
      this.metrics.inFlight.set(this.publisher.inFlight);
      this.metrics.natsConnected.set(this.nc.isClosed() ? 0 : 1);
    }, 1_000);
    this.gaugeTimer.unref();
    this.conn.start();
    await Promise.resolve();
  }

  /** Stop reading, publish what was read, stop serving resyncs. */
  async stop(): Promise<void> {
    if (this.gaugeTimer !== undefined) clearInterval(this.gaugeTimer);
    for (const t of this.pendingResync.values()) clearTimeout(t);
    await this.conn.stop();
    this.resyncSub?.unsubscribe();
    await this.publisher.close();
  }

  private onOpen(connId: string): void {
    this.router.newConnection(connId);
    this.subscribed = false;
    this.markAll('connected');
    const channels = this.config.COINBASE_CHANNELS;
    this.conn.send(subscribeMessage('subscribe', channels, this.config.PRODUCTS));
  }

  private onClose(cause: CloseCause): void {
    this.metrics.connected.set(0);
    this.subscribed = false;
    if (cause !== 'stopping') this.metrics.reconnects.labels(cause).inc();
  }

  private onFrame(data: Buffer, recvUs: number): void {
    this.metrics.bytes.inc(data.byteLength);
    const routed = this.router.route(data, undefined, recvUs);
    this.handle(routed, recvUs);
    if (!this.publisher.hasRoom() && !this.waitingForRoom) {
      this.waitingForRoom = true;
      this.metrics.paused.inc();
      this.conn.pause();
      void this.publisher.waitForRoom().then(() => {
        this.waitingForRoom = false;
        this.conn.resume();
      });
    }
  }

  private handle(routed: Routed, recvUs: number): void {
    switch (routed.kind) {
      case 'duplicate':
        this.counterFor(this.frameCounters, this.metrics.frames, 'match').inc();
        this.metrics.duplicates.labels(routed.product).inc();
        return;
      case 'dlq':
        this.metrics.dlq.labels(routed.reason).inc();
        this.log.warn(
          { reason: routed.reason, error: routed.req.headers?.['Lf-Error'] },
          'frame sent to MD_DLQ',
        );
        void this.publisher.publish(routed.req);
        if (
          routed.reason === 'too_large' &&
          routed.product !== undefined &&
          this.products.includes(routed.product)
        ) {
          this.mark(routed.product, 'dropped', 'too_large');
          this.resubscribeBook(routed.product, 'too_large');
        }
        return;
      case 'publish': {
        const c = routed.classified;
        const type = c.kind === 'unparsable' ? 'other' : c.type;
        this.counterFor(this.frameCounters, this.metrics.frames, frameTypeLabel(type)).inc();
        if (routed.unexpected !== undefined)
          this.metrics.unexpected.labels(routed.unexpected).inc();
        if (c.kind === 'product' && c.time !== undefined) {
          const exchangeMs = Date.parse(c.time);
          const lag = recvUs / 1e6 - exchangeMs / 1e3;
          if (Number.isFinite(lag) && lag >= 0 && lag < 3600)
            this.metrics.exchangeToIngest.observe(lag);
        }
        if (c.kind === 'control') this.onControlFrame(c.type, c.value);
        const { product, tradeId } = routed;
        void this.publisher.publish(routed.req).then((o) => {
          this.afterPublish(o, product, tradeId);
        });
        return;
      }
      default: {
        const never: never = routed;
        throw new Error(`unexpected route ${JSON.stringify(never)}`);
      }
    }
  }

  private afterPublish(
    o: PublishOutcome,
    product: string | undefined,
    tradeId: string | undefined,
  ): void {
    if (o.kind === 'stored') return;
    if (product !== undefined && tradeId !== undefined) this.router.forgetTrade(product, tradeId);
    if (o.kind === 'rejected')
      this.log.error({ product, code: o.code, error: o.error }, 'publish rejected');
  }

  private onControlFrame(type: string, value: Record<string, unknown>): void {
    if (type === 'subscriptions') {
      // Products in the middle of a book resubscribe are briefly absent from the ack.
      const settled = this.config.PRODUCTS.filter(
        (p) => Date.now() - (this.lastResync.get(p) ?? 0) >= this.config.RESYNC_COALESCE_MS,
      );
      const check = checkAck(value, this.config.COINBASE_CHANNELS, settled);
      if (check.ok) {
        if (!this.subscribed)
          this.log.info(
            { channels: this.config.COINBASE_CHANNELS, products: this.config.PRODUCTS },
            'subscribed',
          );
        this.subscribed = true;
        this.metrics.connected.set(1);
        this.conn.markHealthy();
      } else {
        for (const [channel, products] of Object.entries(check.missing)) {
          this.metrics.subscribeProblems
            .labels(frameChannelLabel(channel))
            .inc(Math.max(products.length, 1));
        }
        this.log.warn({ missing: check.missing }, 'subscription ack lacks channels or products');
      }
    } else if (type === 'error') {
      this.metrics.exchangeErrors.inc();
      this.log.error({ message: value.message, reason: value.reason }, 'feed error frame');
    }
  }

  private onDiscontinuity(d: Discontinuity): void {
    this.metrics.discontinuities.labels(d.reason).inc();
    const parsed = parseRawSubject(d.subject);
    if (parsed?.kind !== 'product') return;
    for (const req of d.lost) {
      const tradeId = /:trade:([0-9]+)$/.exec(req.msgId)?.[1];
      if (tradeId !== undefined) this.router.forgetTrade(parsed.product, tradeId);
    }
    this.log.warn(
      { product: parsed.product, reason: d.reason, lost: d.lost.length },
      'raw stream discontinuity: resubscribing',
    );
    this.resubscribeBook(parsed.product, `discontinuity:${d.reason}`);
  }

  /** Serves md.ctl.<feed>.resync: at most one level2_batch resubscribe per product per window. */
  private onResyncRequest(data: Uint8Array): {
    accepted: boolean;
    coalesced?: boolean;
    error?: string;
  } {
    let product: unknown;
    try {
      product = (JSON.parse(dec.decode(data)) as { product?: unknown }).product;
    } catch {
      this.metrics.resyncs.labels('rejected').inc();
      return { accepted: false, error: 'request is not JSON' };
    }
    if (typeof product !== 'string' || !this.products.includes(product)) {
      this.metrics.resyncs.labels('rejected').inc();
      return { accepted: false, error: 'unknown product' };
    }
    const since = Date.now() - (this.lastResync.get(product) ?? 0);
    if (since >= this.config.RESYNC_COALESCE_MS) {
      this.resubscribeBook(product, 'resync_request');
      return { accepted: true };
    }
    if (!this.pendingResync.has(product)) {
      const t = setTimeout(() => {
        this.pendingResync.delete(product);
        this.resubscribeBook(product, 'resync_request');
      }, this.config.RESYNC_COALESCE_MS - since);
      this.pendingResync.set(product, t);
    }
    this.metrics.resyncs.labels('coalesced').inc();
    return { accepted: true, coalesced: true };
  }

  /** Unsubscribe + subscribe the book channel: the feed sends a fresh snapshot. */
  private resubscribeBook(product: string, reason: string): void {
    const channels: ExchangeChannel[] = this.config.COINBASE_CHANNELS.filter(
      (c) => c === 'level2_batch',
    );
    if (channels.length === 0 || !this.conn.isOpen) return;
    this.lastResync.set(product, Date.now());
    this.mark(product, 'resubscribed', reason);
    this.conn.send(subscribeMessage('unsubscribe', channels, [product]));
    this.conn.send(subscribeMessage('subscribe', channels, [product]));
    this.metrics.resyncs.labels('resubscribed').inc();
    this.log.info({ product, reason }, 'book resubscribed');
  }

  private counterFor(
    cache: Map<string, { inc(): void }>,
    counter: { labels(label: string): { inc(): void } },
    label: string,
  ): { inc(): void } {
    let child = cache.get(label);
    if (child === undefined) {
      child = counter.labels(label);
      cache.set(label, child);
    }
    return child;
  }

  private markAll(state: MarkerState): void {
    for (const p of this.products) this.mark(p, state);
  }

  private mark(product: string, state: MarkerState, reason?: string): void {
    this.metrics.markers.labels(state).inc();
    void this.publisher.publish(this.router.marker(product, state, nowUs(), reason)).then((o) => {
      if (o.kind !== 'stored')
        this.log.warn({ product, state, outcome: o.kind }, 'marker not stored');
    });
  }
}

function frameChannelLabel(channel: string): string {
  return ['heartbeat', 'ticker', 'matches', 'level2_batch', 'status'].includes(channel)
    ? channel
    : 'other';
}
