import { assertNever } from '../../common/assert.js';
import type { PublishRequest } from '../../common/publisher.js';
import { H, headerText } from '../../common/schemas/headers.js';
import {
  dlqSubject,
  rawControlSubject,
  rawMsgId,
  rawSubject,
  shardOf,
  type DlqReason,
  type Feed,
} from '../../common/subjects.js';
import { classifyExchangeFrame, type Classified } from './classify.js';
import { RecentIds } from './recent-ids.js';

/**
 * Turns received frames into MD_RAW / MD_DLQ publishes (DESIGN.md "Raw frames").
 * Pure state, no I/O: the connection shell calls it and acts on the result.
 */
export type Routed =
  | {
      kind: 'publish';
      req: PublishRequest;
      classified: Classified;
      product?: string;
      tradeId?: string;
      /**
       * A product frame kept on the control subject instead: its product is not
       * configured, or its type is the one of our own markers (which the feed must not
       * be able to forge).
       */
      unexpected?: UnexpectedReason;
    }
  | { kind: 'duplicate'; product: string; tradeId: string }
  | { kind: 'dlq'; reason: DlqReason; req: PublishRequest; product?: string };

export type MarkerState = 'connected' | 'stale' | 'resubscribed' | 'dropped';

export type UnexpectedReason = 'product' | 'reserved_type';

/** The type of the ingestor's own marker frames (`marker()`). */
export const MARKER_TYPE = 'lf_feed';

/** DLQ keeps at most this much of a frame too large to publish. */
export const DLQ_KEEP_BYTES = 64 * 1024;

export interface RouterOptions {
  feed: Feed;
  shards: number;
  /**
   * The configured products. A frame for any other product is kept on the feed's control
   * subject: per-product state (trade ids, conn seqs, metric labels, the normalizer's
   * processors) exists only for these, so a feed naming endless products cannot grow it.
   */
  products: readonly string[];
  /** Frames above this size cannot be published (NATS max_payload less header room). */
  maxFrameBytes: number;
  /** How many stored trade ids to remember per product. */
  recentTrades: number;
}

const enc = new TextEncoder();

export class FrameRouter {
  private connId = '';
  private frameNo = 0;
  private ctlSeq = 0;
  private readonly connSeqs = new Map<string, number>();
  private readonly recent = new Map<string, RecentIds>();
  private readonly products: ReadonlySet<string>;

  constructor(private readonly opts: RouterOptions) {
    this.products = new Set(opts.products);
  }

  /** A new WebSocket connection: connection-scoped counters restart. */
  newConnection(connId: string): void {
    this.connId = connId;
    this.frameNo = 0;
    this.ctlSeq = 0;
    this.connSeqs.clear();
  }

  get connectionId(): string {
    return this.connId;
  }

  route(bytes: Uint8Array, text: string | undefined, recvUs: number): Routed {
    this.frameNo++;
    if (bytes.byteLength > this.opts.maxFrameBytes) {
      const head = bytes.subarray(0, DLQ_KEEP_BYTES);
      const product = /"product_id"\s*:\s*"([A-Z0-9]{1,15}-[A-Z0-9]{1,15})"/.exec(
        new TextDecoder().decode(head),
      )?.[1];
      return {
        kind: 'dlq',
        reason: 'too_large',
        req: this.dlq(
          'too_large',
          head,
          recvUs,
          `frame of ${String(bytes.byteLength)} bytes exceeds ${String(this.opts.maxFrameBytes)}`,
          bytes.byteLength,
        ),
        ...(product === undefined ? {} : { product }),
      };
    }
    const c = classifyExchangeFrame(text ?? new TextDecoder().decode(bytes));
    switch (c.kind) {
      case 'unparsable':
        return {
          kind: 'dlq',
          reason: 'unparsable',
          req: this.dlq('unparsable', bytes, recvUs, c.error, bytes.byteLength),
        };
      case 'control':
        return { kind: 'publish', classified: c, req: this.control(c.type, bytes, recvUs) };
      case 'product':
        if (c.type === MARKER_TYPE || !this.products.has(c.product)) {
          const req = this.control(c.type, bytes, recvUs);
          const unexpected = c.type === MARKER_TYPE ? 'reserved_type' : 'product';
          return { kind: 'publish', classified: c, req, unexpected };
        }
        return this.routeProduct(c, bytes, recvUs);
      default:
        return assertNever(c);
    }
  }

  /** The `lf_feed` marker frame that tells the normalizer about a feed boundary. */
  marker(product: string, state: MarkerState, recvUs: number, reason?: string): PublishRequest {
    const seq = this.nextConnSeq(product);
    const frame = {
      type: MARKER_TYPE,
      state,
      conn: this.connId,
      product_id: product,
      ...(reason === undefined ? {} : { reason }),
    };
    return {
      subject: rawSubject(this.opts.feed, shardOf(product, this.opts.shards), product),
      payload: enc.encode(JSON.stringify(frame)),
      msgId: rawMsgId.connScoped(this.opts.feed, product, MARKER_TYPE, this.connId, seq),
      headers: this.headers(recvUs, seq, MARKER_TYPE),
    };
  }

  /** A trade publish was lost: forget it, so a replay (`last_match`) can store it. */
  forgetTrade(product: string, tradeId: string): void {
    this.recent.get(product)?.delete(tradeId);
  }

  private routeProduct(
    c: Extract<Classified, { kind: 'product' }>,
    bytes: Uint8Array,
    recvUs: number,
  ): Routed {
    const { feed } = this.opts;
    const subject = rawSubject(feed, shardOf(c.product, this.opts.shards), c.product);
    switch (c.id.scope) {
      case 'trade': {
        const recent = this.recentFor(c.product);
        if (!recent.add(c.id.tradeId))
          return { kind: 'duplicate', product: c.product, tradeId: c.id.tradeId };
        return {
          kind: 'publish',
          classified: c,
          product: c.product,
          tradeId: c.id.tradeId,
          req: {
            subject,
            payload: bytes,
            msgId: rawMsgId.trade(feed, c.product, c.id.tradeId),
            headers: this.headers(recvUs, this.connSeqs.get(c.product) ?? 0, c.type),
          },
        };
      }
      case 'ticker':
        return {
          kind: 'publish',
          classified: c,
          product: c.product,
          req: {
            subject,
            payload: bytes,
            msgId: rawMsgId.ticker(feed, c.product, c.id.sequence),
            headers: this.headers(recvUs, this.connSeqs.get(c.product) ?? 0, c.type),
          },
        };
      case 'connection': {
        const seq = this.nextConnSeq(c.product);
        return {
          kind: 'publish',
          classified: c,
          product: c.product,
          req: {
            subject,
            payload: bytes,
            msgId: rawMsgId.connScoped(feed, c.product, c.type, this.connId, seq),
            headers: this.headers(recvUs, seq, c.type),
          },
        };
      }
      default:
        return assertNever(c.id);
    }
  }

  private control(type: string, bytes: Uint8Array, recvUs: number): PublishRequest {
    this.ctlSeq++;
    return {
      subject: rawControlSubject(this.opts.feed, type),
      payload: bytes,
      msgId: `${this.opts.feed}:ctl:${type}:${this.connId}:${String(this.ctlSeq)}`,
      headers: this.headers(recvUs, this.ctlSeq, type),
    };
  }

  /** Products with per-product state (only configured ones): for the bounded-memory tests. */
  get trackedProducts(): number {
    return new Set([...this.recent.keys(), ...this.connSeqs.keys()]).size;
  }

  private nextConnSeq(product: string): number {
    const seq = (this.connSeqs.get(product) ?? 0) + 1;
    this.connSeqs.set(product, seq);
    return seq;
  }

  private recentFor(product: string): RecentIds {
    let r = this.recent.get(product);
    if (r === undefined) {
      r = new RecentIds(this.opts.recentTrades);
      this.recent.set(product, r);
    }
    return r;
  }

  private headers(recvUs: number, connSeq: number, type: string): Record<string, string> {
    return {
      [H.recvUs]: String(recvUs),
      [H.connId]: this.connId,
      [H.connSeq]: String(connSeq),
      [H.type]: type,
    };
  }

  private dlq(
    reason: DlqReason,
    payload: Uint8Array,
    recvUs: number,
    error: string,
    origBytes: number,
  ): PublishRequest {
    return {
      subject: dlqSubject(this.opts.feed, reason),
      payload,
      msgId: `dlq:${this.opts.feed}:${this.connId}:${String(this.frameNo)}`,
      headers: {
        [H.reason]: reason,
        [H.recvUs]: String(recvUs),
        [H.connId]: this.connId,
        [H.error]: headerText(error, 200),
        [H.origBytes]: String(origBytes),
      },
    };
  }
}
