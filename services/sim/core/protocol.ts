/**
 * The client side of the Exchange feed session: parsing `subscribe`/`unsubscribe`,
 * Coinbase's own error texts, and the connection's cumulative subscription set.
 */
import { z } from 'zod';
import { errorFrame, subscriptionsFrame, type AckChannel } from './frames.js';

/** Channels the simulator serves (the unauthenticated Exchange channels). */
export const CHANNELS = ['heartbeat', 'status', 'ticker', 'matches', 'level2_batch'] as const;
export type Channel = (typeof CHANNELS)[number];

/** Accepted subscribe names for the same channel (2026 ack reports `level2_50`). */
const ALIASES: Readonly<Record<string, Channel>> = { level2_50: 'level2_batch' };

/** Real channels that need an authenticated subscribe (docs; PROTOCOL.md §0.5). */
const AUTH_CHANNELS = new Set(['level2', 'level3', 'full', 'user']);

/**
 * Coinbase's error texts, verbatim from recorded frames
 * (tests/fixtures/coinbase-exchange/github-issues-error-frames.jsonl and
 * …-2026-08-25.jsonl; sources in tests/fixtures/SOURCES.md).
 */
export const ERRORS = {
  subscribeFailed: 'Failed to subscribe',
  unsubscribeFailed: 'Failed to unsubscribe',
  noChannels: 'No channels provided',
  /** `<id> is not a valid product` (2023+); an empty id gives the leading-space form. */
  invalidProduct: (id: string) => `${id} is not a valid product`,
  needProduct: (channel: string) =>
    `You need to specify at least one product ID for channel ${channel}`,
  authRequired:
    'level2, level3, and full channels now require authentication. https://docs.cloud.coinbase.com/exchange/docs/websocket-auth',
  authFailed: 'Sorry, you could not be authenticated: Bad Request',
  invalidSignature: 'invalid signature',
  /** No recorded frame found for an unknown channel: modelled on the product text. */
  invalidChannel: (name: string) => `${name} is not a valid channel`,
  /** The sandbox's reply to an unparsable request (coinbase-pro-node PR#376), as a reason. */
  invalidMessage: 'invalid (un)subscribe msg',
  /** Docs "Exchange WebSocket Errors": sent before disconnecting a consumer that is too slow. */
  slowConsumer: 'ErrSlowConsume',
} as const;

const ChannelEntry = z.union([
  z.string(),
  z.looseObject({ name: z.string(), product_ids: z.array(z.string()).optional() }),
]);

const ClientMessage = z.looseObject({
  type: z.enum(['subscribe', 'unsubscribe']),
  product_ids: z.array(z.string()).optional(),
  channels: z.array(ChannelEntry).optional(),
  signature: z.unknown().optional(),
  key: z.unknown().optional(),
  passphrase: z.unknown().optional(),
});

export interface SubscriptionEntry {
  channel: Channel;
  /** Empty for `status` (it takes no products), and for a whole-channel unsubscribe. */
  products: string[];
}

export type ClientRequest =
  | { kind: 'subscribe' | 'unsubscribe'; entries: SubscriptionEntry[] }
  | {
      kind: 'error';
      frame: string;
      /** a well-formed (un)subscribe that was refused */ request: boolean;
    };

/**
 * Validates one client text frame against the product list. A failing request is
 * refused as a whole (coinbase-pro-node#174: no partial subscription).
 */
export function parseClientMessage(text: string, products: ReadonlySet<string>): ClientRequest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {
      kind: 'error',
      frame: errorFrame(ERRORS.subscribeFailed, ERRORS.invalidMessage),
      request: false,
    };
  }
  const parsed = ClientMessage.safeParse(json);
  if (!parsed.success) {
    const type = (json as { type?: unknown } | null)?.type;
    const message = type === 'unsubscribe' ? ERRORS.unsubscribeFailed : ERRORS.subscribeFailed;
    return { kind: 'error', frame: errorFrame(message, ERRORS.invalidMessage), request: false };
  }
  const msg = parsed.data;
  const subscribe = msg.type === 'subscribe';
  const fail = (
    reason: string,
    message: string = subscribe ? ERRORS.subscribeFailed : ERRORS.unsubscribeFailed,
  ) => ({ kind: 'error', frame: errorFrame(message, reason), request: true }) as const;

  const channels = msg.channels ?? [];
  if (channels.length === 0) return fail(ERRORS.noChannels);
  const authenticated =
    msg.signature !== undefined || msg.key !== undefined || msg.passphrase !== undefined;
  // The simulator holds no API keys, so every signed subscribe fails authentication.
  if (subscribe && authenticated) return fail(ERRORS.invalidSignature, ERRORS.authFailed);

  const root = msg.product_ids ?? [];
  const entries: SubscriptionEntry[] = [];
  for (const entry of channels) {
    const name = typeof entry === 'string' ? entry : entry.name;
    if (subscribe && AUTH_CHANNELS.has(name)) return fail(ERRORS.authRequired);
    const channel = (CHANNELS as readonly string[]).includes(name)
      ? (name as Channel)
      : ALIASES[name];
    if (channel === undefined) return fail(ERRORS.invalidChannel(name));
    const own = typeof entry === 'string' ? undefined : entry.product_ids;
    // An explicit empty list inside a channel object is refused with an empty product
    // id (gocryptotrader PR#1421, 2023-12); a name alone takes the root list.
    if (own?.length === 0 && channel !== 'status') return fail(ERRORS.invalidProduct(''));
    const list = channel === 'status' ? [] : [...new Set(own ?? root)];
    if (subscribe && list.length === 0 && channel !== 'status')
      return fail(ERRORS.needProduct(name));
    for (const id of list) if (!products.has(id)) return fail(ERRORS.invalidProduct(id));
    entries.push({ channel, products: list });
  }
  return { kind: subscribe ? 'subscribe' : 'unsubscribe', entries };
}

/** A connection's cumulative subscriptions, in first-subscribed order. */
export class Subscriptions {
  private readonly byChannel = new Map<Channel, Set<string>>();

  has(channel: Channel, product: string): boolean {
    return this.byChannel.get(channel)?.has(product) ?? false;
  }

  hasChannel(channel: Channel): boolean {
    return this.byChannel.has(channel);
  }

  get empty(): boolean {
    return this.byChannel.size === 0;
  }

  /** Adds the entries; returns every (channel, product) named (re-subscribing re-sends initial frames). */
  add(entries: readonly SubscriptionEntry[]): SubscriptionEntry[] {
    for (const e of entries) {
      let set = this.byChannel.get(e.channel);
      if (set === undefined) {
        set = new Set();
        this.byChannel.set(e.channel, set);
      }
      for (const p of e.products) set.add(p);
    }
    return entries.map((e) => ({ channel: e.channel, products: [...e.products] }));
  }

  /** Removes the entries (a channel without products goes entirely); returns what was removed. */
  remove(entries: readonly SubscriptionEntry[]): SubscriptionEntry[] {
    const removed: SubscriptionEntry[] = [];
    for (const e of entries) {
      const set = this.byChannel.get(e.channel);
      if (set === undefined) continue;
      const gone = e.products.length === 0 ? [...set] : e.products.filter((p) => set.has(p));
      for (const p of gone) set.delete(p);
      if (e.products.length === 0 || set.size === 0) this.byChannel.delete(e.channel);
      removed.push({ channel: e.channel, products: gone });
    }
    return removed;
  }

  entries(): AckChannel[] {
    return [...this.byChannel].map(([name, set]) => ({ name, productIds: [...set] }));
  }

  ack(style: 'modern' | 'classic'): string {
    return subscriptionsFrame(this.entries(), style);
  }
}
