import { z } from 'zod';
import {
  loadConfig,
  natsServiceFields,
  port,
  positiveInt,
  productList,
  type Env,
} from '../common/config.js';
import { parseChannels, type CoinbaseFeed } from './core/feed-protocol.js';

export const FEED_URLS: Readonly<Record<CoinbaseFeed, string>> = {
  exchange: 'wss://ws-feed.exchange.coinbase.com',
  advanced: 'wss://advanced-trade-ws.coinbase.com',
};

/** COINBASE_FEED, COINBASE_WS_URL and COINBASE_CHANNELS: the feed and what to subscribe. */
export const feedFields = {
  COINBASE_FEED: z.enum(['exchange', 'advanced']).default('exchange'),
  COINBASE_WS_URL: z
    .string()
    .regex(/^wss?:\/\/\S+$/, 'a ws:// or wss:// URL')
    .optional(),
  /** Comma-separated; the default and the names allowed depend on COINBASE_FEED. */
  COINBASE_CHANNELS: z.string().optional(),
};

/** Resolves the feed fields: the feed's public URL by default, its channels checked. */
export function resolveFeed<
  T extends {
    COINBASE_FEED: CoinbaseFeed;
    COINBASE_WS_URL?: string | undefined;
    COINBASE_CHANNELS?: string | undefined;
  },
>(c: T, ctx: z.RefinementCtx) {
  const parsed = parseChannels(c.COINBASE_FEED, c.COINBASE_CHANNELS);
  if ('error' in parsed)
    ctx.addIssue({ code: 'custom', path: ['COINBASE_CHANNELS'], message: parsed.error });
  return {
    ...c,
    COINBASE_WS_URL: c.COINBASE_WS_URL ?? FEED_URLS[c.COINBASE_FEED],
    COINBASE_CHANNELS: 'channels' in parsed ? parsed.channels : [],
  };
}

export const IngestorConfigSchema = z
  .object({
    ...natsServiceFields,
    ...feedFields,
    PRODUCTS: productList('BTC-USD,ETH-USD,SOL-USD'),
    SHARDS: positiveInt(1),
    METRICS_PORT: port(9101),
    /** No frame at all for this long: the feed is stale, reconnect. */
    FEED_STALE_MS: positiveInt(10_000),
    FEED_PING_MS: positiveInt(15_000),
    RECONNECT_MIN_MS: positiveInt(250),
    RECONNECT_MAX_MS: positiveInt(30_000),
    PUBLISH_WINDOW: positiveInt(256),
    PUBLISH_TIMEOUT_MS: positiveInt(5_000),
    PUBLISH_RETRY_HORIZON_MS: z.coerce.number().int().min(30_000).default(120_000),
    RECENT_TRADE_IDS: positiveInt(10_000),
    RESYNC_COALESCE_MS: positiveInt(5_000),
    /** Advanced Trade: a missing sequence_num not arrived this long (or this many frames) later is a hole. */
    SEQUENCE_GAP_MS: positiveInt(500),
    SEQUENCE_GAP_FRAMES: positiveInt(200),
  })
  .transform(resolveFeed);
export type IngestorConfig = z.infer<typeof IngestorConfigSchema>;

export const loadIngestorConfig = (env: Env): Readonly<IngestorConfig> =>
  loadConfig(IngestorConfigSchema, env);
