/**
 * Exchange feed subscribe messages and the check of the cumulative `subscriptions`
 * acks (PROTOCOL.md §1.2: compare desired vs acknowledged sets, never positionally).
 */
export const EXCHANGE_CHANNELS = [
  'heartbeat',
  'ticker',
  'matches',
  'level2_batch',
  'status',
] as const;
export type ExchangeChannel = (typeof EXCHANGE_CHANNELS)[number];

/** Recent acks name level2_batch `level2_50` (PROTOCOL.md §1.2, 2026 capture). */
const ACK_ALIASES: Record<string, string> = {
  level2_50: 'level2_batch',
  ticker_1000: 'ticker_batch',
};

export interface SubscribeMessage {
  type: 'subscribe' | 'unsubscribe';
  product_ids?: string[];
  channels: (string | { name: string; product_ids?: string[] })[];
}

/**
 * One subscribe for every channel and product. `status` takes no products, and a
 * channel object must never carry an empty product list (PROTOCOL.md §1.2).
 */
export function subscribeMessage(
  type: 'subscribe' | 'unsubscribe',
  channels: readonly ExchangeChannel[],
  products: readonly string[],
): SubscribeMessage {
  const productChannels = channels.filter((c) => c !== 'status');
  const msg: SubscribeMessage = { type, channels: [] };
  if (productChannels.length > 0 && products.length > 0) {
    msg.product_ids = [...products];
    msg.channels.push(...productChannels);
  }
  if (channels.includes('status')) msg.channels.push({ name: 'status' });
  return msg;
}

export interface AckCheck {
  /** channel → products desired but not acknowledged */
  missing: Record<string, string[]>;
  ok: boolean;
}

/** Compares the desired subscriptions with a cumulative `subscriptions` ack frame. */
export function checkAck(
  ack: unknown,
  channels: readonly ExchangeChannel[],
  products: readonly string[],
): AckCheck {
  const acked = new Map<string, Set<string>>();
  const list = (ack as { channels?: unknown } | null)?.channels;
  if (Array.isArray(list)) {
    for (const ch of list) {
      const name = typeof ch === 'string' ? ch : (ch as { name?: unknown } | null)?.name;
      if (typeof name !== 'string') continue;
      const canonical = ACK_ALIASES[name] ?? name;
      const ids = (ch as { product_ids?: unknown }).product_ids;
      const set = acked.get(canonical) ?? new Set<string>();
      if (Array.isArray(ids)) for (const id of ids) if (typeof id === 'string') set.add(id);
      acked.set(canonical, set);
    }
  }
  const missing: Record<string, string[]> = {};
  for (const ch of channels) {
    const got = acked.get(ch);
    if (ch === 'status') {
      if (got === undefined) missing[ch] = [];
      continue;
    }
    const lacking = products.filter((p) => got?.has(p) !== true);
    if (lacking.length > 0) missing[ch] = lacking;
  }
  return { missing, ok: Object.keys(missing).length === 0 };
}
