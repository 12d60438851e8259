import { ErrorCode, LedgerFluxError } from './errors.js';

/**
 * Subject and msg-id builders and parsers for the contracts in docs/architecture.md.
 * Tokens are validated so a product or reason can never inject a wildcard or a dot.
 */

export const FEEDS = ['coinbase', 'coinbase-at'] as const;
export type Feed = (typeof FEEDS)[number];
export const VENUES = ['coinbase'] as const;
export type Venue = (typeof VENUES)[number];
export const NORM_KINDS = ['trade', 'ticker', 'book', 'status'] as const;
export type NormKind = (typeof NORM_KINDS)[number];

const TOKEN = /^[A-Za-z0-9_-]+$/;

function token(value: string, what: string): string {
  if (!TOKEN.test(value)) {
    throw new LedgerFluxError(
      ErrorCode.SUBJECT_INVALID,
      `invalid ${what} token: ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * FNV-1a 32-bit over the UTF-8 bytes, modulo n: the same function as nats-server's
 * subject-mapping `partition()`, so a server-side mapping and the ingestor agree.
 */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(s, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function shardOf(product: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1)
    throw new RangeError(`shards must be a positive integer, got ${shards}`);
  return fnv1a32(product) % shards;
}

// MD_RAW

export function rawSubject(feed: Feed, shard: number, product: string): string {
  return `md.raw.${token(feed, 'feed')}.${String(shard)}.${token(product, 'product')}`;
}

/** Frames without a product (subscriptions acks, errors, status) go to the feed's control subject. */
export function rawControlSubject(feed: Feed, type: string): string {
  return `md.raw.${token(feed, 'feed')}.ctl.${token(type, 'type')}`;
}

export type RawSubject =
  | { kind: 'product'; feed: Feed; shard: number; product: string }
  | { kind: 'control'; feed: Feed; type: string };

export function parseRawSubject(subject: string): RawSubject | undefined {
  const parts = subject.split('.');
  if (parts.length !== 5 || parts[0] !== 'md' || parts[1] !== 'raw') return undefined;
  const [, , feed, mid, last] = parts as [string, string, string, string, string];
  if (!isFeed(feed) || !TOKEN.test(last)) return undefined;
  if (mid === 'ctl') return { kind: 'control', feed, type: last };
  if (!/^(0|[1-9][0-9]{0,5})$/.test(mid)) return undefined;
  return { kind: 'product', feed, shard: Number(mid), product: last };
}

/** The filter of normalizer k's durable consumer. */
export function rawShardFilter(shard: number): string {
  return `md.raw.*.${String(shard)}.>`;
}

// MD_NORM

export function normSubject(venue: Venue, product: string, kind: NormKind): string {
  return `md.norm.${token(venue, 'venue')}.${token(product, 'product')}.${kind}`;
}

export function parseNormSubject(
  subject: string,
): { venue: Venue; product: string; kind: NormKind } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 5 || parts[0] !== 'md' || parts[1] !== 'norm') return undefined;
  const [, , venue, product, kind] = parts as [string, string, string, string, string];
  if (!(VENUES as readonly string[]).includes(venue) || !TOKEN.test(product)) return undefined;
  if (!(NORM_KINDS as readonly string[]).includes(kind)) return undefined;
  return { venue: venue as Venue, product, kind: kind as NormKind };
}

// MD_DLQ and control

export const DLQ_REASONS = [
  'unparsable',
  'too_large',
  'schema',
  'unknown_type',
  'bad_header',
] as const;
export type DlqReason = (typeof DLQ_REASONS)[number];

export function dlqSubject(feed: Feed, reason: DlqReason): string {
  return `md.dlq.${token(feed, 'feed')}.${reason}`;
}

export function resyncSubject(feed: Feed): string {
  return `md.ctl.${token(feed, 'feed')}.resync`;
}

export function isFeed(s: string): s is Feed {
  return (FEEDS as readonly string[]).includes(s);
}

// Msg ids (Nats-Msg-Id)

export const rawMsgId = {
  trade: (feed: Feed, product: string, tradeId: string) => `${feed}:${product}:trade:${tradeId}`,
  ticker: (feed: Feed, product: string, sequence: string) =>
    `${feed}:${product}:ticker:${sequence}`,
  connScoped: (feed: Feed, product: string, type: string, connId: string, connSeq: number) =>
    `${feed}:${product}:${type}:${connId}:${String(connSeq)}`,
};

export const normMsgId = {
  trade: (venue: Venue, product: string, tradeId: string) => `${venue}:${product}:trade:${tradeId}`,
  output: (venue: Venue, product: string, kind: NormKind, src: number, index: number) =>
    `${venue}:${product}:${kind}:${String(src)}:${String(index)}`,
  gap: (venue: Venue, product: string, from: string, to: string) =>
    `${venue}:${product}:gap:${from}-${to}`,
};

export const dlqMsgId = (srcSeq: number | string) => `dlq:${String(srcSeq)}`;
