import { assertNever } from '../../common/assert.js';
import type { Flag, Normalized, Status } from '../../common/schemas/normalized.js';
import { normMsgId, type Feed, type NormKind } from '../../common/subjects.js';
import { L2Book } from './book.js';
import { isoFromMicros } from './exchange-time.js';
import { mapAdvancedText, type AdvancedMapped } from './map-advanced.js';
import type { MapResult, TickerResult, TradeResult } from './map-common.js';
import { mapExchangeText } from './map-exchange.js';
import { bookMessage, statusMessage, tickerMessage, tradeMessage } from './messages.js';
import {
  ConnectionOrderFilter,
  SequenceFilter,
  TradeSequencer,
  maxTradeId,
  type SeqOutput,
} from './sequencer.js';
import { TopThrottle } from './top-publisher.js';
import { tickerFlags, tradeFlags, type ValidateOptions } from './validate.js';

/**
 * Everything the normalizer knows about one product, and what one raw frame does to it.
 * Pure: frames and time come in, outputs (with their seq and msg id) come back, with the
 * raw frames whose acks they settle. The shard worker publishes, acks and counts.
 * Both feeds' frames land here (venue `coinbase`): the feed picks the mapper, and the
 * sequencer, the book and the publishing marks are shared.
 */

/** What a raw frame carries besides its bytes (its MD_RAW sequence and headers). */
export interface RawFrame {
  /** The raw subject's feed token: which mapper reads the frame. */
  feed: Feed;
  src: number;
  recvUs: number;
  connId: string;
  connSeq: number;
  type: string;
  text: string;
}

export interface Output {
  kind: NormKind;
  msgId: string;
  message: Normalized;
  /** The MD_RAW sequence this output reflects (its Lf-Src header). */
  src: number;
  /** The raw frame whose ack waits for this output, if any. */
  ackFor?: number;
}

export type Event =
  | { kind: 'duplicate_trade' }
  | { kind: 'late_trade' }
  | { kind: 'stale_ticker' }
  | { kind: 'gap'; from: string; to: string }
  | { kind: 'book_invalid'; reason: string }
  | { kind: 'book_resynced' }
  | { kind: 'flag'; flag: Flag }
  | { kind: 'skipped_reflected' }
  | { kind: 'ignored'; type: string };

export interface FrameResult {
  outputs: Output[];
  events: Event[];
  /** The frame's trade is held in the reorder window: do not ack it yet. */
  held: boolean;
  /** Earlier held frames now settled by `outputs` (or needing no output): ack them after. */
  released: number[];
  /** Schema-breaking: send to MD_DLQ with this reason. */
  invalid?: { reason: 'schema' | 'unparsable'; error: string };
  /** Ask the ingestor for a fresh snapshot. */
  resync?: string;
}

/** Per output kind: where the normalizer left off (restored at start). */
export interface KindMarks {
  seq: number;
  src: number;
}

export interface ProductMarks {
  trade: KindMarks & { hw?: string | undefined };
  ticker: KindMarks & { sequence?: string | undefined };
  book: KindMarks;
  status: KindMarks;
}

export interface ProcessorOptions {
  windowMs: number;
  windowMsgs: number;
  topN: number;
  bookMinIntervalMs: number;
  validate: ValidateOptions;
}

interface HeldTrade {
  result: TradeResult;
  src: number;
  recvUs: number;
  /** Waiting in the reorder window (counted in `heldBySrc` until emitted). */
  held: boolean;
}

const emptyMarks = (): ProductMarks => ({
  trade: { seq: 0, src: 0 },
  ticker: { seq: 0, src: 0 },
  book: { seq: 0, src: 0 },
  status: { seq: 0, src: 0 },
});

export class ProductProcessor {
  readonly marks: ProductMarks;
  private readonly sequencer: TradeSequencer<HeldTrade>;
  private readonly tickers = new SequenceFilter();
  private readonly atTickers = new ConnectionOrderFilter();
  /** Per raw frame, its trades waiting in the reorder window: it is acked when none is left. */
  private readonly heldBySrc = new Map<number, number>();
  /**
   * Heartbeat frames whose `last_trade_id` is beyond the mark (src → id): acked once the
   * tail up to it is resolved (the trades came, or the gap is stored), so a restart
   * redelivers the heartbeat instead of forgetting the tail it counted.
   */
  private readonly heldHeartbeats = new Map<number, bigint>();
  private readonly book: L2Book;
  private readonly throttle: TopThrottle;
  private lastValidTime: string | undefined;
  private lastTradePrice: string | undefined;
  private lastTickerPrice: string | undefined;
  private conn: { id: string; seq: number } | undefined;
  /** Output index per (kind, src), so two outputs of one frame never share a msg id. */
  private indexSrc = { ticker: -1, book: -1, status: -1 };
  private indexNext = { ticker: 0, book: 0, status: 0 };
  private lastBookSrc = 0;
  private lastBookTime: string | undefined;
  private lastRecvUs = 0;
  /** The current frame's Advanced Trade ticker order, decided at its first ticker. */
  private atOrder: 'ok' | 'stale' | undefined;

  constructor(
    readonly product: string,
    private readonly opts: ProcessorOptions,
    restored: ProductMarks = emptyMarks(),
  ) {
    this.marks = structuredClone(restored);
    this.sequencer = new TradeSequencer({ windowMs: opts.windowMs, windowMsgs: opts.windowMsgs });
    this.sequencer.restore(restored.trade.hw);
    this.tickers.restore(restored.ticker.sequence);
    this.book = new L2Book({ depth: opts.topN });
    this.book.invalidate('restart');
    this.throttle = new TopThrottle(opts.bookMinIntervalMs);
  }

  get bookValid(): boolean {
    return this.book.valid;
  }

  get heldTrades(): number {
    return this.sequencer.heldCount();
  }

  /** When `tick` has work: the reorder window's or the book throttle's next deadline. */
  nextDeadline(): number | undefined {
    const a = this.sequencer.nextDeadline();
    const b = this.throttle.pendingAt();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return Math.min(a, b);
  }

  /** At start: books are not recovered, so say so and ask for a snapshot. */
  announceRestart(nowUs: number): FrameResult {
    const r = emptyResult();
    const src = Math.max(
      this.marks.status.src,
      this.marks.book.src,
      this.marks.ticker.src,
      this.marks.trade.src,
    );
    this.status(r, 'book_invalid', 'restart', src, nowUs, `restart-${String(nowUs)}`);
    r.resync = 'restart';
    return r;
  }

  onFrame(f: RawFrame, nowMs: number): FrameResult {
    const r = emptyResult();
    this.lastRecvUs = f.recvUs;
    const ctx = { recvUs: f.recvUs, product: this.product, lastValidTime: this.lastValidTime };
    const advanced = f.feed === 'coinbase-at';
    const mapped: AdvancedMapped = advanced
      ? mapAdvancedText(f.text, ctx)
      : { sequenceNum: undefined, results: [mapExchangeText(f.text, ctx)] };
    const first = mapped.results[0];
    // Every Advanced Trade frame is connection-scoped; Exchange frames by their kind.
    const scoped =
      advanced ||
      first?.kind === 'heartbeat' ||
      first?.kind === 'snapshot' ||
      first?.kind === 'l2update' ||
      first?.kind === 'marker';
    this.checkConnection(f, scoped, first?.kind === 'marker', r);
    this.atOrder = undefined;
    for (const m of mapped.results) {
      switch (m.kind) {
        case 'trade':
          this.onTrade(m, f, nowMs, r);
          break;
        case 'ticker':
          this.onTicker(m, f, r, advanced ? mapped.sequenceNum : false);
          break;
        case 'snapshot':
        case 'l2update':
          this.onBook(m, f, nowMs, r);
          break;
        case 'heartbeat':
          this.noteTime(m.time, m.flags);
          this.fromSequencer(this.sequencer.heartbeat(m.lastTradeId, nowMs), f.src, r);
          this.holdHeartbeat(f.src, m.lastTradeId);
          break;
        case 'marker':
          this.onMarker(m, f, r);
          break;
        case 'ignore':
          r.events.push({ kind: 'ignored', type: m.type });
          break;
        case 'invalid':
          r.invalid = { reason: m.reason, error: m.error };
          break;
        default:
          assertNever(m);
      }
    }
    // After the frame: a trade it carries takes its place before the window expires.
    this.expireHeld(r, nowMs);
    r.held = (this.heldBySrc.get(f.src) ?? 0) > 0 || this.heldHeartbeats.has(f.src);
    return r;
  }

  /** Timers: the reorder window and the trailing edge of the book throttle. */
  tick(nowMs: number): FrameResult {
    const r = emptyResult();
    this.expireHeld(r, nowMs);
    if (this.throttle.onTimer(nowMs) && this.book.valid) this.publishBook(r, this.lastBookSrc);
    return r;
  }

  /** The reorder window: held trades and heartbeat-announced tails that are due. */
  private expireHeld(r: FrameResult, nowMs: number): void {
    const due = this.sequencer.nextDeadline();
    if (due !== undefined && due <= nowMs)
      this.fromSequencer(this.sequencer.tick(nowMs), undefined, r);
  }

  /**
   * Lf-Conn-Seq is contiguous per connection and product over connection-scoped frames
   * (Exchange heartbeat, snapshot, l2update, markers; every Advanced Trade frame); Exchange
   * trades and tickers carry the current value. A hole or a swap means a raw frame is
   * missing: the book cannot be trusted.
   */
  private checkConnection(f: RawFrame, scoped: boolean, marker: boolean, r: FrameResult): void {
    if (this.conn === undefined || this.conn.id !== f.connId) {
      // A connection's first frame is its `connected` marker (seq 1); anything else means
      // we are joining mid-connection (a restart) or a frame went missing.
      const first = marker && f.connSeq === 1;
      this.conn = { id: f.connId, seq: f.connSeq };
      if (!first && f.src > this.marks.book.src) this.invalidateBook(r, 'connection_joined', f.src);
      return;
    }
    if (!scoped) return;
    if (f.connSeq !== this.conn.seq + 1) {
      if (f.src > this.marks.book.src)
        this.invalidateBook(
          r,
          f.connSeq <= this.conn.seq ? 'swapped_frame' : 'missing_frame',
          f.src,
        );
    }
    this.conn.seq = Math.max(this.conn.seq, f.connSeq);
  }

  private onTrade(t: TradeResult, f: RawFrame, nowMs: number, r: FrameResult): void {
    this.noteTime(t.time, t.flags);
    const payload: HeldTrade = { result: t, src: f.src, recvUs: f.recvUs, held: false };
    const settled = this.fromSequencer(this.sequencer.offer(t.tradeId, payload, nowMs), f.src, r);
    if (!settled) {
      payload.held = true;
      this.heldBySrc.set(f.src, (this.heldBySrc.get(f.src) ?? 0) + 1);
    }
  }

  /**
   * Turns sequencer outputs into messages. Returns whether the trade just offered was
   * settled (emitted, duplicate or late) rather than held. A held trade emitted now
   * releases its frame once the frame has no other trade waiting.
   */
  private fromSequencer(
    out: SeqOutput<HeldTrade>[],
    currentSrc: number | undefined,
    r: FrameResult,
  ): boolean {
    let settled = false;
    for (const o of out) {
      switch (o.kind) {
        case 'emit': {
          const { result, src, recvUs } = o.payload;
          if (o.payload.held) this.unhold(o.payload, currentSrc, r);
          const flags = tradeFlags(this.lastTradePrice, result, this.opts.validate);
          this.lastTradePrice = result.price;
          for (const flag of flags) r.events.push({ kind: 'flag', flag });
          const seq = ++this.marks.trade.seq;
          this.marks.trade.src = Math.max(this.marks.trade.src, src);
          this.marks.trade.hw = result.tradeId;
          r.outputs.push({
            kind: 'trade',
            msgId: normMsgId.trade('coinbase', this.product, result.tradeId),
            message: tradeMessage(result, { seq, recvUs, flags }),
            src,
            ackFor: src,
          });
          if (!o.payload.held && src === currentSrc) settled = true;
          o.payload.held = false;
          break;
        }
        case 'gap': {
          r.events.push({ kind: 'gap', from: o.from, to: o.to });
          this.marks.trade.hw = maxTradeId(this.marks.trade.hw, o.to);
          const src = currentSrc ?? this.marks.trade.src;
          this.status(r, 'gap', 'upstream_drop', src, this.lastRecvUs, undefined, {
            from: o.from,
            to: o.to,
          });
          // A heartbeat waiting for this tail is acked after the gap's PubAck.
          const gap = r.outputs.at(-1);
          const to = BigInt(o.to);
          for (const [hbSrc, id] of this.heldHeartbeats) {
            if (id > to || gap === undefined) continue;
            gap.ackFor = hbSrc;
            break;
          }
          break;
        }
        case 'duplicate':
          r.events.push({ kind: 'duplicate_trade' });
          settled = true;
          break;
        case 'late':
          r.events.push({ kind: 'late_trade' });
          settled = true;
          break;
        default:
          assertNever(o);
      }
    }
    this.releaseHeartbeats(currentSrc, r);
    return settled;
  }

  /** A heartbeat beyond the mark is held until the sequencer resolved the tail it counted. */
  private holdHeartbeat(src: number, lastTradeId: string): void {
    const hw = this.sequencer.highWater();
    if (hw !== undefined && BigInt(lastTradeId) > BigInt(hw))
      this.heldHeartbeats.set(src, BigInt(lastTradeId));
  }

  /** Heartbeats whose tail is resolved now: their frames are released (acked after). */
  private releaseHeartbeats(currentSrc: number | undefined, r: FrameResult): void {
    if (this.heldHeartbeats.size === 0) return;
    const hw = this.sequencer.highWater();
    if (hw === undefined) return;
    const mark = BigInt(hw);
    for (const [src, id] of this.heldHeartbeats) {
      if (id > mark) continue;
      this.heldHeartbeats.delete(src);
      if (src !== currentSrc) r.released.push(src);
    }
  }

  /** A held trade leaves the window: its frame is released when it has no other one waiting. */
  private unhold(p: HeldTrade, currentSrc: number | undefined, r: FrameResult): void {
    const left = (this.heldBySrc.get(p.src) ?? 1) - 1;
    if (left > 0) {
      this.heldBySrc.set(p.src, left);
      return;
    }
    this.heldBySrc.delete(p.src);
    if (p.src !== currentSrc) r.released.push(p.src);
  }

  private onTicker(
    t: TickerResult,
    f: RawFrame,
    r: FrameResult,
    /** The Advanced Trade frame's `sequence_num`; false for an Exchange ticker. */
    atSequenceNum: number | undefined | false,
  ): void {
    this.noteTime(t.time, t.flags);
    if (f.src <= this.marks.ticker.src) {
      r.events.push({ kind: 'skipped_reflected' });
      return;
    }
    if (this.tickerOrder(t, f, atSequenceNum) === 'stale') {
      r.events.push({ kind: 'stale_ticker' });
      return;
    }
    const flags = tickerFlags(this.lastTickerPrice, t, this.opts.validate);
    this.lastTickerPrice = t.price;
    for (const flag of flags) r.events.push({ kind: 'flag', flag });
    const seq = ++this.marks.ticker.seq;
    this.marks.ticker.src = f.src;
    if (t.sequence !== undefined) this.marks.ticker.sequence = t.sequence;
    r.outputs.push({
      kind: 'ticker',
      msgId: normMsgId.output(
        'coinbase',
        this.product,
        'ticker',
        f.src,
        this.nextIndex('ticker', f.src),
      ),
      message: tickerMessage(t, { seq, recvUs: f.recvUs, flags }),
      src: f.src,
      ackFor: f.src,
    });
  }

  /**
   * Exchange tickers are ordered by `sequence`, Advanced Trade ones by (connection,
   * `sequence_num`), accepted once per frame. Asked only for a ticker not yet reflected.
   */
  private tickerOrder(
    t: TickerResult,
    f: RawFrame,
    atSequenceNum: number | undefined | false,
  ): 'ok' | 'stale' {
    if (atSequenceNum !== false)
      return (this.atOrder ??= this.atTickers.accept(f.connId, atSequenceNum));
    return t.sequence === undefined ? 'ok' : this.tickers.accept(t.sequence);
  }

  private onBook(
    m: Extract<MapResult, { kind: 'snapshot' | 'l2update' }>,
    f: RawFrame,
    nowMs: number,
    r: FrameResult,
  ): void {
    if (m.time !== undefined) this.noteTime(m.time, m.flags);
    this.lastBookTime = m.time ?? this.lastValidTime ?? isoFromMicros(f.recvUs);
    const res =
      m.kind === 'snapshot'
        ? this.book.applySnapshot(m.bids, m.asks, m.dropped)
        : this.book.applyChanges(m.changes, m.dropped);
    const fresh = f.src > this.marks.book.src;
    this.lastBookSrc = f.src;
    if (res.invalidated !== undefined) {
      this.throttle.cancel();
      r.events.push({ kind: 'book_invalid', reason: res.invalidated });
      if (fresh) {
        this.status(r, 'book_invalid', res.invalidated, f.src, f.recvUs);
        r.resync = res.invalidated;
      }
      return;
    }
    if (res.resynced) {
      r.events.push({ kind: 'book_resynced' });
      if (fresh) this.status(r, 'book_resynced', 'snapshot', f.src, f.recvUs);
    }
    if (!res.valid) {
      // Still waiting for a snapshot (e.g. l2updates after a resubscribe): keep asking.
      if (fresh && m.kind === 'l2update') r.resync = this.book.invalidReason ?? 'invalid';
      return;
    }
    if (!fresh || !(res.topChanged || res.resynced)) return;
    const d = this.throttle.onChange(nowMs);
    if (d.kind === 'publish_now') this.publishBook(r, f.src);
  }

  private onMarker(m: Extract<MapResult, { kind: 'marker' }>, f: RawFrame, r: FrameResult): void {
    if (f.src <= this.marks.status.src) return;
    switch (m.state) {
      case 'connected':
        this.status(r, 'feed_reconnected', 'connected', f.src, f.recvUs);
        this.invalidateBook(r, 'reconnect', f.src);
        break;
      case 'stale':
        this.status(r, 'feed_stale', m.reason ?? 'no_data', f.src, f.recvUs);
        break;
      case 'resubscribed':
        this.invalidateBook(r, m.reason ?? 'resubscribed', f.src, false);
        break;
      case 'dropped':
        this.invalidateBook(r, m.reason ?? 'dropped', f.src);
        break;
      default:
        assertNever(m.state);
    }
  }

  /** Marks the book invalid (once) and announces it; `resync` false when one is under way. */
  private invalidateBook(r: FrameResult, reason: string, src: number, resync = true): void {
    if (this.book.invalidate(reason) === undefined) return;
    this.throttle.cancel();
    r.events.push({ kind: 'book_invalid', reason });
    this.status(r, 'book_invalid', reason, src, this.lastRecvUs);
    if (resync) r.resync = reason;
  }

  private publishBook(r: FrameResult, src: number): void {
    const seq = ++this.marks.book.seq;
    this.marks.book.src = Math.max(this.marks.book.src, src);
    r.outputs.push({
      kind: 'book',
      msgId: normMsgId.output('coinbase', this.product, 'book', src, this.nextIndex('book', src)),
      message: bookMessage(this.product, this.book.top(this.opts.topN), {
        seq,
        recvUs: this.lastRecvUs,
        time: this.lastBookTime ?? isoFromMicros(this.lastRecvUs),
      }),
      src,
    });
  }

  private status(
    r: FrameResult,
    event: Status['event'],
    reason: string,
    src: number,
    recvUs: number,
    idSuffix?: string,
    range?: { from: string; to: string },
  ): void {
    const seq = ++this.marks.status.seq;
    this.marks.status.src = Math.max(this.marks.status.src, src);
    const msgId =
      range !== undefined
        ? normMsgId.gap('coinbase', this.product, range.from, range.to)
        : idSuffix !== undefined
          ? `coinbase:${this.product}:status:${idSuffix}`
          : normMsgId.output(
              'coinbase',
              this.product,
              'status',
              src,
              this.nextIndex('status', src),
            );
    r.outputs.push({
      kind: 'status',
      msgId,
      message: statusMessage(this.product, event, reason, {
        seq,
        recvUs,
        time: this.lastValidTime ?? isoFromMicros(recvUs),
        ...(range ?? {}),
      }),
      src,
    });
  }

  private nextIndex(kind: 'ticker' | 'book' | 'status', src: number): number {
    if (this.indexSrc[kind] !== src) {
      this.indexSrc[kind] = src;
      this.indexNext[kind] = 0;
    }
    return this.indexNext[kind]++;
  }

  private noteTime(time: string, flags: readonly Flag[]): void {
    if (!flags.includes('time_substituted')) this.lastValidTime = time;
  }
}

function emptyResult(): FrameResult {
  return { outputs: [], events: [], held: false, released: [] };
}
