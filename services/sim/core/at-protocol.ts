/**
 * The client side of an Advanced Trade session (PROTOCOL.md §2.1): one `channel` per
 * (un)subscribe, errors that are not enveloped, and the connection's cumulative
 * subscriptions.
 */
import { z } from 'zod';
import { ADVANCED_CHANNELS } from '../../common/advanced-trade.js';
import { atErrorFrame, atSubscriptionsEvents, type AtChannel } from './at-frames.js';

/** Channels that need a JWT we cannot verify (the simulator holds no keys). */
const AUTH_CHANNELS = new Set(['user', 'futures_balance_summary']);
/** Channels that take no products. */
const PRODUCTLESS = new Set<AtChannel>(['heartbeats', 'status']);

export const AT_ERRORS = {
  /**
   * Recorded for a wrong channel name (`heartbeat` singular) and for a failed JWT
   * (coinbase-advanced-py#19, #92; tests/fixtures/coinbase-exchange/github-issues-error-frames.jsonl:8).
   */
  authFailure: 'authentication failure',
  /** No recording found for the rest: modelled on the Exchange texts. */
  invalidProduct: (id: string) => `${id} is not a valid product`,
  needProduct: (channel: string) => `You need to specify at least one product ID for ${channel}`,
  invalidMessage: 'invalid (un)subscribe msg',
} as const;

const ClientMessage = z.looseObject({
  type: z.enum(['subscribe', 'unsubscribe']),
  channel: z.string(),
  product_ids: z.array(z.string()).optional(),
  jwt: z.unknown().optional(),
});

export type AtRequest =
  | { kind: 'subscribe' | 'unsubscribe'; channel: AtChannel; products: string[] }
  | { kind: 'error'; frame: string; request: boolean };

/** Validates one client text frame against the product list; a failing request changes nothing. */
export function parseAtClientMessage(text: string, products: ReadonlySet<string>): AtRequest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { kind: 'error', frame: atErrorFrame(AT_ERRORS.invalidMessage), request: false };
  }
  const parsed = ClientMessage.safeParse(json);
  if (!parsed.success)
    return { kind: 'error', frame: atErrorFrame(AT_ERRORS.invalidMessage), request: false };
  const msg = parsed.data;
  const fail = (message: string) =>
    ({ kind: 'error', frame: atErrorFrame(message), request: true }) as const;
  if (
    AUTH_CHANNELS.has(msg.channel) ||
    !(ADVANCED_CHANNELS as readonly string[]).includes(msg.channel)
  )
    return fail(AT_ERRORS.authFailure);
  const channel = msg.channel as AtChannel;
  const list = PRODUCTLESS.has(channel) ? [] : [...new Set(msg.product_ids ?? [])];
  if (msg.type === 'subscribe' && list.length === 0 && !PRODUCTLESS.has(channel))
    return fail(AT_ERRORS.needProduct(channel));
  for (const id of list) if (!products.has(id)) return fail(AT_ERRORS.invalidProduct(id));
  return { kind: msg.type, channel, products: list };
}

/** A connection's cumulative subscriptions, in first-subscribed order. */
export class AtSubscriptions {
  private readonly byChannel = new Map<AtChannel, Set<string>>();

  get empty(): boolean {
    return this.byChannel.size === 0;
  }

  has(channel: AtChannel): boolean {
    return this.byChannel.has(channel);
  }

  channels(): AtChannel[] {
    return [...this.byChannel.keys()];
  }

  add(channel: AtChannel, products: readonly string[]): void {
    let set = this.byChannel.get(channel);
    if (set === undefined) {
      set = new Set();
      this.byChannel.set(channel, set);
    }
    for (const p of products) set.add(p);
  }

  /** Removes the products (none: the whole channel); returns the products removed. */
  remove(channel: AtChannel, products: readonly string[]): string[] {
    const set = this.byChannel.get(channel);
    if (set === undefined) return [];
    const gone = products.length === 0 ? [...set] : products.filter((p) => set.has(p));
    for (const p of gone) set.delete(p);
    if (products.length === 0 || (set.size === 0 && !PRODUCTLESS.has(channel)))
      this.byChannel.delete(channel);
    return gone;
  }

  /** The `events` of the cumulative `subscriptions` frame. */
  ackEvents(): string {
    return atSubscriptionsEvents(this.byChannel);
  }
}
