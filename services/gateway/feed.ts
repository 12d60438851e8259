import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { randomBytes } from 'node:crypto';
import { nanos, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { H } from '../common/schemas/headers.js';
import { readNormalized } from '../common/schemas/normalized-reader.js';
import { NormalizedSchema } from '../common/schemas/normalized.js';
import { normSubject, parseNormSubject } from '../common/subjects.js';
import { STREAMS, verifyTopology } from '../common/topology.js';
import { channelOf, messageFrame } from './core/frames.js';
import type { FeedMessage } from './core/product-state.js';
import type { GatewayMetrics } from './metrics.js';

/**
 * MD_NORM in: ONE ordered consumer per gateway process on `md.norm.>` feeds every client
 * (hub.ts fans out in process). It starts RESUME_MAX_AGE_MS back, so a restarted gateway
 * can still serve resumes from its ring; the latest ticker/book/trade from before that
 * comes from a direct get (`last_by_subj`). Offsets older than the ring are read by
 * short-lived ordered consumers filtered on one product (`readHistory`), at most
 * RESUME_MAX_CONCURRENT at a time (HistoryPool).
 */

export interface FeedSink {
  /** Snapshot state only: the latest message of a subject from before the window. */
  seed(m: FeedMessage): void;
  /** Before any message: every message after `floor` will be delivered. */
  setFloor(floor: number): void;
  onMessage(m: FeedMessage): void;
  onCaughtUp(): void;
}

export type Decoded = FeedMessage | { invalid: 'schema' | 'unconfigured' };

const dec = new TextDecoder();

/**
 * Short pulls: after a NATS reconnect the client re-checks its consumer, and retries
 * that every `expires` (the default 30 s would stall the feed that long).
 */
const PULL_EXPIRES_MS = 2_000;

/**
 * The shared consumer is an ordered consumer: R1, ephemeral, on one server. When that
 * server dies the client does not always notice (no heartbeat is missed while its
 * connection moves to another server), and the feed stalls for good. So a watchdog: no
 * message or heartbeat for this long while the stream grew past the last delivered offset
 * re-creates the consumer right after that offset (no gap, no duplicate).
 */
export const FEED_WATCHDOG_MS = 6_000;

/** Trust boundary: subject, schema, and the subject agreeing with the payload. */
export function decodeNorm(
  subject: string,
  offset: number,
  data: Uint8Array,
  headers: MsgHdrs | undefined,
  atMs: number,
  products: ReadonlySet<string>,
): Decoded {
  const s = parseNormSubject(subject);
  if (s === undefined) return { invalid: 'schema' };
  if (!products.has(s.product)) return { invalid: 'unconfigured' };
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(data));
  } catch {
    return { invalid: 'schema' };
  }
  // The hand-written reader on the hot path; what it declines, the schema decides.
  const msg = readNormalized(raw) ?? NormalizedSchema.safeParse(raw).data;
  if (msg === undefined || msg.type !== s.kind || msg.product !== s.product) {
    return { invalid: 'schema' };
  }
  const dataJson = JSON.stringify(msg);
  // Kept only inside the frame's bytes: the ring holds one copy of each message.
  const pub = Number(headers?.get(H.pubUs));
  return {
    offset,
    product: s.product,
    kind: s.kind,
    channel:
      msg.type === 'status' ? (msg.event === 'gap' ? 'trades' : undefined) : channelOf(msg.type),
    atMs,
    pubUs: Number.isFinite(pub) && pub > 0 ? pub : undefined,
    frame: messageFrame(msg, offset, dataJson),
  };
}

/** Ordered consumers are named `<prefix>_<serial>`: unique per process and reader. */
function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

function isFeedMessage(d: Decoded): d is FeedMessage {
  return !('invalid' in d);
}

export interface FeedOptions {
  products: readonly string[];
  windowMs: number;
  log: Logger;
  metrics: GatewayMetrics;
}

export class Feed {
  private jsm: JetStreamManager | undefined;
  private messages: ConsumerMessages | undefined;
  private readonly products: ReadonlySet<string>;
  private caughtUp = false;
  private pendingAfterLast = 0;
  /** The MD_NORM offset last handed to the sink: a re-created consumer starts after it. */
  private lastSeq = 0;
  private lastActivityMs = Date.now();
  private watchdog: NodeJS.Timeout | undefined;
  private recreating = false;
  private stopped = false;
  /** Bumped per consumer: a closed one's late callbacks are ignored. */
  private generation = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: FeedOptions,
  ) {
    this.products = new Set(opts.products);
  }

  async start(sink: FeedSink): Promise<void> {
    const jsm = await verifyTopology(this.nc, [STREAMS.norm]);
    this.jsm = jsm;
    const startTime = new Date(Date.now() - this.opts.windowMs).toISOString();
    const floor = await this.floorAt(jsm, startTime);
    for (const product of this.opts.products) {
      for (const kind of ['ticker', 'book', 'trade'] as const) {
        const sm = await jsm.direct
          .getMessage(STREAMS.norm, { last_by_subj: normSubject('coinbase', product, kind) })
          .catch(() => null);
        // Messages after the floor come again through the consumer.
        if (sm === null || sm.seq > floor) continue;
        const m = this.decode(sm.subject, sm.seq, sm.data, sm.header, sm.time.getTime());
        if (m !== undefined) sink.seed(m);
      }
    }
    sink.setFloor(floor);
    this.lastSeq = floor;
    await this.consumeAfter(floor, sink);
    this.opts.log.info({ startTime, startSeq: floor + 1 }, 'shared MD_NORM consumer started');
    this.watchdog = setInterval(() => void this.checkAlive(sink), FEED_WATCHDOG_MS / 3);
    this.watchdog.unref();
  }

  private async consumeAfter(after: number, sink: FeedSink): Promise<void> {
    // By sequence, not opt_start_time: the client re-creates an ordered consumer from
    // its config plus a start sequence, and the server refuses both start options.
    const consumer = await jetstream(this.nc).consumers.get(STREAMS.norm, {
      name_prefix: uniqueName('gateway'),
      filter_subjects: 'md.norm.>',
      opt_start_seq: after + 1,
    });
    if (!this.caughtUp && (await consumer.info(true)).num_pending === 0) this.markCaughtUp(sink);
    this.lastActivityMs = Date.now();
    const gen = ++this.generation;
    const messages = await consumer.consume({
      max_messages: 1_000,
      expires: PULL_EXPIRES_MS,
      callback: (m) => {
        this.lastActivityMs = Date.now();
        // A re-created consumer can overlap the old one's last deliveries: never twice.
        if (m.seq <= this.lastSeq || gen !== this.generation) return;
        this.lastSeq = m.seq;
        try {
          const fm = this.decodeJs(m);
          if (fm !== undefined) sink.onMessage(fm);
          this.pendingAfterLast = m.info.pending;
          if (!this.caughtUp && m.info.pending === 0) this.markCaughtUp(sink);
        } catch (err) {
          this.opts.log.error({ err: describeError(err), seq: m.seq }, 'fan-out failed');
        }
      },
    });
    this.messages = messages;
    void this.watch(messages);
  }

  /** The watchdog: silent for FEED_WATCHDOG_MS while MD_NORM has newer messages. */
  private async checkAlive(sink: FeedSink): Promise<void> {
    if (this.recreating || this.stopped) return;
    if (Date.now() - this.lastActivityMs < FEED_WATCHDOG_MS) return;
    this.recreating = true;
    try {
      this.jsm ??= await jetstreamManager(this.nc);
      const last = (await this.jsm.streams.info(STREAMS.norm)).state.last_seq;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- stop() may run during the await
      if (last <= this.lastSeq || this.stopped) {
        this.lastActivityMs = Date.now();
        return;
      }
      const old = this.messages;
      this.messages = undefined;
      this.generation++;
      await old?.close().catch(() => undefined);
      await this.consumeAfter(this.lastSeq, sink);
      this.opts.metrics.feedRecreated.inc();
      this.opts.log.warn(
        { after: this.lastSeq, streamLast: last },
        'shared MD_NORM consumer silent while the stream grew: re-created',
      );
    } catch (err) {
      // NATS or JetStream away: the next check tries again.
      this.opts.log.debug({ err: describeError(err) }, 'feed watchdog check failed');
    } finally {
      this.recreating = false;
    }
  }

  /**
   * The last stream sequence before `time`: a short-lived consumer starting at that time
   * reports it as its delivered position (nats-server 2.9 has no direct get by time).
   */
  private async floorAt(jsm: JetStreamManager, time: string): Promise<number> {
    const name = uniqueName('gateway_probe');
    const info = await jsm.consumers.add(STREAMS.norm, {
      name,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: time,
      ack_policy: AckPolicy.None,
      filter_subject: 'md.norm.>',
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(30_000),
    });
    await jsm.consumers.delete(STREAMS.norm, name).catch(() => undefined);
    return info.delivered.stream_seq;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    await this.messages?.close().catch(() => undefined);
  }

  /** Messages the shared consumer had yet to deliver after the last one it delivered. */
  get pending(): number {
    return this.pendingAfterLast;
  }

  async streamBounds(): Promise<{ first: number; last: number }> {
    this.jsm ??= await jetstreamManager(this.nc);
    const info = await this.jsm.streams.info(STREAMS.norm);
    return { first: info.state.first_seq, last: info.state.last_seq };
  }

  /**
   * The product's messages after `after`, through a short-lived ordered consumer
   * (filter `md.norm.coinbase.<product>.*`, one string: nats-server 2.9). It ends when the
   * stream has nothing newer; the caller paces it by how fast it pulls.
   */
  async *readHistory(
    product: string,
    after: number,
    signal: AbortSignal,
  ): AsyncGenerator<FeedMessage, void, undefined> {
    const consumer = await jetstream(this.nc).consumers.get(STREAMS.norm, {
      name_prefix: uniqueName('gateway_resume'),
      filter_subjects: `md.norm.coinbase.${product}.*`,
      opt_start_seq: after + 1,
    });
    try {
      if ((await consumer.info(true)).num_pending === 0) return;
      const messages = await consumer.consume({ max_messages: 256, expires: PULL_EXPIRES_MS });
      // A reader waiting for a message (NATS down) stops when its client goes away.
      const stop = () => void messages.close().catch(() => undefined);
      signal.addEventListener('abort', stop, { once: true });
      try {
        for await (const m of messages) {
          if (signal.aborted) return;
          const fm = this.decodeJs(m);
          if (fm !== undefined) yield fm;
          if (m.info.pending === 0) return;
        }
      } finally {
        signal.removeEventListener('abort', stop);
        await messages.close().catch(() => undefined);
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  /** Consumer state changes go to the log (the ordered consumer recovers by itself). */
  private async watch(messages: ConsumerMessages): Promise<void> {
    for await (const n of messages.status()) {
      if (n.type === 'heartbeat') this.lastActivityMs = Date.now();
      if (n.type === 'ordered_consumer_recreated') {
        this.opts.log.info({ consumer: n.name }, 'shared consumer re-created');
      } else if (n.type !== 'next' && n.type !== 'heartbeats_missed') {
        this.opts.log.debug({ notification: n.type }, 'shared consumer notification');
      }
    }
  }

  private markCaughtUp(sink: FeedSink): void {
    this.caughtUp = true;
    this.opts.log.info('shared consumer caught up');
    sink.onCaughtUp();
  }

  private decodeJs(m: JsMsg): FeedMessage | undefined {
    return this.decode(
      m.subject,
      m.seq,
      m.data,
      m.headers,
      Math.floor(m.info.timestampNanos / 1e6),
    );
  }

  private decode(
    subject: string,
    seq: number,
    data: Uint8Array,
    headers: MsgHdrs | undefined,
    atMs: number,
  ): FeedMessage | undefined {
    const d = decodeNorm(subject, seq, data, headers, atMs, this.products);
    if (isFeedMessage(d)) {
      this.opts.metrics.feedMessages.labels(d.kind).inc();
      return d;
    }
    this.opts.metrics.feedInvalid.labels(d.invalid).inc();
    return undefined;
  }
}

/** At most `max` history readers at a time; the rest wait in order. */
export class HistoryPool {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly max: number,
    private readonly onChange: (active: number, queued: number) => void = () => undefined,
  ) {}

  /** Resolves with a release function, or undefined when the signal aborts first. */
  acquire(signal: AbortSignal): Promise<(() => void) | undefined> {
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        this.active++;
        this.changed();
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.active--;
          this.queue.shift()?.();
          this.changed();
        });
      };
      const onAbort = () => {
        const i = this.queue.indexOf(grant);
        if (i >= 0) this.queue.splice(i, 1);
        this.changed();
        resolve(undefined);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (this.active < this.max) grant();
      else {
        this.queue.push(grant);
        this.changed();
      }
    });
  }

  get stats(): { active: number; queued: number } {
    return { active: this.active, queued: this.queue.length };
  }

  private changed(): void {
    this.onChange(this.active, this.queue.length);
  }
}
