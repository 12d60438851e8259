import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { Registry } from 'prom-client';
import type { Logger } from '../common/logger.js';
import { MIN_MAX_PAYLOAD, trackNatsConnected } from '../common/nats.js';
import { Publisher, type Discontinuity, type PublishOutcome } from '../common/publisher.js';
import { nowUs } from '../common/schemas/headers.js';
import { parseRawSubject, resyncSubject } from '../common/subjects.js';
import type { IngestorConfig } from './config.js';
import { feedProtocol, type FeedProtocol } from './core/feed-protocol.js';
import { AdvancedRouter } from './core/route-advanced.js';
import { FrameRouter, type MarkerState, type Routed, type RouterBase } from './core/route.js';
import { FeedConnection, type CloseCause } from './feeds/ws-connection.js';
import { createIngestorMetrics, frameTypeLabel, type IngestorMetrics } from './metrics.js';

/** Headers and subject need room inside NATS max_payload. */
const HEADER_ROOM = 4 * 1024;
/** The WebSocket accepts larger frames than NATS so that they reach MD_DLQ as too_large. */
const WS_MAX_PAYLOAD = 64 * 1024 * 1024;

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The ingestor: one WebSocket to the feed (Exchange or Advanced Trade), every frame into
 * MD_RAW exactly once and in order (DESIGN.md "Raw frames"), backpressure from the publish
 * window to the socket, resync requests served as book resubscribes, and for Advanced
 * Trade a hole in `sequence_num` answered by a reconnect.
 */
export class Ingestor {
  readonly metrics: IngestorMetrics;
  private readonly protocol: FeedProtocol;
  private readonly router: RouterBase;
  private readonly publisher: Publisher;
  private readonly conn: FeedConnection;
  private readonly lastResync = new Map<string, number>();
  private readonly pendingResync = new Map<string, NodeJS.Timeout>();
  private resyncSub: Subscription | undefined;
  private waitingForRoom = false;
  /** Label children resolved once: `labels()` hashes its arguments on every call. */
  private readonly frameCounters = new Map<string, { inc(): void }>();
  private readonly publishedCounters = new Map<string, { inc(): void }>();
  private subscribed = false;
  /** Receipt time of the last frame (µs); the start until one arrives (the stale alert). */
  private lastFrameUs = nowUs();
  /**
   * (Un)subscribe messages not acknowledged yet: each is answered by a cumulative ack, so
   * with one message per channel (Advanced Trade) the acks before the last are partial.
   */
  private unacked = 0;
  private sequenceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Readonly<IngestorConfig>,
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    registry: Registry,
  ) {
    this.metrics = createIngestorMetrics(registry, config.PRODUCTS, {
      lastFrameAgeSeconds: () => Math.max(0, nowUs() - this.lastFrameUs) / 1e6,
      publishInFlight: () => this.publisher.inFlight,
    });
    this.protocol = feedProtocol(config.COINBASE_FEED, config.COINBASE_CHANNELS);
    const maxPayload = nc.info?.max_payload ?? MIN_MAX_PAYLOAD;
    const routerOptions = {
      feed: this.protocol.feed,
      shards: config.SHARDS,
      products: config.PRODUCTS,
      maxFrameBytes: maxPayload - HEADER_ROOM,
      recentTrades: config.RECENT_TRADE_IDS,
    };
    this.router =
      config.COINBASE_FEED === 'advanced'
        ? new AdvancedRouter(routerOptions, {
            windowMs: config.SEQUENCE_GAP_MS,
            windowFrames: config.SEQUENCE_GAP_FRAMES,
          })
        : new FrameRouter(routerOptions);
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
    this.resyncSub = this.nc.subscribe(resyncSubject(this.protocol.feed), {
      callback: (err, msg) => {
        if (err !== null) return;
        msg.respond(enc.encode(JSON.stringify(this.onResyncRequest(msg.data))));
      },
    });
    trackNatsConnected(this.nc, this.metrics.natsConnected);
    if (this.config.COINBASE_FEED === 'advanced') {
      // A sequence_num hole is due even when no further frame arrives.
      this.sequenceTimer = setInterval(
        () => {
          for (const r of this.router.tick(Date.now())) this.handle(r, nowUs());
        },
        Math.max(20, Math.floor(this.config.SEQUENCE_GAP_MS / 4)),
      );
      this.sequenceTimer.unref();
    }
    this.conn.start();
    await Promise.resolve();
  }

  /** Stop reading, publish what was read, stop serving resyncs. */
  async stop(): Promise<void> {
    if (this.sequenceTimer !== undefined) clearInterval(this.sequenceTimer);
    for (const t of this.pendingResync.values()) clearTimeout(t);
    await this.conn.stop();
    this.resyncSub?.unsubscribe();
    await this.publisher.close();
  }

  private onOpen(connId: string): void {
    this.router.newConnection(connId);
    this.subscribed = false;
    this.markAll('connected');
    this.unacked = 0;
    for (const msg of this.protocol.subscribe(this.config.PRODUCTS)) this.sendRequest(msg);
  }

  private onClose(cause: CloseCause): void {
    this.metrics.connected.set(0);
    this.subscribed = false;
    if (cause !== 'stopping') this.metrics.reconnects.labels(cause).inc();
  }

  private onFrame(data: Buffer, recvUs: number): void {
    this.lastFrameUs = recvUs;
    this.metrics.bytes.inc(data.byteLength);
    for (const routed of this.router.routeAll(data, undefined, recvUs, Date.now()))
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
        this.counterFor(this.frameCounters, this.metrics.frames, frameTypeLabel(routed.type)).inc();
        if (routed.unexpected !== undefined)
          this.metrics.unexpected.labels(routed.unexpected).inc();
        if (routed.time !== undefined) {
          const exchangeMs = Date.parse(routed.time);
          const lag = recvUs / 1e6 - exchangeMs / 1e3;
          if (Number.isFinite(lag) && lag >= 0 && lag < 3600)
            this.metrics.exchangeToIngest.observe(lag);
        }
        if (routed.control !== undefined) this.onControlFrame(routed.type, routed.control);
        const { product, tradeId } = routed;
        void this.publisher.publish(routed.req).then((o) => {
          this.afterPublish(o, product, tradeId);
        });
        return;
      }
      case 'sequence':
        this.metrics.sequence.labels(routed.event).inc();
        if (routed.event === 'gap') this.onSequenceGap(routed.from, routed.to);
        return;
      default: {
        const never: never = routed;
        throw new Error(`unexpected route ${JSON.stringify(never)}`);
      }
    }
  }

  /**
   * A sequence_num the connection never delivered: a message is lost and the server never
   * resends. Every book is marked (the lost message may have been any product's), then the
   * connection is closed gracefully, so what the server already sent is still read and
   * stored, and a new one subscribes again for fresh snapshots.
   */
  private onSequenceGap(from: number | undefined, to: number | undefined): void {
    this.log.warn(
      { conn: this.router.connectionId, from, to },
      'sequence_num gap: reconnecting for fresh snapshots',
    );
    for (const p of this.products) this.mark(p, 'dropped', 'sequence_gap');
    this.conn.reconnect('sequence_gap', true);
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

  private sendRequest(msg: unknown): void {
    if (this.conn.send(msg)) this.unacked++;
  }

  private onControlFrame(type: string, value: Record<string, unknown>): void {
    if (type === 'subscriptions') {
      this.unacked = Math.max(0, this.unacked - 1);
      // Products in the middle of a book resubscribe are briefly absent from the ack.
      const settled = this.config.PRODUCTS.filter(
        (p) => Date.now() - (this.lastResync.get(p) ?? 0) >= this.config.RESYNC_COALESCE_MS,
      );
      const check = this.protocol.checkAck(value, settled);
      if (check.ok) {
        if (!this.subscribed)
          this.log.info(
            {
              feed: this.config.COINBASE_FEED,
              channels: this.protocol.channels,
              products: this.config.PRODUCTS,
            },
            'subscribed',
          );
        this.subscribed = true;
        this.metrics.connected.set(1);
        this.conn.markHealthy();
      } else if (this.unacked === 0) {
        for (const [channel, products] of Object.entries(check.missing)) {
          this.metrics.subscribeProblems
            .labels(frameChannelLabel(channel))
            .inc(Math.max(products.length, 1));
        }
        this.log.warn({ missing: check.missing }, 'subscription ack lacks channels or products');
      }
    } else if (type === 'error') {
      // A refused request is answered by an error instead of an ack.
      this.unacked = Math.max(0, this.unacked - 1);
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

  /** Serves md.ctl.<feed>.resync: at most one book resubscribe per product per window. */
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
    const messages = this.protocol.resubscribeBook(product);
    if (messages.length === 0 || !this.conn.isOpen) return;
    this.lastResync.set(product, Date.now());
    this.mark(product, 'resubscribed', reason);
    for (const msg of messages) this.sendRequest(msg);
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

const CHANNEL_LABELS = new Set([
  'heartbeat',
  'heartbeats',
  'ticker',
  'matches',
  'market_trades',
  'level2_batch',
  'level2',
  'candles',
  'status',
]);

function frameChannelLabel(channel: string): string {
  return CHANNEL_LABELS.has(channel) ? channel : 'other';
}
