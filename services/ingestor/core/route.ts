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
      /** The frame's `type` (Exchange) or `channel` (Advanced Trade): the Lf-Type header. */
      type: string;
      /** The exchange's time string, when the frame has one. */
      time?: string | undefined;
      /** A control frame (no product), parsed: subscriptions acks and errors are read. */
      control?: Record<string, unknown>;
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
  | { kind: 'dlq'; reason: DlqReason; req: PublishRequest; product?: string }
  /**
   * Advanced Trade `sequence_num` on this connection: a number seen before (the frame is
   * not published), a missing one that arrived late (published), or a hole past the window.
   */
  | { kind: 'sequence'; event: 'duplicate' | 'late' | 'gap'; from?: number; to?: number };

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
const dec = new TextDecoder();

/** What both feeds' routers share: connection-scoped counters, markers, control and DLQ frames. */
export abstract class RouterBase {
  protected connId = '';
  protected frameNo = 0;
  private ctlSeq = 0;
  private readonly connSeqs = new Map<string, number>();
  protected readonly products: ReadonlySet<string>;

  constructor(protected readonly opts: RouterOptions) {
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

  /** Every publish (or event) one received frame makes, in order. */
  abstract routeAll(
    bytes: Uint8Array,
    text: string | undefined,
    recvUs: number,
    nowMs: number,
  ): Routed[];

  /** Events due with no frame (the Advanced Trade sequence window). */
  tick(_nowMs: number): Routed[] {
    return [];
  }

  /** A trade publish was lost: forget it, so a replay can store it (Exchange only). */
  forgetTrade(_product: string, _tradeId: string): void {
    // nothing remembered by default
  }

  /** The `lf_feed` marker frame that tells the normalizer about a feed boundary. */
  marker(product: string, state: MarkerState, recvUs: number, reason?: string): PublishRequest {
    const frame = {
      type: MARKER_TYPE,
      state,
      conn: this.connId,
      product_id: product,
      ...(reason === undefined ? {} : { reason }),
    };
    return this.connScoped(product, MARKER_TYPE, enc.encode(JSON.stringify(frame)), recvUs);
  }

  /** Counts the frame; a frame too large for NATS goes to MD_DLQ (its first 64 KiB). */
  protected tooLarge(bytes: Uint8Array, recvUs: number): Routed | undefined {
    this.frameNo++;
    if (bytes.byteLength <= this.opts.maxFrameBytes) return undefined;
    const head = bytes.subarray(0, DLQ_KEEP_BYTES);
    const product = /"product_id"\s*:\s*"([A-Z0-9]{1,15}-[A-Z0-9]{1,15})"/.exec(
      dec.decode(head),
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

  protected unparsable(bytes: Uint8Array, recvUs: number, error: string): Routed {
    return {
      kind: 'dlq',
      reason: 'unparsable',
      req: this.dlq('unparsable', bytes, recvUs, error, bytes.byteLength),
    };
  }

  /**
   * Products with per-product state (only configured ones): for the bounded-memory tests.
   */
  get trackedProducts(): number {
    return new Set(this.trackedKeys()).size;
  }

  protected trackedKeys(): string[] {
    return [...this.connSeqs.keys()];
  }

  /**
   * A product frame that must not reach a product subject (`unexpected` says why): kept on
   * the control subject, where nothing keeps per-product state.
   */
  protected unexpectedFrame(
    product: string,
    type: string,
    bytes: Uint8Array,
    recvUs: number,
  ): Routed | undefined {
    if (type !== MARKER_TYPE && this.products.has(product)) return undefined;
    return {
      ...this.control(type, undefined, bytes, recvUs),
      unexpected: type === MARKER_TYPE ? 'reserved_type' : 'product',
    };
  }

  /** A frame without a product: `md.raw.<feed>.ctl.<type>`, numbered per connection. */
  protected control(
    type: string,
    value: Record<string, unknown> | undefined,
    bytes: Uint8Array,
    recvUs: number,
  ): Extract<Routed, { kind: 'publish' }> {
    this.ctlSeq++;
    return {
      kind: 'publish',
      type,
      ...(value === undefined ? {} : { control: value }),
      req: {
        subject: rawControlSubject(this.opts.feed, type),
        payload: bytes,
        msgId: `${this.opts.feed}:ctl:${type}:${this.connId}:${String(this.ctlSeq)}`,
        headers: this.headers(recvUs, this.ctlSeq, type),
      },
    };
  }

  /** A product frame whose msg id is connection-scoped: it takes the product's next conn seq. */
  protected connScoped(
    product: string,
    type: string,
    payload: Uint8Array,
    recvUs: number,
    split = false,
  ): PublishRequest {
    const seq = this.nextConnSeq(product);
    const headers = this.headers(recvUs, seq, type);
    if (split) headers[H.split] = '1';
    return {
      subject: this.subjectOf(product),
      payload,
      msgId: rawMsgId.connScoped(this.opts.feed, product, type, this.connId, seq),
      headers,
    };
  }

  protected subjectOf(product: string): string {
    return rawSubject(this.opts.feed, shardOf(product, this.opts.shards), product);
  }

  protected currentConnSeq(product: string): number {
    return this.connSeqs.get(product) ?? 0;
  }

  private nextConnSeq(product: string): number {
    const seq = (this.connSeqs.get(product) ?? 0) + 1;
    this.connSeqs.set(product, seq);
    return seq;
  }

  protected headers(recvUs: number, connSeq: number, type: string): Record<string, string> {
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

/** The Exchange feed's router: trades by trade id, tickers by sequence, the rest by connection. */
export class FrameRouter extends RouterBase {
  private readonly recent = new Map<string, RecentIds>();

  routeAll(bytes: Uint8Array, text: string | undefined, recvUs: number): Routed[] {
    return [this.route(bytes, text, recvUs)];
  }

  route(bytes: Uint8Array, text: string | undefined, recvUs: number): Routed {
    const large = this.tooLarge(bytes, recvUs);
    if (large !== undefined) return large;
    const c = classifyExchangeFrame(text ?? dec.decode(bytes));
    switch (c.kind) {
      case 'unparsable':
        return this.unparsable(bytes, recvUs, c.error);
      case 'control':
        return this.control(c.type, c.value, bytes, recvUs);
      case 'product':
        return (
          this.unexpectedFrame(c.product, c.type, bytes, recvUs) ??
          this.routeProduct(c, bytes, recvUs)
        );
      default:
        return assertNever(c);
    }
  }

  protected override trackedKeys(): string[] {
    return [...super.trackedKeys(), ...this.recent.keys()];
  }

  /** A trade publish was lost: forget it, so a replay (`last_match`) can store it. */
  override forgetTrade(product: string, tradeId: string): void {
    this.recent.get(product)?.delete(tradeId);
  }

  private routeProduct(
    c: Extract<Classified, { kind: 'product' }>,
    bytes: Uint8Array,
    recvUs: number,
  ): Routed {
    const { feed } = this.opts;
    const subject = this.subjectOf(c.product);
    const meta = { kind: 'publish', type: c.type, time: c.time, product: c.product } as const;
    switch (c.id.scope) {
      case 'trade': {
        const recent = this.recentFor(c.product);
        if (!recent.add(c.id.tradeId))
          return { kind: 'duplicate', product: c.product, tradeId: c.id.tradeId };
        return {
          ...meta,
          tradeId: c.id.tradeId,
          req: {
            subject,
            payload: bytes,
            msgId: rawMsgId.trade(feed, c.product, c.id.tradeId),
            headers: this.headers(recvUs, this.currentConnSeq(c.product), c.type),
          },
        };
      }
      case 'ticker':
        return {
          ...meta,
          req: {
            subject,
            payload: bytes,
            msgId: rawMsgId.ticker(feed, c.product, c.id.sequence),
            headers: this.headers(recvUs, this.currentConnSeq(c.product), c.type),
          },
        };
      case 'connection':
        return { ...meta, req: this.connScoped(c.product, c.type, bytes, recvUs) };
      default:
        return assertNever(c.id);
    }
  }

  private recentFor(product: string): RecentIds {
    let r = this.recent.get(product);
    if (r === undefined) {
      r = new RecentIds(this.opts.recentTrades);
      this.recent.set(product, r);
    }
    return r;
  }
}
