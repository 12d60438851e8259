/**
 * Advanced Trade subscribe messages and the check of the cumulative `subscriptions`
 * frames (PROTOCOL.md §2.1, §2.3): one `channel` per message; `heartbeats` always, or
 * quiet channels are closed after 60–90 s (docs websocket-channels); `heartbeats` and
 * `status` take no products, and no channel is sent with an empty product list.
 */
import type { AdvancedChannel } from '../../common/advanced-trade.js';
import type { AckCheck } from './subscribe.js';

export interface AdvancedSubscribe {
  type: 'subscribe' | 'unsubscribe';
  channel: AdvancedChannel;
  product_ids?: string[];
}

const PRODUCTLESS: ReadonlySet<AdvancedChannel> = new Set(['heartbeats', 'status']);

/** One message per channel; a subscribe puts `heartbeats` first whether asked for or not. */
export function advancedSubscribeMessages(
  type: 'subscribe' | 'unsubscribe',
  channels: readonly AdvancedChannel[],
  products: readonly string[],
): AdvancedSubscribe[] {
  const list =
    type === 'subscribe'
      ? (['heartbeats', ...channels.filter((c) => c !== 'heartbeats')] as AdvancedChannel[])
      : [...channels];
  const out: AdvancedSubscribe[] = [];
  for (const channel of list) {
    if (PRODUCTLESS.has(channel)) out.push({ type, channel });
    else if (products.length > 0) out.push({ type, channel, product_ids: [...products] });
  }
  return out;
}

/** Compares the desired subscriptions with a `subscriptions` frame (cumulative; any order). */
export function checkAdvancedAck(
  frame: unknown,
  channels: readonly AdvancedChannel[],
  products: readonly string[],
): AckCheck {
  const acked = new Map<string, Set<string>>();
  const events = (frame as { events?: unknown } | null)?.events;
  for (const e of Array.isArray(events) ? (events as unknown[]) : []) {
    const subs = (e as { subscriptions?: unknown } | null)?.subscriptions;
    if (typeof subs !== 'object' || subs === null) continue;
    for (const [channel, ids] of Object.entries(subs)) {
      const set = acked.get(channel) ?? new Set<string>();
      if (Array.isArray(ids)) for (const id of ids) if (typeof id === 'string') set.add(id);
      acked.set(channel, set);
    }
  }
  const missing: Record<string, string[]> = {};
  for (const ch of new Set<AdvancedChannel>(['heartbeats', ...channels])) {
    const got = acked.get(ch);
    if (PRODUCTLESS.has(ch)) {
      if (got === undefined) missing[ch] = [];
      continue;
    }
    const lacking = products.filter((p) => got?.has(p) !== true);
    if (lacking.length > 0) missing[ch] = lacking;
  }
  return { missing, ok: Object.keys(missing).length === 0 };
}
