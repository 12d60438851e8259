import { z } from 'zod';
import {
  databaseUrl,
  loadConfig,
  natsServiceFields,
  nonNegativeInt,
  port,
  positiveInt,
  type Env,
} from '../common/config.js';

export const SnapshotterConfigSchema = z
  .object({
    ...natsServiceFields,
    DATABASE_URL: databaseUrl,
    METRICS_PORT: port(9102),
    /** Snapshot interval in exchange time: one snapshot per product per crossed boundary. */
    SNAPSHOT_INTERVAL_MS: positiveInt(1_000),
    /** A batch is committed when it holds this many messages … */
    BATCH_MAX: positiveInt(2_000),
    /** … or this long after its first message arrived. */
    BATCH_MS: positiveInt(200),
    ACK_WAIT_MS: positiveInt(60_000),
    /** Bounds what is pulled but not yet committed (memory during a PostgreSQL outage). */
    MAX_ACK_PENDING: positiveInt(10_000),
    PULL_EXPIRES_MS: z.coerce.number().int().min(1_000).default(2_000),
    DB_POOL_MAX: positiveInt(4),
    /** Backoff cap between commit retries while PostgreSQL is unavailable. */
    DB_RETRY_MAX_MS: positiveInt(5_000),
    /** 0 keeps rows forever. Keep ≥ MD_NORM's max_age (7 d): see docs. */
    RETENTION_TRADES_DAYS: nonNegativeInt(30),
    RETENTION_SNAPSHOTS_DAYS: nonNegativeInt(7),
    RETENTION_INTERVAL_MS: positiveInt(60_000),
    RETENTION_BATCH: positiveInt(5_000),
  })
  .refine((c) => c.MAX_ACK_PENDING >= c.BATCH_MAX, {
    path: ['MAX_ACK_PENDING'],
    message: 'must be at least BATCH_MAX',
  });
export type SnapshotterConfig = z.infer<typeof SnapshotterConfigSchema>;

export const loadSnapshotterConfig = (env: Env): Readonly<SnapshotterConfig> =>
  loadConfig(SnapshotterConfigSchema, env);

/** The durable consumer on MD_NORM, and the name of its checkpoint row. */
export const CONSUMER_NAME = 'snapshotter';
export const CONSUMER_FILTER = 'md.norm.>';
