import type { Normalized, Status } from '../../common/schemas/normalized.js';
import type { Channel, GatewayErrorCode } from './protocol.js';
import { wsTextFrame } from './ws-frame.js';

/**
 * Server frames, serialized once: the frame for one MD_NORM message is built when the
 * message arrives, WebSocket header included (ws-frame.ts), and the same bytes go to every
 * subscriber and into the resume ring. Products come from the configuration, channels and
 * codes are constants, so only the data and client-given values need JSON.stringify.
 */

/** What an outbox holds: bytes plus what conflation and slow-client gaps need to know. */
export interface OutFrame {
  /** The WebSocket frame: what is written to sockets. */
  readonly wire: Buffer;
  /** Its JSON payload (a view into `wire`). */
  readonly bytes: Buffer;
  /** MD_NORM stream sequence for frames that carry one. */
  readonly offset?: number;
  readonly product?: string;
  /**
   * ticker/book/heartbeat frames may be conflated (newest wins), trades turn into a
   * slow_client gap, `other` frames are always delivered.
   */
  readonly kind: 'ticker' | 'book' | 'trade' | 'heartbeat' | 'other';
  /** trades: the trade id as a number. */
  readonly tradeId?: number;
  /** update frames: where `"data":` starts in `bytes` (conflated variant, snapshots). */
  readonly dataAt?: number;
  /** The `"conflated":true` variant's wire bytes, built on first use and shared. */
  conflated?: Buffer;
}

export interface GapRange {
  from: number;
  to: number;
  fromOffset: number;
  toOffset: number;
}

function framed(text: string): { wire: Buffer; bytes: Buffer } {
  const f = wsTextFrame(text);
  return { wire: f.wire, bytes: f.payload };
}

export function channelOf(kind: Normalized['type']): Channel | undefined {
  switch (kind) {
    case 'trade':
      return 'trades';
    case 'ticker':
      return 'ticker';
    case 'book':
      return 'book';
    case 'status':
      return undefined;
  }
}

/**
 * The frame an MD_NORM message becomes: `update` for trade/ticker/book, `gap`
 * (upstream_drop) or `status` for status messages. `dataJson` is the validated message.
 */
export function messageFrame(msg: Normalized, offset: number, dataJson: string): OutFrame {
  const product = msg.product;
  if (msg.type === 'status') return statusMessageFrame(msg, offset);
  const channel = channelOf(msg.type) ?? 'trades';
  const head = `{"op":"update","channel":"${channel}","product":"${product}","offset":${offset},"seq":${msg.seq},`;
  const f = framed(`${head}"data":${dataJson}}`);
  // The head is ASCII (config products, numbers), so its length in bytes is its length.
  const dataAt = head.length;
  if (msg.type === 'trade') {
    return { ...f, offset, product, kind: 'trade', tradeId: Number(msg.trade_id), dataAt };
  }
  return { ...f, offset, product, kind: msg.type, dataAt };
}

/** The wire bytes with `"conflated":true` (update frames; others are returned as they are). */
export function conflatedWire(frame: OutFrame): Buffer {
  if (frame.dataAt === undefined) return frame.wire;
  const at = frame.dataAt;
  frame.conflated ??= wsTextFrame(
    `${frame.bytes.toString('utf8', 0, at)}"conflated":true,${frame.bytes.toString('utf8', at)}`,
  ).wire;
  return frame.conflated;
}

/** The message JSON inside an update frame (for snapshots: no second copy is kept). */
export function dataJsonOf(frame: OutFrame): string {
  if (frame.dataAt === undefined) return 'null';
  return frame.bytes.toString('utf8', frame.dataAt + '"data":'.length, frame.bytes.length - 1);
}

function statusMessageFrame(msg: Status, offset: number): OutFrame {
  const product = msg.product;
  if (msg.event === 'gap') {
    const from = Number(msg.from ?? msg.to ?? 0);
    const to = Number(msg.to ?? msg.from ?? 0);
    const text = `{"op":"gap","channel":"trades","product":"${product}","offset":${offset},"from":${from},"to":${to},"reason":"upstream_drop"}`;
    return { ...framed(text), offset, product, kind: 'other' };
  }
  const text = `{"op":"status","product":"${product}","offset":${offset},"event":"${msg.event}","reason":${JSON.stringify(msg.reason)}}`;
  return { ...framed(text), offset, product, kind: 'other' };
}

/** The wire bytes of a slow_client gap frame. */
export function slowGapFrame(product: string, g: GapRange): Buffer {
  return wsTextFrame(
    `{"op":"gap","channel":"trades","product":"${product}","offset":${g.toOffset},"from":${g.from},"to":${g.to},"reason":"slow_client","from_offset":${g.fromOffset},"to_offset":${g.toOffset}}`,
  ).wire;
}

export function snapshotFrame(
  channel: Channel,
  product: string,
  offset: number,
  dataJson: string,
): OutFrame {
  const text = `{"op":"snapshot","channel":"${channel}","product":"${product}","offset":${offset},"data":${dataJson}}`;
  return { ...framed(text), offset, product, kind: 'other' };
}

export function subscribedFrame(
  subscriptions: ReadonlyMap<string, ReadonlySet<Channel>>,
  id: string | number | undefined,
): OutFrame {
  const channels = new Set<Channel>();
  const byProduct: Record<string, Channel[]> = {};
  for (const [product, set] of subscriptions) {
    byProduct[product] = [...set].sort();
    for (const c of set) channels.add(c);
  }
  const frame = {
    op: 'subscribed',
    channels: [...channels].sort(),
    products: Object.keys(byProduct).sort(),
    subscriptions: byProduct,
    ...(id === undefined ? {} : { id }),
  };
  return { ...framed(JSON.stringify(frame)), kind: 'other' };
}

export function errorFrame(
  code: GatewayErrorCode,
  message: string,
  extra: { retryAfterMs?: number; id?: string | number; product?: string } = {},
): OutFrame {
  const frame = {
    op: 'error',
    code,
    message,
    ...(extra.retryAfterMs === undefined ? {} : { retry_after_ms: Math.ceil(extra.retryAfterMs) }),
    ...(extra.product === undefined ? {} : { product: extra.product }),
    ...(extra.id === undefined ? {} : { id: extra.id }),
  };
  return { ...framed(JSON.stringify(frame)), kind: 'other' };
}

export function pongFrame(id: unknown): OutFrame {
  const frame = id === undefined ? { op: 'pong' } : { op: 'pong', id };
  return { ...framed(JSON.stringify(frame)), kind: 'other' };
}

export function heartbeatFrame(nowMs: number): OutFrame {
  const text = `{"op":"heartbeat","time":"${new Date(nowMs).toISOString()}"}`;
  return { ...framed(text), kind: 'heartbeat' };
}
