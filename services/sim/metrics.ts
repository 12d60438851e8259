import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { MISS_REASONS, type MissReason } from './core/control-log.js';
import type { FrameKind } from './core/faults.js';

type Inc = { inc(n?: number): void };

/** `ledgerflux_sim_<name>_<unit>`; label values come from enums and the product config only. */
export class SimMetrics {
  readonly connectionsOpen: Gauge;
  private readonly connectionsClosed: Counter<'reason'>;
  private readonly framesGenerated: Counter<'kind'>;
  private readonly framesSent: Counter<'kind'>;
  readonly bytesSent: Counter;
  private readonly tradesGenerated: Counter<'product'>;
  private readonly tradesMissed: Counter<'reason'>;
  private readonly faults: Counter<'fault'>;
  readonly clientErrors: Counter;
  readonly snapshotBytes: Histogram;
  private readonly children = new Map<string, Inc>();
  private readonly ids = new Map<Counter, number>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.connectionsOpen = new Gauge({
      name: 'ledgerflux_sim_connections',
      help: 'WebSocket connections currently open',
      registers,
    });
    this.connectionsClosed = new Counter({
      name: 'ledgerflux_sim_connections_closed_total',
      help: 'WebSocket connections closed, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.framesGenerated = new Counter({
      name: 'ledgerflux_sim_frames_generated_total',
      help: 'Market frames made by the synthetic market or read from the replay, whether or not anyone subscribed',
      labelNames: ['kind'],
      registers,
    });
    this.framesSent = new Counter({
      name: 'ledgerflux_sim_frames_sent_total',
      help: 'Frames written to client sockets, by frame type',
      labelNames: ['kind'],
      registers,
    });
    this.bytesSent = new Counter({
      name: 'ledgerflux_sim_sent_bytes_total',
      help: 'Payload bytes written to client sockets',
      registers,
    });
    this.tradesGenerated = new Counter({
      name: 'ledgerflux_sim_trades_generated_total',
      help: 'Trades generated per product',
      labelNames: ['product'],
      registers,
    });
    this.tradesMissed = new Counter({
      name: 'ledgerflux_sim_trades_missed_total',
      help: 'Trade deliveries missed on a connection (or with no subscriber), by reason',
      labelNames: ['reason'],
      registers,
    });
    this.faults = new Counter({
      name: 'ledgerflux_sim_faults_injected_total',
      help: 'Faults injected, by fault',
      labelNames: ['fault'],
      registers,
    });
    this.clientErrors = new Counter({
      name: 'ledgerflux_sim_client_errors_total',
      help: 'Error frames sent in answer to client requests',
      registers,
    });
    this.snapshotBytes = new Histogram({
      name: 'ledgerflux_sim_snapshot_bytes',
      help: 'Size of level2 snapshot frames sent',
      buckets: [1e3, 1e4, 1e5, 1e6, 4e6, 8e6, 16e6],
      registers,
    });
    // Series that dashboards read exist from the start (a rate over none is no data).
    for (const reason of MISS_REASONS) this.tradesMissed.labels(reason).inc(0);
    for (const fault of ['drop', 'dup', 'reorder', 'malformed', 'stall', 'close', 'seq_skip'])
      this.faults.labels(fault).inc(0);
  }

  private child(counter: Counter, label: string, value: string): Inc {
    const key = `${label}\u0000${value}\u0000${this.ids.get(counter) ?? this.register(counter)}`;
    let c = this.children.get(key);
    if (c === undefined) {
      c = counter.labels({ [label]: value });
      this.children.set(key, c);
    }
    return c;
  }

  private register(counter: Counter): number {
    const id = this.ids.size;
    this.ids.set(counter, id);
    return id;
  }

  generated(kind: FrameKind, n = 1): void {
    this.child(this.framesGenerated, 'kind', kind).inc(n);
  }

  sent(kind: FrameKind | 'malformed', bytes: number): void {
    this.child(this.framesSent, 'kind', kind).inc();
    this.bytesSent.inc(bytes);
  }

  trade(product: string): void {
    this.child(this.tradesGenerated, 'product', product).inc();
  }

  missed(reason: MissReason): void {
    this.child(this.tradesMissed, 'reason', reason).inc();
  }

  fault(fault: 'drop' | 'dup' | 'reorder' | 'malformed' | 'stall' | 'close' | 'seq_skip'): void {
    this.child(this.faults, 'fault', fault).inc();
  }

  closed(reason: string): void {
    this.child(this.connectionsClosed, 'reason', reason).inc();
  }
}
