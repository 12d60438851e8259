import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export type SnapshotterMetrics = ReturnType<typeof createSnapshotterMetrics>;

export const TABLES = ['trades', 'gaps', 'snapshots', 'latest_state', 'candles_1m'] as const;
export type TableName = (typeof TABLES)[number];

export function createSnapshotterMetrics(registry: Registry) {
  const registers = [registry];
  const m = {
    messages: new Counter({
      name: 'ledgerflux_snapshotter_messages_total',
      help: 'MD_NORM messages consumed, by outcome (applied, skipped: at or below the checkpoint, invalid)',
      labelNames: ['outcome'],
      registers,
    }),
    rows: new Counter({
      name: 'ledgerflux_snapshotter_rows_total',
      help: 'Rows inserted or updated, by table (conflicting duplicates not counted)',
      labelNames: ['table'],
      registers,
    }),
    batchSize: new Histogram({
      name: 'ledgerflux_snapshotter_batch_size_messages',
      help: 'Messages per committed batch',
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
      registers,
    }),
    commit: new Histogram({
      name: 'ledgerflux_snapshotter_commit_seconds',
      help: 'One batch transaction, from BEGIN to COMMIT',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    publishToCommit: new Histogram({
      name: 'ledgerflux_snapshotter_publish_to_commit_seconds',
      help: 'Hop 4: normalized publish (Lf-Pub-Us) to the PostgreSQL commit that holds the message (up to 16 samples per batch)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    lag: new Gauge({
      name: 'ledgerflux_snapshotter_consumer_lag_messages',
      help: 'MD_NORM messages not yet delivered to the durable snapshotter (num_pending), sampled every 2 s',
      registers,
    }),
    ackPending: new Gauge({
      name: 'ledgerflux_snapshotter_ack_pending_messages',
      help: 'Messages received but not yet committed and acked',
      registers,
    }),
    checkpoint: new Gauge({
      name: 'ledgerflux_snapshotter_checkpoint_seq',
      help: 'Last MD_NORM stream sequence committed to PostgreSQL',
      registers,
    }),
    retries: new Counter({
      name: 'ledgerflux_snapshotter_retries_total',
      help: 'Failed attempts that were retried, by operation (commit: a batch commit PostgreSQL refused or did not answer; start)',
      labelNames: ['op'],
      registers,
    }),
    consumerResets: new Counter({
      name: 'ledgerflux_snapshotter_consumer_resets_total',
      help: 'Durable re-created from its ack floor after a delivery hole or a lost consumer',
      registers,
    }),
    retention: new Counter({
      name: 'ledgerflux_snapshotter_retention_deleted_rows_total',
      help: 'Rows removed by retention, by table',
      labelNames: ['table'],
      registers,
    }),
    dbUp: new Gauge({
      name: 'ledgerflux_snapshotter_postgres_up',
      help: '1 while the last PostgreSQL operation (commit or 2-second ping) succeeded',
      registers,
    }),
    natsConnected: new Gauge({
      name: 'ledgerflux_snapshotter_nats_connected',
      help: '1 while connected to NATS, 0 while disconnected or reconnecting',
      registers,
    }),
  };
  for (const outcome of ['applied', 'skipped', 'invalid']) m.messages.labels(outcome).inc(0);
  for (const table of TABLES) m.rows.labels(table).inc(0);
  for (const op of ['commit', 'start']) m.retries.labels(op).inc(0);
  for (const table of ['trades', 'gaps', 'snapshots']) m.retention.labels(table).inc(0);
  return m;
}
