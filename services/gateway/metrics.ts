import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CHANNELS, ERROR_CODES } from './core/protocol.js';

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/** Close reasons as label values: a closed set, whatever code a client sends. */
export const CLOSE_LABELS = [
  '1000',
  '1001',
  '1005',
  '1006',
  '1009',
  '4000',
  '4001',
  '4008',
  'dead_peer',
  'other',
] as const;
export type CloseLabel = (typeof CLOSE_LABELS)[number];

export function closeLabel(code: number): CloseLabel {
  const s = String(code);
  return (CLOSE_LABELS as readonly string[]).includes(s) ? (s as CloseLabel) : 'other';
}

/** Values read when Prometheus scrapes, not sampled on a timer. */
export interface GatewaySamples {
  feedLag(): number;
}

export function createGatewayMetrics(registry: Registry, samples?: GatewaySamples) {
  const registers = [registry];
  const m = {
    connections: new Gauge({
      name: 'ledgerflux_gateway_connections',
      help: 'Open WebSocket connections',
      registers,
    }),
    connectionsTotal: new Counter({
      name: 'ledgerflux_gateway_connections_total',
      help: 'WebSocket connections accepted',
      registers,
    }),
    rejected: new Counter({
      name: 'ledgerflux_gateway_connections_rejected_total',
      help: 'Upgrades refused, by reason',
      labelNames: ['reason'],
      registers,
    }),
    subscriptions: new Gauge({
      name: 'ledgerflux_gateway_subscriptions',
      help: 'Subscribed (connection, channel, product) pairs, by channel',
      labelNames: ['channel'],
      registers,
    }),
    deliveries: new Counter({
      name: 'ledgerflux_gateway_deliveries_total',
      help: 'Frames written to clients',
      registers,
    }),
    writes: new Counter({
      name: 'ledgerflux_gateway_socket_writes_total',
      help: 'Socket writes (deliveries / writes = frames batched per write)',
      registers,
    }),
    bytes: new Counter({
      name: 'ledgerflux_gateway_sent_bytes_total',
      help: 'Frame bytes written to clients',
      registers,
    }),
    conflated: new Counter({
      name: 'ledgerflux_gateway_conflated_updates_total',
      help: 'Ticker/book updates folded into a newer one for a slow client',
      registers,
    }),
    slowGaps: new Counter({
      name: 'ledgerflux_gateway_slow_client_gaps_total',
      help: 'Gap frames with reason slow_client sent to slow clients',
      registers,
    }),
    droppedTrades: new Counter({
      name: 'ledgerflux_gateway_slow_client_dropped_trades_total',
      help: 'Trades replaced by slow_client gaps',
      registers,
    }),
    disconnects: new Counter({
      name: 'ledgerflux_gateway_disconnects_total',
      help: 'Closed connections, by close code',
      labelNames: ['code'],
      registers,
    }),
    errors: new Counter({
      name: 'ledgerflux_gateway_client_errors_total',
      help: 'Error frames sent, by code',
      labelNames: ['code'],
      registers,
    }),
    latency: new Histogram({
      name: 'ledgerflux_gateway_delivery_latency_seconds',
      help: 'Hop 3: normalized publish (Lf-Pub-Us) to the socket write of the last live subscriber, per message',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    }),
    feedMessages: new Counter({
      name: 'ledgerflux_gateway_feed_messages_total',
      help: 'MD_NORM messages consumed by the shared consumer, by kind',
      labelNames: ['kind'],
      registers,
    }),
    feedRecreated: new Counter({
      name: 'ledgerflux_gateway_feed_recreated_total',
      help: 'Times the watchdog re-created the shared MD_NORM consumer (silent while the stream grew)',
      registers,
    }),
    feedInvalid: new Counter({
      name: 'ledgerflux_gateway_feed_invalid_total',
      help: 'MD_NORM messages not served: failing the schema, or of a product not in PRODUCTS',
      labelNames: ['reason'],
      registers,
    }),
    resumes: new Counter({
      name: 'ledgerflux_gateway_resumes_total',
      help: 'Resumes by where they were served from',
      labelNames: ['source'],
      registers,
    }),
    feedLag: new Gauge({
      name: 'ledgerflux_gateway_feed_lag_messages',
      help: 'MD_NORM messages not yet delivered to the shared consumer (pending of the last message), at scrape time',
      registers,
      collect() {
        if (samples !== undefined) this.set(samples.feedLag());
      },
    }),
    historyReaders: new Gauge({
      name: 'ledgerflux_gateway_history_readers',
      help: 'Short-lived ordered consumers reading old offsets, by state',
      labelNames: ['state'],
      registers,
    }),
    bufferedBytes: new Gauge({
      name: 'ledgerflux_gateway_buffered_bytes',
      help: 'Bytes buffered for clients (socket buffers and outboxes), sampled',
      registers,
    }),
    natsConnected: new Gauge({
      name: 'ledgerflux_gateway_nats_connected',
      help: '1 while connected to NATS, 0 while disconnected or reconnecting',
      registers,
    }),
  };
  for (const channel of CHANNELS) m.subscriptions.labels(channel).set(0);
  for (const code of ERROR_CODES) m.errors.labels(code).inc(0);
  for (const code of CLOSE_LABELS) m.disconnects.labels(code).inc(0);
  for (const source of ['ring', 'history', 'expired']) m.resumes.labels(source).inc(0);
  for (const kind of ['trade', 'ticker', 'book', 'status']) m.feedMessages.labels(kind).inc(0);
  for (const state of ['active', 'queued']) m.historyReaders.labels(state).set(0);
  for (const reason of ['limit', 'not_ready']) m.rejected.labels(reason).inc(0);
  for (const reason of ['schema', 'unconfigured']) m.feedInvalid.labels(reason).inc(0);
  m.feedRecreated.inc(0);
  return m;
}
