import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { MarkerState } from './core/route.js';
import type { CloseCause } from './feeds/ws-connection.js';

/** Frame types (Exchange) and channels (Advanced Trade) the feeds document; anything else
 * counts as `other` (bounded labels). */
const KNOWN_TYPES = new Set([
  'heartbeats',
  'market_trades',
  'l2_data',
  'candles',
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

/** Values read when Prometheus scrapes, not sampled on a timer. */
export interface IngestorSamples {
  lastFrameAgeSeconds(): number;
  publishInFlight(): number;
}

export function createIngestorMetrics(
  registry: Registry,
  products: readonly string[],
  samples?: IngestorSamples,
) {
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
      help: 'Publishes to MD_RAW and MD_DLQ settled, by outcome (stored, duplicate, rejected, lost)',
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
      name: 'ledgerflux_ingestor_dlq_frames_total',
      help: 'Frames sent to MD_DLQ, by reason',
      labelNames: ['reason'],
      registers,
    }),
    reconnects: new Counter({
      name: 'ledgerflux_ingestor_reconnects_total',
      help: 'Feed connections lost (each followed by a reconnect), by cause',
      labelNames: ['cause'],
      registers,
    }),
    connected: new Gauge({
      name: 'ledgerflux_ingestor_feed_connected',
      help: '1 while the feed WebSocket is open and subscribed',
      registers,
    }),
    sinceLastFrame: new Gauge({
      name: 'ledgerflux_ingestor_feed_last_frame_age_seconds',
      help: 'Seconds since the last frame from the feed (since the start while none came), at scrape time',
      registers,
      collect() {
        if (samples !== undefined) this.set(samples.lastFrameAgeSeconds());
      },
    }),
    publishLatency: new Histogram({
      name: 'ledgerflux_ingestor_publish_latency_seconds',
      help: 'Publish to PubAck of frames stored in MD_RAW',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    }),
    exchangeToIngest: new Histogram({
      name: 'ledgerflux_ingestor_exchange_to_ingest_seconds',
      help: 'Hop 1: exchange time to receipt by the ingestor, for frames with a time',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    inFlight: new Gauge({
      name: 'ledgerflux_ingestor_publish_in_flight_messages',
      help: 'Publishes awaiting their PubAck, at scrape time',
      registers,
      collect() {
        if (samples !== undefined) this.set(samples.publishInFlight());
      },
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
      help: 'Error frames received from the feed',
      registers,
    }),
    markers: new Counter({
      name: 'ledgerflux_ingestor_markers_total',
      help: 'Marker frames (lf_feed) published into MD_RAW, by state',
      labelNames: ['state'],
      registers,
    }),
    discontinuities: new Counter({
      name: 'ledgerflux_ingestor_discontinuities_total',
      help: 'Subjects whose publish order could not be kept',
      labelNames: ['reason'],
      registers,
    }),
    sequence: new Counter({
      name: 'ledgerflux_ingestor_sequence_events_total',
      help: 'Advanced Trade sequence_num events: duplicate (not published), late (published), gap (reconnect)',
      labelNames: ['outcome'],
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
      help: '1 while connected to NATS, 0 while disconnected or reconnecting',
      registers,
    }),
  };
  // Every series a dashboard or alert reads exists from the start (a rate over a
  // missing series is no data, not zero).
  for (const p of products) m.duplicates.labels(p).inc(0);
  for (const r of ['product', 'reserved_type']) m.unexpected.labels(r).inc(0);
  for (const t of [...KNOWN_TYPES, 'other']) m.frames.labels(t).inc(0);
  for (const o of ['stored', 'duplicate', 'rejected', 'lost']) m.published.labels(o).inc(0);
  for (const r of ['unparsable', 'too_large']) m.dlq.labels(r).inc(0);
  for (const c of [
    'remote',
    'stale',
    'dead_peer',
    'error',
    'requested',
    'sequence_gap',
  ] satisfies CloseCause[])
    m.reconnects.labels(c).inc(0);
  for (const e of ['duplicate', 'late', 'gap']) m.sequence.labels(e).inc(0);
  for (const s of ['connected', 'stale', 'resubscribed', 'dropped'] satisfies MarkerState[])
    m.markers.labels(s).inc(0);
  for (const r of ['resubscribed', 'coalesced', 'rejected']) m.resyncs.labels(r).inc(0);
  m.connected.set(0);
  return m;
}
