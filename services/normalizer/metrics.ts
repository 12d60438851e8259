import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { FLAGS } from '../common/schemas/normalized.js';

export type NormalizerMetrics = ReturnType<typeof createNormalizerMetrics>;

export function createNormalizerMetrics(registry: Registry, shard: number) {
  const registers = [registry];
  const labels = { shard: String(shard) };
  const m = {
    in: new Counter({
      name: 'ledgerflux_normalizer_frames_in_total',
      help: 'Raw frames consumed',
      labelNames: ['shard'],
      registers,
    }),
    out: new Counter({
      name: 'ledgerflux_normalizer_messages_out_total',
      help: 'Normalized messages stored, by kind',
      labelNames: ['shard', 'kind'],
      registers,
    }),
    dlq: new Counter({
      name: 'ledgerflux_normalizer_dlq_frames_total',
      help: 'Raw frames sent to MD_DLQ, by reason',
      labelNames: ['shard', 'reason'],
      registers,
    }),
    ignored: new Counter({
      name: 'ledgerflux_normalizer_ignored_frames_total',
      help: 'Raw frames of types the normalizer does not publish from (acked, kept in MD_RAW), by type',
      labelNames: ['shard', 'type'],
      registers,
    }),
    flags: new Counter({
      name: 'ledgerflux_normalizer_flags_total',
      help: 'Messages published with a flag, by flag',
      labelNames: ['shard', 'flag'],
      registers,
    }),
    duplicates: new Counter({
      name: 'ledgerflux_normalizer_duplicates_total',
      help: 'Duplicate trades and stale tickers dropped',
      labelNames: ['shard', 'kind'],
      registers,
    }),
    late: new Counter({
      name: 'ledgerflux_normalizer_late_trades_total',
      help: 'Trades that arrived after their gap was announced',
      labelNames: ['shard'],
      registers,
    }),
    gaps: new Counter({
      name: 'ledgerflux_normalizer_gaps_total',
      help: 'Trade-id gaps announced',
      labelNames: ['shard'],
      registers,
    }),
    gapTrades: new Counter({
      name: 'ledgerflux_normalizer_gap_trades_total',
      help: 'Trade ids announced missing',
      labelNames: ['shard'],
      registers,
    }),
    bookInvalid: new Counter({
      name: 'ledgerflux_normalizer_book_invalid_total',
      help: 'Books marked invalid, by reason class',
      labelNames: ['shard', 'reason'],
      registers,
    }),
    bookResyncs: new Counter({
      name: 'ledgerflux_normalizer_book_resyncs_total',
      help: 'Books made valid again by a snapshot',
      labelNames: ['shard'],
      registers,
    }),
    resyncRequests: new Counter({
      name: 'ledgerflux_normalizer_resync_requests_total',
      help: 'Resync requests sent to the ingestor, by result',
      labelNames: ['shard', 'result'],
      registers,
    }),
    skipped: new Counter({
      name: 'ledgerflux_normalizer_skipped_reflected_total',
      help: 'Redelivered raw frames already reflected in MD_NORM',
      labelNames: ['shard'],
      registers,
    }),
    processing: new Histogram({
      name: 'ledgerflux_normalizer_processing_seconds',
      help: 'Raw frame consumed to its outputs stored and the frame acked',
      labelNames: ['shard'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    ingestToPublish: new Histogram({
      name: 'ledgerflux_normalizer_ingest_to_publish_seconds',
      help: 'Hop 2: receipt by the ingestor (Lf-Recv-Us) to the normalized publish (Lf-Pub-Us), per stored output',
      labelNames: ['shard'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }),
    lag: new Gauge({
      name: 'ledgerflux_normalizer_consumer_lag_messages',
      help: 'MD_RAW messages not yet delivered to the durable normalizer-<shard> (num_pending), sampled every 2 s',
      labelNames: ['shard'],
      registers,
    }),
    ackPending: new Gauge({
      name: 'ledgerflux_normalizer_ack_pending_messages',
      help: 'Raw frames received and not yet acked (awaiting their outputs)',
      labelNames: ['shard'],
      registers,
    }),
    held: new Gauge({
      name: 'ledgerflux_normalizer_held_trades',
      help: 'Trades held back in the reorder window',
      labelNames: ['shard'],
      registers,
    }),
    wrongLastSequence: new Counter({
      name: 'ledgerflux_normalizer_wrong_last_sequence_total',
      help: "Publishes answered 10071 (wrong last sequence) and resolved from the subject's last message: stored (a PubAck lost in a leader change), empty (retried expecting 0), second_writer",
      labelNames: ['shard', 'outcome'],
      registers,
    }),
    lostPubAcks: new Counter({
      name: 'ledgerflux_normalizer_lost_pubacks_total',
      help: "Publishes stored by an attempt whose PubAck was lost, found out on retry: by a duplicate answer or by reading the subject's last message after 10071",
      labelNames: ['shard', 'outcome'],
      registers,
    }),
    shardRestarts: new Counter({
      name: 'ledgerflux_normalizer_shard_restarts_total',
      help: "Shard worker restarts from the durable's ack floor, by reason: delivery_lost (a hole in the delivery sequence or a redelivery), stalled (silent with messages pending), late_write (a predecessor's publish stored after the restore), failed",
      labelNames: ['shard', 'reason'],
      registers,
    }),
    natsConnected: new Gauge({
      name: 'ledgerflux_normalizer_nats_connected',
      help: '1 while connected to NATS, 0 while disconnected or reconnecting',
      labelNames: ['shard'],
      registers,
    }),
  };
  m.in.labels(labels.shard).inc(0);
  // The per-frame series, resolved once (labels() hashes its arguments on every call).
  const hot = {
    in: m.in.labels(labels.shard),
    out: {
      trade: m.out.labels(labels.shard, 'trade'),
      ticker: m.out.labels(labels.shard, 'ticker'),
      book: m.out.labels(labels.shard, 'book'),
      status: m.out.labels(labels.shard, 'status'),
    },
    processing: m.processing.labels(labels.shard),
    ingestToPublish: m.ingestToPublish.labels(labels.shard),
  };
  // Every series a dashboard or alert reads exists from the start (a rate over a
  // missing series is no data, not zero).
  const s = labels.shard;
  for (const kind of ['trade', 'ticker', 'book', 'status']) m.out.labels(s, kind).inc(0);
  for (const reason of ['schema', 'unknown_type', 'bad_header']) m.dlq.labels(s, reason).inc(0);
  for (const flag of FLAGS) m.flags.labels(s, flag).inc(0);
  for (const kind of ['trade', 'ticker']) m.duplicates.labels(s, kind).inc(0);
  for (const reason of INVALID_REASONS) m.bookInvalid.labels(s, reason).inc(0);
  for (const result of ['accepted', 'refused', 'no_answer'])
    m.resyncRequests.labels(s, result).inc(0);
  for (const c of [m.late, m.gaps, m.gapTrades, m.bookResyncs, m.skipped]) c.labels(s).inc(0);
  for (const outcome of ['stored', 'empty', 'second_writer'])
    m.wrongLastSequence.labels(s, outcome).inc(0);
  for (const by of ['duplicate', 'wrong_last_sequence']) m.lostPubAcks.labels(s, by).inc(0);
  for (const reason of RESTART_REASONS) m.shardRestarts.labels(s, reason).inc(0);
  m.lag.labels(s).set(0);
  m.ackPending.labels(s).set(0);
  m.held.labels(s).set(0);
  return { ...m, hot };
}

export const RESTART_REASONS = ['delivery_lost', 'stalled', 'late_write', 'failed'] as const;
export type RestartReason = (typeof RESTART_REASONS)[number];

const INVALID_REASONS = [
  'restart',
  'no_snapshot',
  'crossed',
  'dropped_levels',
  'missing_frame',
  'swapped_frame',
  'reconnect',
  'connection_joined',
  'too_large',
  'resubscribed',
  'resync_request',
  'dropped',
  'other',
];

/** Frame types as label values: the Exchange's documented ones, everything else `other`. */
export function ignoredTypeLabel(type: string): string {
  const known = [
    'subscriptions',
    'error',
    'status',
    'received',
    'open',
    'done',
    'change',
    'activate',
  ];
  return known.includes(type) ? type : 'other';
}

/** Book-invalid reasons are ours, but keep the label set closed anyway. */
export function invalidReasonLabel(reason: string): string {
  return INVALID_REASONS.includes(reason) ? reason : 'other';
}
