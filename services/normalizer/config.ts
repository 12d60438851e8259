import { z } from 'zod';
import {
  loadConfig,
  natsServiceFields,
  nonNegativeInt,
  port,
  positiveInt,
  productList,
  type Env,
} from '../common/config.js';

export const NormalizerConfigSchema = z
  .object({
    ...natsServiceFields,
    PRODUCTS: productList('BTC-USD,ETH-USD,SOL-USD'),
    SHARDS: positiveInt(1),
    SHARD: nonNegativeInt(0).optional(),
    /** k8s StatefulSet pods: the shard is the `-<n>` suffix when SHARD is unset. */
    HOSTNAME: z.string().optional(),
    METRICS_PORT: port(0).optional(),
    REORDER_WINDOW_MS: nonNegativeInt(250),
    REORDER_WINDOW_MSGS: nonNegativeInt(100),
    BOOK_TOP_N: positiveInt(10),
    BOOK_MIN_INTERVAL_MS: nonNegativeInt(100),
    PRICE_JUMP_PCT: z.coerce.number().positive().default(10),
    ABSURD_SPREAD_PCT: z.coerce.number().positive().default(5),
    /** Short pulls: a consumer-leader failover stalls seconds, not the default 30 s. */
    PULL_EXPIRES_MS: positiveInt(2_000),
    ACK_WAIT_MS: positiveInt(30_000),
    MAX_ACK_PENDING: positiveInt(2_000),
    CHECKPOINT_MS: positiveInt(1_000),
  })
  .transform((c, ctx) => {
    const fromHost = /-(\d+)$/.exec(c.HOSTNAME ?? '')?.[1];
    const shard = c.SHARD ?? (fromHost === undefined ? 0 : Number(fromHost));
    if (shard >= c.SHARDS) {
      ctx.addIssue({
        code: 'custom',
        path: ['SHARD'],
        message: `must be below SHARDS (${String(c.SHARDS)}), got ${String(shard)}`,
      });
    }
    return { ...c, SHARD: shard, METRICS_PORT: c.METRICS_PORT ?? 9110 + shard };
  });
export type NormalizerConfig = z.infer<typeof NormalizerConfigSchema>;

export const loadNormalizerConfig = (env: Env): Readonly<NormalizerConfig> =>
  loadConfig(NormalizerConfigSchema, env);
