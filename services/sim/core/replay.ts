/**
 * Replay of recorded Exchange frames: parsing recording lines, routing frames to
 * channels, pacing, retiming, and the state a late subscriber needs (book, last trade,
 * last ticker). A line is a raw frame, or `{"lf":1,"recv_us":…,"frame":"<raw>"}`.
 * Frames are forwarded byte for byte (a JSON number like `1e-08` in a status frame
 * must not become `1e-8`); only `--retime` rewrites the `time` value in place.
 */
import { snapshotFrame } from './frames.js';
import type { FrameKind } from './faults.js';
import type { Channel } from './protocol.js';
import { formatMicros, parseMicros } from './time.js';

export interface ReplayFrame {
  raw: string;
  kind: FrameKind;
  /** Channel that carries it; undefined: unknown type or not JSON, sent to every subscriber. */
  channel: Channel | undefined;
  /** Recorded session artifacts (`subscriptions`, `error`, `last_match`, full channel): not forwarded. */
  skip: boolean;
  product: string | undefined;
  tradeId: number | undefined;
  /** Receive time from the lf wrapper, epoch µs. */
  recvUs: number | undefined;
  /** The frame's own `time`, epoch µs (undefined when absent or invalid, e.g. 0001-01-01). */
  timeUs: number | undefined;
  parsed: Record<string, unknown> | undefined;
}

const KIND_BY_TYPE: Readonly<
  Record<string, { kind: FrameKind; channel: Channel | undefined; skip: boolean }>
> = {
  heartbeat: { kind: 'heartbeat', channel: 'heartbeat', skip: false },
  ticker: { kind: 'ticker', channel: 'ticker', skip: false },
  match: { kind: 'match', channel: 'matches', skip: false },
  last_match: { kind: 'last_match', channel: 'matches', skip: true },
  snapshot: { kind: 'snapshot', channel: 'level2_batch', skip: false },
  l2update: { kind: 'l2update', channel: 'level2_batch', skip: false },
  status: { kind: 'status', channel: 'status', skip: false },
  subscriptions: { kind: 'subscriptions', channel: undefined, skip: true },
  error: { kind: 'error', channel: undefined, skip: true },
  // Full channel (needs auth; not served): received, open, done, change, activate.
  received: { kind: 'other', channel: undefined, skip: true },
  open: { kind: 'other', channel: undefined, skip: true },
  done: { kind: 'other', channel: undefined, skip: true },
  change: { kind: 'other', channel: undefined, skip: true },
  activate: { kind: 'other', channel: undefined, skip: true },
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Classifies one recorded frame. */
export function classifyFrame(raw: string, recvUs?: number): ReplayFrame {
  let parsed: Record<string, unknown> | undefined;
  try {
    const v: unknown = JSON.parse(raw);
    if (isRecord(v)) parsed = v;
  } catch {
    parsed = undefined;
  }
  const type = typeof parsed?.type === 'string' ? parsed.type : undefined;
  const route = type === undefined ? undefined : KIND_BY_TYPE[type];
  const product = typeof parsed?.product_id === 'string' ? parsed.product_id : undefined;
  const tradeId = typeof parsed?.trade_id === 'number' ? parsed.trade_id : undefined;
  const time = typeof parsed?.time === 'string' ? parseMicros(parsed.time) : undefined;
  return {
    raw,
    kind: route?.kind ?? 'other',
    channel: route?.channel,
    skip: route?.skip ?? false,
    product,
    tradeId,
    recvUs,
    timeUs: time,
    parsed,
  };
}

/** One line of a recording; undefined for blank lines. */
export function parseRecordingLine(line: string): ReplayFrame | undefined {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (text.trim() === '') return undefined;
  if (text.startsWith('{"lf":')) {
    try {
      const w: unknown = JSON.parse(text);
      if (isRecord(w) && w.lf === 1 && typeof w.frame === 'string') {
        return classifyFrame(w.frame, typeof w.recv_us === 'number' ? w.recv_us : undefined);
      }
    } catch {
      // not a wrapper after all: a raw frame
    }
  }
  return classifyFrame(text);
}

/** Replaces the frame's top-level `"time":"…"` value, leaving every other byte as is. */
export function retime(raw: string, timeUs: number): string {
  return raw.replace(/"time":"[^"]*"/, `"time":"${formatMicros(timeUs)}"`);
}

/** The `last_match` a late `matches` subscriber gets, from a recorded `match`. */
export function toLastMatch(raw: string): string {
  return raw.replace(/"type":"match"/, '"type":"last_match"');
}

/**
 * When each frame is due, in µs after the replay started: from `recv_us` when the
 * recording has it, else from the frames' `time` (frames without a valid time go with
 * the previous one; time never runs backwards). `speed` divides the recorded gaps.
 */
export class ReplayClock {
  private origin: number | undefined;
  private lastDue = 0;

  constructor(private readonly speed: number | 'max') {}

  due(frame: ReplayFrame): number {
    if (this.speed === 'max') return 0;
    const t = frame.recvUs ?? frame.timeUs;
    if (t === undefined) return this.lastDue;
    this.origin ??= t;
    const due = Math.max(this.lastDue, (t - this.origin) / this.speed);
    this.lastDue = due;
    return due;
  }
}

type Levels = Map<string, string>;

function isZero(size: string): boolean {
  return Number(size) === 0;
}

/** The recorded book per product, so a late level2 subscriber gets a current snapshot. */
export class ReplayBook {
  private readonly books = new Map<string, { bids: Levels; asks: Levels }>();

  apply(frame: ReplayFrame): void {
    const p = frame.parsed;
    if (p === undefined || frame.product === undefined) return;
    if (frame.kind === 'snapshot') {
      const book = { bids: new Map<string, string>(), asks: new Map<string, string>() };
      for (const [side, levels] of [
        ['bids', p.bids],
        ['asks', p.asks],
      ] as const) {
        if (!Array.isArray(levels)) continue;
        for (const level of levels as unknown[]) {
          if (!Array.isArray(level)) continue;
          const [price, size] = level as unknown[];
          if (typeof price === 'string' && typeof size === 'string' && !isZero(size))
            book[side].set(price, size);
        }
      }
      this.books.set(frame.product, book);
    } else if (frame.kind === 'l2update') {
      const book = this.books.get(frame.product);
      if (book === undefined || !Array.isArray(p.changes)) return;
      for (const change of p.changes as unknown[]) {
        if (!Array.isArray(change)) continue;
        const [side, price, size] = change as unknown[];
        if (typeof price !== 'string' || typeof size !== 'string') continue;
        const levels = side === 'buy' ? book.bids : side === 'sell' ? book.asks : undefined;
        if (levels === undefined) continue;
        if (isZero(size)) levels.delete(price);
        else levels.set(price, size);
      }
    }
  }

  has(product: string): boolean {
    return this.books.has(product);
  }

  snapshot(product: string): string | undefined {
    const book = this.books.get(product);
    if (book === undefined) return undefined;
    const sorted = (levels: Levels, desc: boolean) =>
      [...levels].sort((a, b) =>
        desc ? Number(b[0]) - Number(a[0]) : Number(a[0]) - Number(b[0]),
      );
    return snapshotFrame(product, sorted(book.bids, true), sorted(book.asks, false));
  }
}
