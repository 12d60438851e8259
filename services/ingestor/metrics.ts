import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Frame types the Exchange feed documents; anything else counts as `other` (bounded labels). */
const KNOWN_TYPES = new Set([
  'heartbeat',
  'ticker',
  'match',
  'last_match',
  'snapshot',
  'l2update',
  'subscriptions',
  'error',
  'status',
]);

export function frameTypeLabel(type: string): string {
  return KNOWN_TYPES.has(type) ? type : 'other';
}

export type IngestorMetrics = ReturnType<typeof createIngestorMetrics>;

export function createIngestorMetrics(registry: Registry, products: readonly string[]) {
  const registers = [registry];
  const m = {
    frames: new Counter({
      name: 'ledgerflux_ingestor_frames_total',
      help: 'Frames received from the feed, by type',
      labelNames: ['type'],
      registers,
    }),
    bytes: new Counter({
      name: 'ledgerflux_ingestor_received_bytes_total',
      help: 'Bytes received from the feed',
      registers,
    }),
    published: new Counter({
      name: 'ledgerflux_ingestor_published_total',
      help: 'Publishes settled, by outcome (stored, duplicate, rejected, lost)',
      labelNames: ['outcome'],
      registers,
    }),
    duplicates: new Counter({
      name: 'ledgerflux_ingestor_duplicate_trades_total',
      help: 'Trades not published again because their id was already stored',
      labelNames: ['product'],
      registers,
    }),
    unexpected: new Counter({
      name: 'ledgerflux_ingestor_unexpected_frames_total',
      help: 'Frames kept on the control subject: product not in PRODUCTS, or our marker type',
      labelNames: ['reason'],
      registers,
    }),
    dlq: new Counter({
      name: 'ledgerflux_ingestor_dlq_total',
      help: 'Frames sent to MD_DLQ, by reason',
      labelNames: ['reason'],
      registers,
    }),
    reconnects: new Counter({
      name: 'ledgerflux_ingestor_reconnects_total',
      help: 'Feed reconnects, by cause',
      labelNames: ['cause'],
      registers,
    }),
    connected: new Gauge({
      name: 'ledgerflux_ingestor_feed_connected',
      help: '1 while the feed WebSocket is open and subscribed',
      registers,
    }),
    sinceLastFrame: new Gauge({
      name: 'ledgerflux_ingestor_seconds_since_last_frame_seconds',
      help: 'Seconds since the last frame from the feed',
      registers,
    }),
    publishLatency: new Histogram({
      name: 'ledgerflux_ingestor_publish_latency_seconds',
      help: 'Publish to PubAck',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    }),
    exchangeToIngest: new Histogram({
      name: 'ledgerflux_ingestor_exchange_to_ingest_seconds',
      help: 'Exchange time to receipt, for frames with a time',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    inFlight: new Gauge({
      name: 'ledgerflux_ingestor_publish_in_flight',
      help: 'Publishes awaiting their PubAck',
      registers,
    }),
    paused: new Counter({
      name: 'ledgerflux_ingestor_backpressure_pauses_total',
      help: 'Times the socket was paused because the publish window was full',
      registers,
    }),
    subscribeProblems: new Counter({
      name: 'ledgerflux_ingestor_subscription_missing_total',
      help: 'Channels/products asked for but missing from a subscriptions ack',
      labelNames: ['channel'],
      registers,
    }),
    exchangeErrors: new Counter({
      name: 'ledgerflux_ingestor_exchange_errors_total',
      help: 'error frames from the feed',
      registers,
    }),
    markers: new Counter({
      name: 'ledgerflux_ingestor_markers_total',
      help: 'lf_feed marker frames published, by state',
      labelNames: ['state'],
      registers,
    }),
    discontinuities: new Counter({
      name: 'ledgerflux_ingestor_discontinuities_total',
      help: 'Subjects whose publish order could not be kept',
      labelNames: ['reason'],
      registers,
    }),
    resyncs: new Counter({
      name: 'ledgerflux_ingestor_resync_requests_total',
      help: 'Resync requests, by result (resubscribed, coalesced, rejected)',
      labelNames: ['result'],
      registers,
    }),
    natsConnected: new Gauge({
      name: 'ledgerflux_ingestor_nats_connected',
      help: '1 while connected to NATS',
      registers,
    }),
  };
  for (const p of products) m.duplicates.labels(p).inc(0);
  for (const r of ['product', 'reserved_type']) m.unexpected.labels(r).inc(0);
  for (const t of [...KNOWN_TYPES, 'other']) m.frames.labels(t).inc(0);
  return m;
}
