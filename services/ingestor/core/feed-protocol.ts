/**
 * What differs between the two Coinbase feeds on the way in: the subscribe messages,
 * the book resubscribe that asks for a fresh snapshot, and the check of the
 * subscriptions acks. Pure; the ingestor shell sends what these build.
 */
import { ADVANCED_CHANNELS, type AdvancedChannel } from '../../common/advanced-trade.js';
import type { Feed } from '../../common/subjects.js';
import { advancedSubscribeMessages, checkAdvancedAck } from './subscribe-advanced.js';
import {
  EXCHANGE_CHANNELS,
  checkAck,
  subscribeMessage,
  type AckCheck,
  type ExchangeChannel,
} from './subscribe.js';

export type CoinbaseFeed = 'exchange' | 'advanced';

export interface FeedProtocol {
  /** The MD_RAW feed token. */
  readonly feed: Feed;
  readonly channels: readonly string[];
  /** Messages that subscribe every channel for these products. */
  subscribe(products: readonly string[]): unknown[];
  /** Unsubscribe + subscribe of the book channel for one product; empty when none is configured. */
  resubscribeBook(product: string): unknown[];
  checkAck(ack: unknown, products: readonly string[]): AckCheck;
}

export const DEFAULT_CHANNELS: Readonly<Record<CoinbaseFeed, string>> = {
  exchange: 'heartbeat,ticker,matches,level2_batch',
  advanced: 'heartbeats,ticker,market_trades,level2',
};

const KNOWN: Readonly<Record<CoinbaseFeed, readonly string[]>> = {
  exchange: EXCHANGE_CHANNELS,
  advanced: ADVANCED_CHANNELS,
};

/** COINBASE_CHANNELS for a feed: the list, or what is wrong with it. */
export function parseChannels(
  feed: CoinbaseFeed,
  raw: string | undefined,
): { channels: string[] } | { error: string } {
  const channels = (raw ?? DEFAULT_CHANNELS[feed])
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const bad = channels.filter((c) => !KNOWN[feed].includes(c));
  if (channels.length === 0) return { error: 'no channels' };
  if (bad.length > 0)
    return { error: `not ${feed} channels: ${bad.join(', ')} (known: ${KNOWN[feed].join(', ')})` };
  return { channels: [...new Set(channels)] };
}

export function exchangeProtocol(channels: readonly ExchangeChannel[]): FeedProtocol {
  return {
    feed: 'coinbase',
    channels,
    subscribe: (products) => [subscribeMessage('subscribe', channels, products)],
    resubscribeBook: (product) =>
      channels.includes('level2_batch')
        ? [
            subscribeMessage('unsubscribe', ['level2_batch'], [product]),
            subscribeMessage('subscribe', ['level2_batch'], [product]),
          ]
        : [],
    checkAck: (ack, products) => checkAck(ack, channels, products),
  };
}

export function advancedProtocol(channels: readonly AdvancedChannel[]): FeedProtocol {
  return {
    feed: 'coinbase-at',
    channels,
    subscribe: (products) => advancedSubscribeMessages('subscribe', channels, products),
    resubscribeBook: (product) =>
      channels.includes('level2')
        ? [
            { type: 'unsubscribe', channel: 'level2', product_ids: [product] },
            { type: 'subscribe', channel: 'level2', product_ids: [product] },
          ]
        : [],
    checkAck: (ack, products) => checkAdvancedAck(ack, channels, products),
  };
}

/** The protocol of a feed, from channels already checked by `parseChannels`. */
export function feedProtocol(feed: CoinbaseFeed, channels: readonly string[]): FeedProtocol {
  return feed === 'advanced'
    ? advancedProtocol(channels as readonly AdvancedChannel[])
    : exchangeProtocol(channels as readonly ExchangeChannel[]);
}
