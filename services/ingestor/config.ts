import { z } from 'zod';
import {
  loadConfig,
  natsServiceFields,
  port,
  positiveInt,
  productList,
  type Env,
} from '../common/config.js';
import { EXCHANGE_CHANNELS } from './core/subscribe.js';

const FEED_URLS = {
  exchange: 'wss://ws-feed.exchange.coinbase.com',
  advanced: 'wss://advanced-trade-ws.coinbase.com',
} as const;

/** COINBASE_CHANNELS: the Exchange channels to subscribe. */
export const exchangeChannels = z
  .string()
  .default('heartbeat,ticker,matches,level2_batch')
  .transform((s) =>
    s
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.enum(EXCHANGE_CHANNELS)).min(1));

export const IngestorConfigSchema = z
  .object({
    ...natsServiceFields,
    PRODUCTS: productList('BTC-USD,ETH-USD,SOL-USD'),
    COINBASE_FEED: z.enum(['exchange', 'advanced']).default('exchange'),
    COINBASE_WS_URL: z
      .string()
      .regex(/^wss?:\/\/\S+$/, 'a ws:// or wss:// URL')
      .optional(),
    COINBASE_CHANNELS: exchangeChannels,
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
  })
  .transform((c) => ({ ...c, COINBASE_WS_URL: c.COINBASE_WS_URL ?? FEED_URLS[c.COINBASE_FEED] }));
export type IngestorConfig = z.infer<typeof IngestorConfigSchema>;

export const loadIngestorConfig = (env: Env): Readonly<IngestorConfig> =>
  loadConfig(IngestorConfigSchema, env);
