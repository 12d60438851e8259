/**
 * Replays a recording to subscribed clients, at the recorded pace (`speed` 1 = real
 * time, 10 = ten times faster) or as fast as possible (`'max'`), starting when the
 * first client subscribes (unless told to start at once).
 */
import { createReadStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { Logger } from '../common/logger.js';
import { sleep } from '../common/lifecycle.js';
import type { Channel } from './core/protocol.js';
import {
  parseRecordingLine,
  ReplayBook,
  ReplayClock,
  retime,
  toLastMatch,
  type ReplayFrame,
} from './core/replay.js';
import type { OutFrame } from './connection.js';
import type { FeedSource, Hub } from './hub.js';
import type { SimMetrics } from './metrics.js';
import { nowUs } from './synthetic.js';

export interface ReplayOptions {
  file: string;
  speed: number | 'max';
  /** Move recorded times to now (the frame's `time` value is rewritten in place). */
  retime: boolean;
  /** Start on the first subscribe (default) rather than at once. */
  waitForSubscriber: boolean;
}

/** Product ids named in a recording (the products clients may subscribe to). */
export async function scanProducts(file: string): Promise<string[]> {
  const found = new Set<string>();
  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of rl) {
    const f = parseRecordingLine(line);
    if (f?.product !== undefined) found.add(f.product);
  }
  return [...found];
}

const YIELD_EVERY = 256;

export class ReplaySource implements FeedSource {
  private hub: Hub | undefined;
  private readonly abort = new AbortController();
  private readonly book = new ReplayBook();
  private readonly lastMatch = new Map<string, ReplayFrame>();
  private readonly lastTicker = new Map<string, string>();
  private lastStatus: string | undefined;
  private running: Promise<void> | undefined;
  private resolveDone!: () => void;
  /** Resolves when the whole recording was sent (or the replay stopped). */
  readonly done = new Promise<void>((r) => (this.resolveDone = r));
  framesGenerated = 0;

  constructor(
    readonly products: readonly string[],
    private readonly opts: ReplayOptions,
    private readonly metrics: SimMetrics,
    private readonly logger: Logger,
  ) {}

  attach(hub: Hub): void {
    this.hub = hub;
  }

  start(): void {
    this.running ??= this.run().then(
      () => {
        this.resolveDone();
      },
      (err: unknown) => {
        this.logger.error(
          { err: err instanceof Error ? err.message : String(err) },
          'replay failed',
        );
        this.resolveDone();
      },
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    this.resolveDone();
  }

  initialFrames(channel: Channel, product: string): OutFrame[] {
    switch (channel) {
      case 'status':
        return this.lastStatus === undefined ? [] : [{ raw: this.lastStatus, kind: 'status' }];
      case 'matches': {
        const m = this.lastMatch.get(product);
        return m === undefined
          ? []
          : [{ raw: toLastMatch(m.raw), kind: 'last_match', product, tradeId: m.tradeId }];
      }
      case 'ticker': {
        const t = this.lastTicker.get(product);
        return t === undefined ? [] : [{ raw: t, kind: 'ticker', product }];
      }
      case 'level2_batch': {
        const s = this.book.snapshot(product);
        return s === undefined ? [] : [{ raw: s, kind: 'snapshot', product }];
      }
      case 'heartbeat':
        return [];
      default: {
        const never: never = channel;
        throw new Error(`unknown channel ${String(never)}`);
      }
    }
  }

  /** Only the last recorded match (replay serves the Exchange protocol only). */
  recentTrades(product: string): OutFrame[] {
    const m = this.lastMatch.get(product);
    return m === undefined ? [] : [{ raw: m.raw, kind: 'match', product, tradeId: m.tradeId }];
  }

  private async run(): Promise<void> {
    const hub = this.hub;
    if (hub === undefined) throw new Error('replay source not attached');
    const signal = this.abort.signal;
    const aborted = () => signal.aborted;
    if (this.opts.waitForSubscriber) {
      await Promise.race([
        hub.firstSubscribed,
        new Promise((r) => {
          signal.addEventListener('abort', r);
        }),
      ]);
    }
    if (aborted()) return;
    const clock = new ReplayClock(this.opts.speed);
    const startMs = performance.now();
    const startUs = nowUs();
    let n = 0;
    const rl = createInterface({
      input: createReadStream(this.opts.file, 'utf8'),
      crlfDelay: Infinity,
    });
    this.logger.info({ file: this.opts.file, speed: this.opts.speed }, 'replay started');
    try {
      for await (const line of rl) {
        if (aborted()) break;
        const frame = parseRecordingLine(line);
        if (frame === undefined) continue;
        const dueUs = clock.due(frame);
        const wait = startMs + dueUs / 1000 - performance.now();
        if (wait > 1) await sleep(wait, signal);
        else if (++n % YIELD_EVERY === 0) await new Promise<void>((r) => setImmediate(r));
        if (aborted()) break;
        const t = this.opts.speed === 'max' ? nowUs() : startUs + Math.round(dueUs);
        this.dispatch(hub, frame, t);
      }
    } finally {
      rl.close();
    }
    this.logger.info({ frames: this.framesGenerated }, 'replay finished');
  }

  private dispatch(hub: Hub, frame: ReplayFrame, timeUs: number): void {
    const raw =
      this.opts.retime && frame.timeUs !== undefined ? retime(frame.raw, timeUs) : frame.raw;
    const product = frame.product;
    if (frame.kind === 'snapshot' || frame.kind === 'l2update') this.book.apply(frame);
    if (frame.kind === 'last_match' && product !== undefined)
      this.lastMatch.set(product, { ...frame, raw });
    if (frame.skip) return;
    this.framesGenerated += 1;
    this.metrics.generated(frame.kind);
    const out: OutFrame = { raw, kind: frame.kind, product, tradeId: frame.tradeId };
    if (frame.channel === undefined) {
      hub.broadcast(out);
      return;
    }
    if (frame.channel === 'status') {
      this.lastStatus = raw;
      hub.publish('status', '', out);
      return;
    }
    if (product === undefined) {
      hub.broadcast(out);
      return;
    }
    if (frame.kind === 'match' && frame.tradeId !== undefined) {
      this.lastMatch.set(product, { ...frame, raw });
      hub.publishTrade(product, { ...out, tradeId: frame.tradeId });
      return;
    }
    if (frame.kind === 'ticker') this.lastTicker.set(product, raw);
    hub.publish(frame.channel, product, out);
  }
}
