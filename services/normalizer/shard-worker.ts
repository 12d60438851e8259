import {
  jetstream,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, LedgerFluxError, describeError } from '../common/errors.js';
import { ensureDurable } from '../common/durable.js';
import type { Logger } from '../common/logger.js';
import { sleep } from '../common/lifecycle.js';
import { Publisher } from '../common/publisher.js';
import { H, headerText, nowUs } from '../common/schemas/headers.js';
import type { Normalized } from '../common/schemas/normalized.js';
import {
  FEEDS,
  dlqMsgId,
  dlqSubject,
  normSubject,
  parseRawSubject,
  rawShardFilter,
  resyncSubject,
  shardOf,
  type DlqReason,
  type Feed,
  type NormKind,
  type RawSubject,
} from '../common/subjects.js';
import { SEQ_BUCKET, STREAMS, verifyTopology } from '../common/topology.js';
import type { NormalizerConfig } from './config.js';
import {
  ProductProcessor,
  type FrameResult,
  type Output,
  type ProductMarks,
} from './core/product-processor.js';
import { maxTradeId } from './core/sequencer.js';
import {
  ignoredTypeLabel,
  invalidReasonLabel,
  type NormalizerMetrics,
  type RestartReason,
} from './metrics.js';
import { checkpointKey, restoreMarks } from './restore.js';
import { SecondWriterError, SerializedPublisher } from './serialized-publisher.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Silent this long while the durable has messages for us, or has delivered more than we
 * received: a delivery lost in transit (a pull answered by a consumer leader that died).
 */
export const SHARD_STALL_MS = 6_000;

/** The worker cannot go on from where it is; main.ts starts a new one from the ack floor. */
export class ShardRestartError extends LedgerFluxError {
  constructor(
    readonly reason: RestartReason,
    message: string,
  ) {
    super(ErrorCode.CONSUMER_LOST, message);
    this.name = 'ShardRestartError';
  }
}

interface PendingRaw {
  msg: JsMsg;
  outstanding: number;
  held: boolean;
  startedMs: number;
}

interface ProductState {
  processor: ProductProcessor;
  /** Marks of what is confirmed stored: the only thing safe to checkpoint. */
  stored: ProductMarks;
  dirty: boolean;
  resyncing: boolean;
  /** The feed of the product's latest raw frame: where resync requests go. */
  feed: Feed | undefined;
  /** Its MD_NORM subjects, built once. */
  subjects: Readonly<Record<NormKind, string>>;
}

/** Distinct raw subjects remembered parsed; past this the memo starts over (bounded memory). */
const SUBJECT_MEMO_MAX = 4_096;

/**
 * Normalizer shard k: consumes durable `normalizer-<k>` on MD_RAW (`md.raw.*.<k>.>`),
 * runs each frame through its product's processor, publishes the outputs serialized per
 * subject, and acks a raw frame only after its outputs' PubAcks.
 */
export class ShardWorker {
  private readonly products = new Map<string, ProductState>();
  private readonly pending = new Map<number, PendingRaw>();
  private readonly rawSubjects = new Map<string, RawSubject | undefined>();
  private readonly abort = new AbortController();
  private publisher!: SerializedPublisher;
  private dlq!: Publisher;
  private jsm!: JetStreamManager;
  private kv!: KV;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private fatal: Error | undefined;
  private failedResolve: (err: Error) => void = () => undefined;
  /** Resolves with the error that stopped this worker (it never rejects). */
  readonly failed = new Promise<Error>((resolve) => {
    this.failedResolve = resolve;
  });
  /** The durable's delivery sequence of the last message received: it must count up by one. */
  private lastDelivery = 0;
  private lastMessageMs = Date.now();
  /** The highest stream sequence processed: a redelivery at or below it is a lost ack. */
  private processedMax = 0;

  constructor(
    private readonly config: Readonly<NormalizerConfig>,
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly metrics: NormalizerMetrics,
    private readonly onFatal: (err: Error) => void = () => undefined,
  ) {}

  get durableName(): string {
    return `normalizer-${String(this.config.SHARD)}`;
  }

  get ownedProducts(): string[] {
    return this.config.PRODUCTS.filter((p) => shardOf(p, this.config.SHARDS) === this.config.SHARD);
  }

  async start(): Promise<void> {
    this.jsm = await verifyTopology(this.nc, [STREAMS.raw, STREAMS.norm, STREAMS.dlq], true);
    await this.checkShardTokens();
    this.kv = await new Kvm(this.nc).open(SEQ_BUCKET);
    this.publisher = new SerializedPublisher(
      this.nc,
      this.jsm,
      STREAMS.norm,
      this.log.child({ component: 'publisher' }),
      5_000,
      (outcome) => {
        this.metrics.wrongLastSequence.labels(String(this.config.SHARD), outcome).inc();
      },
      (by) => {
        this.metrics.lostPubAcks.labels(String(this.config.SHARD), by).inc();
      },
    );
    this.dlq = new Publisher(this.nc, { window: 64, log: this.log.child({ component: 'dlq' }) });
    for (const product of this.ownedProducts) {
      const state = await this.productState(product);
      this.apply(product, state.processor.announceRestart(nowUs()), undefined);
    }
    await ensureDurable(
      this.jsm,
      {
        stream: STREAMS.raw,
        name: this.durableName,
        filter: rawShardFilter(this.config.SHARD),
        ackWaitMs: this.config.ACK_WAIT_MS,
        maxAckPending: this.config.MAX_ACK_PENDING,
      },
      this.log,
    );
    const consumer = await jetstream(this.nc).consumers.get(STREAMS.raw, this.durableName);
    this.messages = await consumer.consume({
      max_messages: 500,
      expires: this.config.PULL_EXPIRES_MS,
    });
    this.loop = this.consumeLoop(this.messages);
    this.timers.push(
      // Through setImmediate: after a stall (a busy machine), frames already received are
      // read before a window is expired, so a trade that did arrive is not called missing.
      setInterval(() => {
        setImmediate(() => {
          this.tick();
        });
      }, 20),
    );
    this.timers.push(setInterval(() => void this.checkpoint(), this.config.CHECKPOINT_MS));
    this.timers.push(setInterval(() => void this.sampleLag(consumer), 2_000));
    for (const t of this.timers) t.unref();
  }

  /** Stop pulling, let in-flight outputs land and their frames be acked, checkpoint. */
  async stop(): Promise<void> {
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    await this.messages?.close();
    await this.loop;
    const deadline = Date.now() + 10_000;
    while (this.publisher.inFlight > 0 && Date.now() < deadline) await sleep(20);
    this.publisher.stop();
    await this.dlq.close();
    await this.checkpoint();
  }

  private async consumeLoop(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) {
        if (this.fatal !== undefined) break;
        this.lastMessageMs = Date.now();
        // A hole (or a step back) in the delivery sequence means a delivery was lost on its
        // way (a consumer leader change): the frames after it must not be processed before
        // it. Start again from the ack floor.
        const dseq = m.info.deliverySequence;
        if (this.lastDelivery !== 0 && dseq !== this.lastDelivery + 1) {
          this.fail(
            new ShardRestartError(
              'delivery_lost',
              `delivery ${String(dseq)} after ${String(this.lastDelivery)}`,
            ),
          );
          break;
        }
        this.lastDelivery = dseq;
        if (m.info.redelivered) {
          // Still in work: the first copy's ack settles it. Done already: its ack was lost
          // (a consumer leader change), so ack again. Anything else was never delivered.
          if (this.pending.has(m.seq)) continue;
          if (m.seq <= this.processedMax) {
            m.ack();
            continue;
          }
          this.fail(
            new ShardRestartError(
              'delivery_lost',
              `stream seq ${String(m.seq)} redelivered before its first delivery`,
            ),
          );
          break;
        }
        this.processedMax = Math.max(this.processedMax, m.seq);
        // The common case is synchronous; only a product's first frame restores state.
        const parsed = this.parseSubject(m.subject);
        if (parsed?.kind === 'product' && !this.products.has(parsed.product)) {
          await this.productState(parsed.product);
        }
        this.onMessage(m, parsed);
      }
    } catch (err) {
      if (!this.abort.signal.aborted) this.fail(err);
    }
  }

  /** parseRawSubject, remembered: a shard sees the same few subjects all day. */
  private parseSubject(subject: string): RawSubject | undefined {
    if (this.rawSubjects.has(subject)) return this.rawSubjects.get(subject);
    if (this.rawSubjects.size >= SUBJECT_MEMO_MAX) this.rawSubjects.clear();
    const parsed = parseRawSubject(subject);
    this.rawSubjects.set(subject, parsed);
    return parsed;
  }

  private onMessage(m: JsMsg, parsed: RawSubject | undefined): void {
    this.metrics.hot.in.inc();
    const headers = readRawHeaders(m);
    const state = parsed?.kind === 'product' ? this.products.get(parsed.product) : undefined;
    if (parsed?.kind !== 'product' || typeof headers === 'string' || state === undefined) {
      this.toDlq(
        m,
        'bad_header',
        typeof headers === 'string' ? headers : 'subject is not a raw product subject',
      );
      return;
    }
    const raw = { feed: parsed.feed, src: m.seq, ...headers, text: dec.decode(m.data) };
    state.feed = parsed.feed;
    this.pending.set(m.seq, { msg: m, outstanding: 0, held: false, startedMs: performance.now() });
    const result = state.processor.onFrame(raw, Date.now());
    if (result.invalid !== undefined) {
      // The frame goes to MD_DLQ, but its result can still carry outputs: held trades (and
      // their gap) whose window expired as it arrived, a book invalidated by a new
      // connection id. Dropping them lost those trades and left holes in `seq`.
      this.pending.delete(m.seq);
      this.apply(parsed.product, result, undefined);
      this.toDlq(m, result.invalid.reason, result.invalid.error);
      return;
    }
    this.apply(parsed.product, result, m.seq);
  }

  /** Publishes a result's outputs and settles acks; `current` is the frame just processed. */
  private apply(product: string, r: FrameResult, current: number | undefined): void {
    const shard = String(this.config.SHARD);
    const state = this.products.get(product);
    for (const e of r.events) {
      if (e.kind === 'duplicate_trade') this.metrics.duplicates.labels(shard, 'trade').inc();
      else if (e.kind === 'stale_ticker') this.metrics.duplicates.labels(shard, 'ticker').inc();
      else if (e.kind === 'late_trade') this.metrics.late.labels(shard).inc();
      else if (e.kind === 'gap') {
        this.metrics.gaps.labels(shard).inc();
        this.metrics.gapTrades.labels(shard).inc(Number(BigInt(e.to) - BigInt(e.from) + 1n));
      } else if (e.kind === 'book_invalid')
        this.metrics.bookInvalid.labels(shard, invalidReasonLabel(e.reason)).inc();
      else if (e.kind === 'book_resynced') this.metrics.bookResyncs.labels(shard).inc();
      else if (e.kind === 'flag') this.metrics.flags.labels(shard, e.flag).inc();
      else if (e.kind === 'skipped_reflected') this.metrics.skipped.labels(shard).inc();
      else this.metrics.ignored.labels(shard, ignoredTypeLabel(e.type)).inc();
    }
    if (current !== undefined) {
      const p = this.pending.get(current);
      if (p !== undefined) p.held = r.held;
    }
    for (const held of r.released) {
      const p = this.pending.get(held);
      if (p !== undefined) p.held = false;
    }
    for (const out of r.outputs) {
      const key = out.ackFor ?? out.src;
      const p = this.pending.get(key);
      if (p !== undefined) p.outstanding++;
      this.publish(product, out, p === undefined ? undefined : key);
    }
    if (current !== undefined) this.maybeAck(current);
    for (const held of r.released) this.maybeAck(held);
    if (r.resync !== undefined && state !== undefined)
      void this.requestResync(product, state, r.resync);
  }

  private publish(product: string, out: Output, ackKey: number | undefined): void {
    const subjects = this.products.get(product)?.subjects ?? normSubjects(product);
    const subject = subjects[out.kind];
    const chain = publishChain(subjects, out.kind);
    const pubUs = nowUs();
    const headers = { [H.src]: String(out.src), [H.pubUs]: String(pubUs) };
    this.publisher
      .publish(subject, enc.encode(JSON.stringify(out.message)), out.msgId, headers, chain)
      .then(
        () => {
          this.metrics.hot.out[out.kind].inc();
          this.metrics.hot.ingestToPublish.observe(Math.max(0, pubUs - out.message.recv_us) / 1e6);
          this.noteStored(product, out.src, out.message);
          if (ackKey !== undefined) {
            const p = this.pending.get(ackKey);
            if (p !== undefined) p.outstanding--;
            this.maybeAck(ackKey);
          }
        },
        (err: unknown) => {
          if (err instanceof LedgerFluxError && err.code === ErrorCode.PUBLISHER_CLOSED) return;
          this.fail(err);
        },
      );
  }

  private maybeAck(seq: number): void {
    const p = this.pending.get(seq);
    if (p === undefined || p.outstanding > 0 || p.held) return;
    this.pending.delete(seq);
    this.publisher.sends.defer(() => {
      p.msg.ack();
    });
    this.metrics.hot.processing.observe((performance.now() - p.startedMs) / 1000);
  }

  private noteStored(product: string, src: number, msg: Normalized): void {
    const state = this.products.get(product);
    if (state === undefined) return;
    const s = state.stored;
    const k = s[msg.type];
    k.seq = Math.max(k.seq, msg.seq);
    k.src = Math.max(k.src, src);
    if (msg.type === 'trade') s.trade.hw = maxTradeId(s.trade.hw, msg.trade_id);
    if (msg.type === 'status' && msg.event === 'gap' && msg.to !== undefined)
      s.trade.hw = maxTradeId(s.trade.hw, msg.to);
    if (msg.type === 'ticker' && msg.sequence !== undefined)
      s.ticker.sequence = maxTradeId(s.ticker.sequence, msg.sequence);
    state.dirty = true;
  }

  private toDlq(m: JsMsg, reason: DlqReason, error: string): void {
    this.metrics.dlq.labels(String(this.config.SHARD), reason).inc();
    this.log.warn(
      { src: m.seq, subject: m.subject, reason, error: error.slice(0, 200) },
      'raw frame sent to MD_DLQ',
    );
    const feed = parseRawSubject(m.subject)?.feed ?? 'coinbase';
    void this.dlq
      .publish({
        subject: dlqSubject(feed, reason),
        payload: m.data,
        msgId: dlqMsgId(m.seq),
        headers: {
          // The raw headers travel along, so `ledgerflux dlq replay` can restore the frame.
          ...copyHeaders(m, [H.recvUs, H.connId, H.connSeq, H.type]),
          [H.reason]: reason,
          [H.srcSubject]: m.subject,
          [H.srcSeq]: String(m.seq),
          [H.error]: headerText(error, 500),
        },
      })
      .then((o) => {
        if (o.kind === 'stored') m.ack();
        else
          this.log.error(
            { src: m.seq, outcome: o.kind },
            'MD_DLQ publish failed; frame left unacked for redelivery',
          );
      });
  }

  private tick(): void {
    const now = Date.now();
    for (const [product, state] of this.products) {
      const due = state.processor.nextDeadline();
      if (due !== undefined && due <= now)
        this.apply(product, state.processor.tick(now), undefined);
    }
    this.metrics.held
      .labels(String(this.config.SHARD))
      .set([...this.products.values()].reduce((n, s) => n + s.processor.heldTrades, 0));
    this.metrics.ackPending.labels(String(this.config.SHARD)).set(this.pending.size);
  }

  /** Retries with backoff until the book is valid again (the ingestor coalesces). */
  private async requestResync(product: string, state: ProductState, reason: string): Promise<void> {
    if (state.resyncing) return;
    state.resyncing = true;
    const shard = String(this.config.SHARD);
    try {
      // A function, not a condition: the book turns valid while we wait.
      const done = () => state.processor.bookValid || this.abort.signal.aborted;
      for (let attempt = 0; !done(); attempt++) {
        try {
          // Before the product's first frame (a restart) every feed's ingestor is asked.
          const feeds = state.feed === undefined ? FEEDS : [state.feed];
          const replies = await Promise.allSettled(
            feeds.map((feed) =>
              this.nc.request(
                resyncSubject(feed),
                enc.encode(JSON.stringify({ product, reason })),
                {
                  timeout: 2_000,
                },
              ),
            ),
          );
          const answered = replies.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
          if (answered.length === 0) {
            const failed = replies.find((x) => x.status === 'rejected');
            throw failed?.reason ?? new Error('no feed answered');
          }
          const accepted = answered.some(
            (reply) => (JSON.parse(dec.decode(reply.data)) as { accepted?: boolean }).accepted,
          );
          this.metrics.resyncRequests.labels(shard, accepted ? 'accepted' : 'refused').inc();
        } catch (err) {
          this.metrics.resyncRequests.labels(shard, 'no_answer').inc();
          if (attempt === 0)
            this.log.warn(
              { product, err: describeError(err) },
              'resync request unanswered; retrying',
            );
        }
        // Wait for the snapshot; ask again with backoff (up to 5 minutes) if none comes.
        const waitMs = Math.min(5_000 * 2 ** attempt, 300_000);
        const until = Date.now() + waitMs;
        while (Date.now() < until && !done()) await sleep(100, this.abort.signal);
      }
    } finally {
      state.resyncing = false;
    }
  }

  private async productState(product: string): Promise<ProductState> {
    const existing = this.products.get(product);
    if (existing !== undefined) return existing;
    const marks = await restoreMarks(this.jsm, this.kv, product, this.publisher);
    const c = this.config;
    const processor = new ProductProcessor(
      product,
      {
        windowMs: c.REORDER_WINDOW_MS,
        windowMsgs: c.REORDER_WINDOW_MSGS,
        topN: c.BOOK_TOP_N,
        bookMinIntervalMs: c.BOOK_MIN_INTERVAL_MS,
        validate: { priceJumpPct: c.PRICE_JUMP_PCT, absurdSpreadPct: c.ABSURD_SPREAD_PCT },
      },
      marks,
    );
    const state: ProductState = {
      processor,
      stored: structuredClone(marks),
      dirty: false,
      resyncing: false,
      feed: undefined,
      subjects: normSubjects(product),
    };
    this.products.set(product, state);
    this.log.info({ product, marks }, 'product state restored');
    return state;
  }

  private async checkpoint(): Promise<void> {
    for (const [product, state] of this.products) {
      if (!state.dirty) continue;
      state.dirty = false;
      try {
        await this.kv.put(checkpointKey(product), JSON.stringify(state.stored));
      } catch (err) {
        state.dirty = true;
        this.log.warn({ product, err: describeError(err) }, 'checkpoint failed');
      }
    }
  }

  private async sampleLag(consumer: {
    info(cached?: boolean): Promise<{ num_pending: number; delivered: { consumer_seq: number } }>;
  }): Promise<void> {
    try {
      const info = await consumer.info(false);
      this.metrics.lag.labels(String(this.config.SHARD)).set(info.num_pending);
      const silentMs = Date.now() - this.lastMessageMs;
      const owed = info.delivered.consumer_seq > this.lastDelivery;
      if (silentMs > SHARD_STALL_MS && (info.num_pending > 0 || owed)) {
        this.fail(
          new ShardRestartError(
            'stalled',
            `silent for ${String(silentMs)} ms with ${String(info.num_pending)} pending, delivered ${String(info.delivered.consumer_seq)} of which ${String(this.lastDelivery)} arrived`,
          ),
        );
      }
    } catch {
      // NATS away: the gauge keeps its last value; nats_connected tells.
    }
  }

  /** A shard whose raw subjects name shards ≥ SHARDS was configured for another count. */
  private async checkShardTokens(): Promise<void> {
    const info = await this.jsm.streams.info(STREAMS.raw, { subjects_filter: 'md.raw.*.*.*' });
    const shards = Object.keys(info.state.subjects ?? {}).map((s) => {
      const p = parseRawSubject(s);
      return p?.kind === 'product' ? p.shard : 0;
    });
    const highest = Math.max(0, ...shards);
    if (highest >= this.config.SHARDS) {
      throw new LedgerFluxError(
        ErrorCode.TOPOLOGY_MISMATCH,
        `MD_RAW holds shard tokens up to ${String(highest)} but SHARDS=${String(this.config.SHARDS)}: the ingestor and normalizers must agree on SHARDS`,
      );
    }
  }

  private fail(err: unknown): void {
    if (this.fatal !== undefined) return;
    this.fatal = err instanceof Error ? err : new Error(String(err));
    const second = err instanceof SecondWriterError;
    this.log.error({ err: describeError(err), secondWriter: second }, 'normalizer shard failed');
    this.onFatal(this.fatal);
    this.failedResolve(this.fatal);
  }
}

export function normSubjects(product: string): Record<NormKind, string> {
  return {
    trade: normSubject('coinbase', product, 'trade'),
    ticker: normSubject('coinbase', product, 'ticker'),
    book: normSubject('coinbase', product, 'book'),
    status: normSubject('coinbase', product, 'status'),
  };
}

const CONN_ID = /^[0-9a-f]{32}$/;
const UINT = /^(0|[1-9][0-9]{0,15})$/;

/** The raw headers of DESIGN.md, checked by hand: this runs once per frame. */
function readRawHeaders(
  m: JsMsg,
): { recvUs: number; connId: string; connSeq: number; type: string } | string {
  const h = m.headers;
  const recvUs = h?.get(H.recvUs) ?? '';
  const connId = h?.get(H.connId) ?? '';
  const connSeq = h?.get(H.connSeq) ?? '';
  const type = h?.get(H.type) ?? '';
  if (!UINT.test(recvUs)) return `bad ${H.recvUs}: ${JSON.stringify(recvUs)}`;
  if (!CONN_ID.test(connId)) return `bad ${H.connId}: ${JSON.stringify(connId)}`;
  if (!UINT.test(connSeq)) return `bad ${H.connSeq}: ${JSON.stringify(connSeq)}`;
  if (type === '') return `missing ${H.type}`;
  return { recvUs: Number(recvUs), connId, connSeq: Number(connSeq), type };
}

function copyHeaders(m: JsMsg, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = m.headers?.get(n);
    if (v !== undefined && v !== '') out[n] = v;
  }
  return out;
}

/**
 * The per-subject chain a message is published on. A gap and the trades after it are
 * stored in that order, so a client reading MD_NORM in order learns of the gap before the
 * trades that follow it: status messages share the product's trade chain. All of them do,
 * not only gaps: two chains writing one subject would reorder it (a gap stored after the
 * status message that followed it) and break its expected last sequence.
 */
export function publishChain(subjects: Record<NormKind, string>, kind: NormKind): string {
  return subjects[kind === 'status' ? 'trade' : kind];
}
