import { z } from 'zod';
import {
  databaseUrl,
  loadConfig,
  natsServiceFields,
  nonNegativeInt,
  port,
  positiveInt,
  productList,
  type Env,
} from '../common/config.js';

const KIB = 1024;

export const GatewayConfigSchema = z
  .object({
    ...natsServiceFields,
    PRODUCTS: productList('BTC-USD,ETH-USD,SOL-USD'),
    GATEWAY_PORT: port(8080),
    GATEWAY_HOST: z.string().default('0.0.0.0'),
    /** Comma-separated; none configured = open. Never logged (the logger redacts it). */
    GATEWAY_API_KEYS: z
      .string()
      .default('')
      .transform((s) =>
        s
          .split(',')
          .map((k) => k.trim())
          .filter(Boolean),
      ),
    /** Resume ring per product: this many messages, none older than RESUME_MAX_AGE_MS. */
    RESUME_BUFFER: positiveInt(10_000),
    RESUME_MAX_AGE_MS: positiveInt(5 * 60_000),
    /** Short-lived ordered consumers for offsets older than the ring, per process. */
    RESUME_MAX_CONCURRENT: positiveInt(8),
    /** Trades in a `trades` snapshot. */
    GATEWAY_SNAPSHOT_TRADES: positiveInt(50),
    GATEWAY_MAX_CONNECTIONS: positiveInt(10_000),
    GATEWAY_MAX_SUBSCRIPTIONS: positiveInt(100),
    /** Token bucket on client frames: sustained rate and burst. */
    GATEWAY_RATE_LIMIT_PER_S: z.coerce.number().positive().default(10),
    GATEWAY_RATE_LIMIT_BURST: positiveInt(20),
    /** Rate-limited frames in a row before the connection is closed with 4008. */
    GATEWAY_ABUSE_LIMIT: positiveInt(50),
    /** Largest client frame answered with FRAME_TOO_LARGE + 1009 (64x this is cut by `ws`). */
    GATEWAY_MAX_FRAME_BYTES: positiveInt(4 * KIB),
    /** Buffered bytes at which a client counts as slow (conflation, slow_client gaps). */
    GATEWAY_SLOW_BYTES: z.coerce
      .number()
      .int()
      .min(16 * KIB)
      .default(256 * KIB),
    /** Buffered + pending bytes, or time spent slow, past which a client is closed (4000). */
    GATEWAY_MAX_BUFFER_BYTES: positiveInt(1024 * KIB),
    GATEWAY_SLOW_MAX_MS: positiveInt(10_000),
    GATEWAY_HEARTBEAT_MS: positiveInt(5_000),
    /** WebSocket ping interval; a peer that misses one pong is terminated. */
    GATEWAY_PING_MS: positiveInt(15_000),
    /** Time the shutdown gives clients to take their 1001 close before sockets are cut. */
    GATEWAY_CLOSE_GRACE_MS: nonNegativeInt(2_000),
    // --- REST read side (http-api.ts) ---
    /** PostgreSQL for the history endpoints (read-only use; ledgerflux_reader suffices). */
    DATABASE_URL: databaseUrl,
    GATEWAY_DB_POOL_MAX: positiveInt(4),
    /** statement_timeout of the history queries; a slower one answers 503. */
    GATEWAY_DB_STATEMENT_TIMEOUT_MS: positiveInt(10_000),
    /** The built web page (default: dist/web of the checkout or package). */
    GATEWAY_WEB_DIR: z.string().optional(),
    // --- end REST read side ---
  })
  .transform((c, ctx) => {
    if (c.GATEWAY_MAX_BUFFER_BYTES <= c.GATEWAY_SLOW_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['GATEWAY_MAX_BUFFER_BYTES'],
        message: `must be above GATEWAY_SLOW_BYTES (${String(c.GATEWAY_SLOW_BYTES)})`,
      });
    }
    return c;
  });
export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;

export const loadGatewayConfig = (env: Env): Readonly<GatewayConfig> =>
  loadConfig(GatewayConfigSchema, env);
