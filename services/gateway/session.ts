import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { Outbox } from './core/backpressure.js';
import {
  conflatedWire,
  errorFrame,
  pongFrame,
  slowGapFrame,
  type OutFrame,
} from './core/frames.js';
import type { FeedMessage } from './core/product-state.js';
import {
  CLOSE,
  parseClientFrame,
  type Channel,
  type GatewayErrorCode,
  type SubscribeFrame,
  type UnsubscribeFrame,
} from './core/protocol.js';
import { TokenBucket } from './core/rate-limit.js';

/**
 * One WebSocket connection: its subscriptions' delivery state, its outbox, its token
 * bucket. Frames go into the outbox; the hub flushes every dirty session once per tick
 * with one socket write, and this class decides there whether the client is slow.
 */

export interface SessionLimits {
  maxFrameBytes: number;
  slowBytes: number;
  maxBufferBytes: number;
  slowMaxMs: number;
  rateLimitPerS: number;
  rateLimitBurst: number;
  abuseLimit: number;
  closeGraceMs: number;
}

export type FloorKey = Channel | 'status';

/** A connection's subscription to one product. */
export interface ProductSub {
  readonly product: string;
  readonly channels: Set<Channel>;
  /** Offsets up to here are behind this subscription (delivered, skipped or superseded). */
  cursor: number;
  /** Per channel: deliver only offsets above (its snapshot's offset). */
  readonly floors: Record<FloorKey, number>;
  /** `catchup`: a resume is replaying; live fan-out skips this subscription meanwhile. */
  mode: 'live' | 'catchup';
  conflateMs: number;
  readonly abort: AbortController;
  /** conflate_ms: last send time and the held update per channel. */
  readonly lastSentMs: Partial<Record<Channel, number>>;
  readonly held: Partial<Record<Channel, { m: FeedMessage; folded: boolean }>>;
  timer?: NodeJS.Timeout;
}

/** What the session needs from the hub. */
export interface SessionHost {
  subscribe(s: Session, f: SubscribeFrame): void;
  unsubscribe(s: Session, f: UnsubscribeFrame): void;
  markDirty(s: Session): void;
  countError(code: GatewayErrorCode): void;
  countSlow(r: { conflated: number; dropped: number; gapsOpened: number }): void;
  countClose(code: number | 'dead_peer'): void;
  countWrites(frames: number, bytes: number): void;
}

export interface FlushStats {
  frames: number;
  bytes: number;
}

/** WebSocket.OPEN */
const OPEN = 1;
const NO_FLUSH: FlushStats = { frames: 0, bytes: 0 };

export class Session {
  readonly outbox = new Outbox(slowGapFrame);
  readonly subs = new Map<string, ProductSub>();
  /** A pong arrived since the last ping. */
  alive = true;
  /** Waiting in the hub's flush queue (set and cleared by the hub). */
  queued = false;
  private closing = false;
  private slowSince: number | undefined;
  private limited = 0;
  private readonly bucket: TokenBucket;
  private waiters: (() => void)[] = [];
  private roomTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly host: SessionHost,
    private readonly limits: SessionLimits,
    readonly log: Logger,
  ) {
    this.bucket = new TokenBucket(limits.rateLimitBurst, limits.rateLimitPerS, Date.now());
  }

  get closed(): boolean {
    return this.closing;
  }

  /** Socket buffer plus outbox: what this client costs in memory. */
  get bufferedBytes(): number {
    return this.socket.writableLength + this.outbox.bytes;
  }

  // Inbound

  onFrame(data: Buffer, isBinary: boolean): void {
    if (this.closing) return;
    const take = this.bucket.take(Date.now());
    if (!take.ok) {
      if (++this.limited > this.limits.abuseLimit) {
        this.close(CLOSE.abuse, 'rate limit exceeded repeatedly');
        return;
      }
      this.sendError('RATE_LIMITED', 'too many frames', { retryAfterMs: take.retryAfterMs });
      return;
    }
    this.limited = 0;
    if (data.length > this.limits.maxFrameBytes) {
      this.sendError('FRAME_TOO_LARGE', `frames are limited to ${this.limits.maxFrameBytes} bytes`);
      this.close(CLOSE.tooBig, 'frame too large');
      return;
    }
    if (isBinary) {
      this.sendError('BAD_REQUEST', 'frames are JSON text');
      return;
    }
    const parsed = parseClientFrame(data.toString('utf8'));
    if (!parsed.ok) {
      this.sendError(parsed.code, parsed.message, parsed.id === undefined ? {} : { id: parsed.id });
      return;
    }
    const f = parsed.frame;
    try {
      switch (f.op) {
        case 'subscribe':
          this.host.subscribe(this, f);
          break;
        case 'unsubscribe':
          this.host.unsubscribe(this, f);
          break;
        case 'ping':
          this.send(pongFrame(f.id));
          break;
      }
    } catch (err) {
      // A throw here would escape the socket's 'message' handler and end the process,
      // every client with it: e.g. a ping id nested deeper than JSON.stringify's stack,
      // which JSON.parse (iterative) accepted. The client gets an error frame instead.
      this.log.warn({ op: f.op, err: describeError(err) }, 'client request failed');
      this.sendError('BAD_REQUEST', 'the request could not be handled');
    }
  }

  // Outbound

  send(frame: OutFrame): void {
    if (this.closing) return;
    const r = this.outbox.push(frame);
    // A burst within one tick (a large consumer batch) is written as it grows, so the
    // outbox stays small and slowness is judged by the socket alone.
    if (!this.outbox.slow && this.outbox.bytes >= this.limits.slowBytes / 2) this.flush(Date.now());
    if (r.conflated || r.dropped) {
      this.host.countSlow({
        conflated: r.conflated ? 1 : 0,
        dropped: r.dropped ? 1 : 0,
        gapsOpened: r.gapOpened ? 1 : 0,
      });
    }
    this.host.markDirty(this);
  }

  sendError(
    code: GatewayErrorCode,
    message: string,
    extra: { retryAfterMs?: number; id?: string | number; product?: string } = {},
  ): void {
    this.host.countError(code);
    this.send(errorFrame(code, message, extra));
  }

  /**
   * A message for a subscription, live or replayed: in offset order, once, on its
   * channels only, and for conflate_ms at most one ticker/book update per interval.
   */
  enqueue(sub: ProductSub, m: FeedMessage): void {
    if (m.offset <= sub.cursor) return;
    sub.cursor = m.offset;
    const key: FloorKey = m.channel ?? 'status';
    if (key !== 'status' && !sub.channels.has(key)) return;
    if (m.offset <= sub.floors[key]) return;
    if (sub.conflateMs > 0 && (key === 'ticker' || key === 'book')) {
      this.conflateLater(sub, key, m);
      return;
    }
    this.send(m.frame);
  }

  /** Live fan-out entry point. */
  deliver(m: FeedMessage): void {
    const sub = this.subs.get(m.product);
    if (sub?.mode === 'live') this.enqueue(sub, m);
  }

  private conflateLater(sub: ProductSub, channel: Channel, m: FeedMessage): void {
    const now = Date.now();
    const last = sub.lastSentMs[channel] ?? -Infinity;
    const held = sub.held[channel];
    if (held === undefined && now - last >= sub.conflateMs) {
      sub.lastSentMs[channel] = now;
      this.send(m.frame);
      return;
    }
    sub.held[channel] = { m, folded: held !== undefined };
    if (sub.timer !== undefined) return;
    sub.timer = setTimeout(
      () => {
        sub.timer = undefined;
        this.releaseHeld(sub);
      },
      Math.max(0, last + sub.conflateMs - now),
    );
  }

  private releaseHeld(sub: ProductSub): void {
    const now = Date.now();
    for (const channel of ['ticker', 'book'] as const) {
      const held = sub.held[channel];
      if (held === undefined) continue;
      sub.held[channel] = undefined;
      sub.lastSentMs[channel] = now;
      const f = held.m.frame;
      this.send(held.folded ? { ...f, wire: conflatedWire(f) } : f);
    }
  }

  dropSub(product: string): void {
    const sub = this.subs.get(product);
    if (sub === undefined) return;
    sub.abort.abort();
    clearTimeout(sub.timer);
    this.subs.delete(product);
  }

  /**
   * Writes what the outbox holds in one socket write, unless the client is behind:
   * past GATEWAY_SLOW_BYTES of socket buffer the outbox degrades (conflation, gaps) until
   * the buffer drains to a quarter of that; past GATEWAY_MAX_BUFFER_BYTES or
   * GATEWAY_SLOW_MAX_MS of being slow the client is closed with 4000.
   */
  flush(nowMs: number): FlushStats {
    if (this.closing) return NO_FLUSH;
    const buffered = this.socket.writableLength;
    const { slowBytes } = this.limits;
    if (!this.outbox.slow && buffered >= slowBytes && this.outbox.length > 0) {
      this.host.countSlow(this.outbox.degrade());
      this.slowSince = nowMs;
    } else if (this.outbox.slow && buffered <= slowBytes / 4) {
      this.outbox.recover();
      this.slowSince = undefined;
    }
    if (this.outbox.slow) {
      const tooBig = buffered + this.outbox.bytes > this.limits.maxBufferBytes;
      if (tooBig || nowMs - (this.slowSince ?? nowMs) > this.limits.slowMaxMs) {
        return this.close(CLOSE.slowClient, 'slow client');
      }
      return NO_FLUSH;
    }
    const stats =
      this.outbox.length > 0 ? this.write(this.outbox.take(slowBytes - buffered)) : NO_FLUSH;
    if (this.waiters.length > 0 && this.hasRoom()) this.wake();
    return stats;
  }

  /** Whether the next flush should come without waiting for 'drain'. */
  wantsFlush(): boolean {
    return (
      !this.closing && this.outbox.length > 0 && !this.outbox.slow && !this.socket.writableNeedDrain
    );
  }

  /**
   * Room for replayed messages. The threshold stays above the socket's high-water mark:
   * below that mark no 'drain' event would come to wake a waiting replay.
   */
  hasRoom(): boolean {
    const room = Math.max(this.limits.slowBytes / 2, 2 * this.socket.writableHighWaterMark);
    return !this.outbox.slow && this.socket.writableLength + this.outbox.bytes < room;
  }

  /**
   * Resolves once there is room for replayed messages (or the session closed). A client
   * that makes no room for GATEWAY_SLOW_MAX_MS is slow and closed with 4000: a replay
   * is never degraded like live data, and one waiting for good would hold its history
   * reader (RESUME_MAX_CONCURRENT per process) from every other client.
   */
  room(): Promise<void> {
    if (this.closing || this.hasRoom()) return Promise.resolve();
    if (this.roomTimer === undefined) {
      this.roomTimer = setTimeout(() => {
        this.roomTimer = undefined;
        if (this.waiters.length > 0) this.close(CLOSE.slowClient, 'slow client');
      }, this.limits.slowMaxMs);
      this.roomTimer.unref();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * Sends what is pending (bounded: a slow client's outbox is folded), then the close
   * frame. Returns what was written.
   */
  close(code: number, reason: string): FlushStats {
    if (this.closing) return NO_FLUSH;
    const stats = this.outbox.length > 0 ? this.write(this.outbox.take()) : NO_FLUSH;
    this.closing = true;
    this.host.countClose(code);
    this.ws.close(code, reason);
    // A client that does not read never answers the close: cut it after the grace.
    setTimeout(() => {
      this.ws.terminate();
    }, this.limits.closeGraceMs).unref();
    this.release();
    return stats;
  }

  terminate(why: 'dead_peer'): void {
    if (this.closing) return;
    this.closing = true;
    this.host.countClose(why);
    this.ws.terminate();
    this.release();
  }

  /** The socket closed (either side): stop everything this session runs. */
  release(): void {
    this.closing = true;
    for (const product of [...this.subs.keys()]) this.dropSub(product);
    this.wake();
  }

  private wake(): void {
    clearTimeout(this.roomTimer);
    this.roomTimer = undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /**
   * One socket write per flush: the frames are already WebSocket frames (ws-frame.ts), so
   * they bypass `ws`'s per-message framing. `ws` itself still writes pings and the close
   * frame, whole frames each, so the stream stays well-formed.
   */
  private write({ frames, bytes }: { frames: Buffer[]; bytes: number }): FlushStats {
    if (this.ws.readyState !== OPEN || frames.length === 0) return NO_FLUSH;
    this.socket.write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes));
    this.host.countWrites(frames.length, bytes);
    return { frames: frames.length, bytes };
  }
}
