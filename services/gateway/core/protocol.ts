import { z } from 'zod';
import {
  BookSchema,
  STATUS_EVENTS,
  TickerSchema,
  TradeSchema,
} from '../../common/schemas/normalized.js';

/**
 * The gateway protocol (DESIGN.md "Gateway protocol"; docs/protocol.md): every client and
 * server frame as a zod schema. Client frames are validated at the trust boundary;
 * server frames are built by frames.ts and checked against these schemas in tests, and
 * docs/protocol/*.schema.json is generated from them.
 */

export const CHANNELS = ['ticker', 'trades', 'book'] as const;
export const ChannelSchema = z.enum(CHANNELS);
export type Channel = z.infer<typeof ChannelSchema>;

export const ERROR_CODES = [
  'BAD_REQUEST',
  'UNKNOWN_PRODUCT',
  'UNKNOWN_CHANNEL',
  'RATE_LIMITED',
  'TOO_MANY_SUBSCRIPTIONS',
  'UNAUTHORIZED',
  'OFFSET_EXPIRED',
  'FRAME_TOO_LARGE',
] as const;
export const ErrorCodeSchema = z.enum(ERROR_CODES);
export type GatewayErrorCode = z.infer<typeof ErrorCodeSchema>;

/** WebSocket close codes the gateway sends. */
export const CLOSE = {
  shutdown: 1001,
  tooBig: 1009,
  slowClient: 4000,
  unauthorized: 4001,
  abuse: 4008,
} as const;

const ProductId = z
  .string()
  .regex(/^[A-Z0-9]{1,15}-[A-Z0-9]{1,15}$/, 'product ids look like BTC-USD')
  .meta({ description: 'A product id from the gateway configuration, e.g. BTC-USD' });
const Offset = z.number().int().nonnegative().meta({ description: 'An MD_NORM stream sequence' });
const RequestId = z
  .union([z.string().max(64), z.number().int()])
  .meta({ description: 'Echoed in the `subscribed` or `error` frame that answers this request' });
/** Trade ids are decimal-integer strings in MD_NORM; Coinbase's fit in a double exactly. */
const TradeIdNumber = z.number().int().nonnegative();

// Client → server

export const SubscribeFrameSchema = z
  .strictObject({
    op: z.literal('subscribe'),
    channels: z.array(ChannelSchema).min(1).max(CHANNELS.length),
    products: z.array(ProductId).min(1).max(200),
    snapshot: z
      .boolean()
      .optional()
      .meta({ description: 'Send a snapshot first (default true); ignored for resumed products' }),
    from: z
      .record(ProductId, Offset)
      .optional()
      .meta({ description: 'Resume after these offsets: exactly the messages after each one' }),
    conflate_ms: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .optional()
      .meta({ description: 'At most one ticker/book update per interval (per product)' }),
    id: RequestId.optional(),
  })
  .meta({ title: 'subscribe', description: 'Subscribe to channels of products' });

export const UnsubscribeFrameSchema = z
  .strictObject({
    op: z.literal('unsubscribe'),
    channels: z.array(ChannelSchema).min(1).max(CHANNELS.length),
    products: z.array(ProductId).min(1).max(200),
    id: RequestId.optional(),
  })
  .meta({ title: 'unsubscribe', description: 'Remove channels of products' });

export const PingFrameSchema = z
  .strictObject({
    op: z.literal('ping'),
    id: z.unknown().optional().meta({ description: 'Any JSON value, echoed in the pong' }),
  })
  .meta({ title: 'ping', description: 'Application-level ping; answered by `pong`' });

export const ClientFrameSchema = z.discriminatedUnion('op', [
  SubscribeFrameSchema,
  UnsubscribeFrameSchema,
  PingFrameSchema,
]);
export type ClientFrame = z.infer<typeof ClientFrameSchema>;
export type SubscribeFrame = z.infer<typeof SubscribeFrameSchema>;
export type UnsubscribeFrame = z.infer<typeof UnsubscribeFrameSchema>;

// Server → client

export const SubscribedFrameSchema = z
  .object({
    op: z.literal('subscribed'),
    channels: z.array(ChannelSchema),
    products: z.array(z.string()),
    subscriptions: z
      .record(z.string(), z.array(ChannelSchema))
      .meta({ description: 'The exact set: channels per product' }),
    id: RequestId.optional(),
  })
  .meta({ title: 'subscribed', description: 'The whole resulting subscription set' });

const snapshotBase = { op: z.literal('snapshot'), product: z.string(), offset: Offset };
export const SnapshotFrameSchema = z
  .discriminatedUnion('channel', [
    z.object({
      ...snapshotBase,
      channel: z.literal('ticker'),
      data: TickerSchema.nullable(),
    }),
    z.object({ ...snapshotBase, channel: z.literal('book'), data: BookSchema.nullable() }),
    z.object({
      ...snapshotBase,
      channel: z.literal('trades'),
      data: z.array(TradeSchema).meta({ description: 'The last trades, oldest first' }),
    }),
  ])
  .meta({
    title: 'snapshot',
    description:
      'The latest ticker/book (null when there is none) or the last trades; `offset` is the ' +
      'stream sequence of the latest message included (the gateway position when empty)',
  });

const updateBase = {
  op: z.literal('update'),
  product: z.string(),
  offset: Offset,
  seq: z.number().int().positive().meta({ description: 'MD_NORM seq (per product and kind)' }),
  conflated: z
    .literal(true)
    .optional()
    .meta({ description: 'Earlier updates of this channel were folded into this one' }),
};
export const UpdateFrameSchema = z
  .discriminatedUnion('channel', [
    z.object({ ...updateBase, channel: z.literal('ticker'), data: TickerSchema }),
    z.object({ ...updateBase, channel: z.literal('book'), data: BookSchema }),
    z.object({ ...updateBase, channel: z.literal('trades'), data: TradeSchema }),
  ])
  .meta({ title: 'update', description: 'One MD_NORM message, strictly after the snapshot' });

export const GapFrameSchema = z
  .object({
    op: z.literal('gap'),
    channel: z.literal('trades'),
    product: z.string(),
    offset: Offset,
    from: TradeIdNumber.meta({ description: 'First missing trade id (inclusive)' }),
    to: TradeIdNumber.meta({ description: 'Last missing trade id (inclusive)' }),
    reason: z.enum(['upstream_drop', 'slow_client']),
    from_offset: Offset.optional().meta({ description: 'slow_client: first dropped offset' }),
    to_offset: Offset.optional().meta({ description: 'slow_client: last dropped offset' }),
  })
  .meta({
    title: 'gap',
    description:
      'Trades missing upstream, or dropped for this client (resume from from_offset - 1)',
  });

export const STATUS_FRAME_EVENTS = STATUS_EVENTS.filter(
  (e): e is Exclude<(typeof STATUS_EVENTS)[number], 'gap'> => e !== 'gap',
);
export const StatusFrameSchema = z
  .object({
    op: z.literal('status'),
    product: z.string(),
    offset: Offset,
    event: z.enum(STATUS_FRAME_EVENTS),
    reason: z.string(),
  })
  .meta({ title: 'status', description: 'A normalizer status event for the product' });

export const ErrorFrameSchema = z
  .object({
    op: z.literal('error'),
    code: ErrorCodeSchema,
    message: z.string(),
    retry_after_ms: z.number().int().nonnegative().optional(),
    product: z.string().optional().meta({ description: 'OFFSET_EXPIRED: the product' }),
    id: RequestId.optional(),
  })
  .meta({ title: 'error', description: 'A request was refused, or a resume offset expired' });

export const PongFrameSchema = z
  .object({ op: z.literal('pong'), id: z.unknown().optional() })
  .meta({ title: 'pong', description: 'Answer to a ping, with its id' });

export const HeartbeatFrameSchema = z
  .object({ op: z.literal('heartbeat'), time: z.iso.datetime() })
  .meta({ title: 'heartbeat', description: 'Sent every GATEWAY_HEARTBEAT_MS' });

export const ServerFrameSchema = z.union([
  SubscribedFrameSchema,
  SnapshotFrameSchema,
  UpdateFrameSchema,
  GapFrameSchema,
  StatusFrameSchema,
  ErrorFrameSchema,
  PongFrameSchema,
  HeartbeatFrameSchema,
]);
export type ServerFrame = z.infer<typeof ServerFrameSchema>;
export type SnapshotFrame = z.infer<typeof SnapshotFrameSchema>;
export type UpdateFrame = z.infer<typeof UpdateFrameSchema>;
export type GapFrame = z.infer<typeof GapFrameSchema>;
export type StatusFrame = z.infer<typeof StatusFrameSchema>;
export type ErrorFrame = z.infer<typeof ErrorFrameSchema>;
export type SubscribedFrame = z.infer<typeof SubscribedFrameSchema>;

/** Every frame schema by file stem, for docs/protocol/*.schema.json. */
export const FRAME_SCHEMAS = {
  'client-subscribe': SubscribeFrameSchema,
  'client-unsubscribe': UnsubscribeFrameSchema,
  'client-ping': PingFrameSchema,
  'server-subscribed': SubscribedFrameSchema,
  'server-snapshot': SnapshotFrameSchema,
  'server-update': UpdateFrameSchema,
  'server-gap': GapFrameSchema,
  'server-status': StatusFrameSchema,
  'server-error': ErrorFrameSchema,
  'server-pong': PongFrameSchema,
  'server-heartbeat': HeartbeatFrameSchema,
} as const;

export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: GatewayErrorCode; message: string; id?: string | number };

/**
 * Decodes one client text frame. Unknown channels get UNKNOWN_CHANNEL, everything else
 * malformed BAD_REQUEST; products are checked against the configuration by the caller.
 * Messages name the field, never echo the client's values.
 */
export function parseClientFrame(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'BAD_REQUEST', message: 'frame is not JSON' };
  }
  const id = requestIdOf(raw);
  const result = ClientFrameSchema.safeParse(raw);
  if (result.success) return { ok: true, frame: result.data };
  const issues = result.error.issues;
  const channelIssue = issues.find((i) => i.path[0] === 'channels' && i.path.length === 2);
  const first = channelIssue ?? issues[0];
  const where = first === undefined ? '' : first.path.map(pathSegment).join('.');
  const base = { ok: false as const, ...(id === undefined ? {} : { id }) };
  if (channelIssue !== undefined && channelIssue.code === 'invalid_value') {
    return {
      ...base,
      code: 'UNKNOWN_CHANNEL',
      message: `${where}: channels are ${CHANNELS.join(', ')}`,
    };
  }
  // zod names unrecognized keys in its message: say only that there are some.
  const what = first?.code === 'unrecognized_keys' ? 'unknown field' : first?.message;
  const message = what === undefined ? 'invalid frame' : `${where || 'frame'}: ${what}`;
  return { ...base, code: 'BAD_REQUEST', message: message.slice(0, 200) };
}

/** Field names of the client frames: the only path segments an error message repeats. */
const FIELD_NAMES: ReadonlySet<string> = new Set(
  [SubscribeFrameSchema, UnsubscribeFrameSchema, PingFrameSchema].flatMap((schema) =>
    Object.keys(schema.shape),
  ),
);

/** A client's own keys (e.g. the products of `from`) are not echoed back. */
function pathSegment(segment: PropertyKey): string {
  if (typeof segment === 'number') return String(segment);
  return typeof segment === 'string' && FIELD_NAMES.has(segment) ? segment : '*';
}

function requestIdOf(raw: unknown): string | number | undefined {
  if (typeof raw !== 'object' || raw === null || !('id' in raw)) return undefined;
  const parsed = RequestId.safeParse(raw.id);
  return parsed.success ? parsed.data : undefined;
}
