/**
 * One client connection: its subscriptions, its fault planner, the stall queue, the
 * send-buffer cap (Coinbase's slow-consumer error, then close), and the trade
 * accounting of every `match` it was meant to get (the control log).
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from '../common/logger.js';
import { AtSession } from './at-session.js';
import type { AtFrameChannel } from './core/at-frames.js';
import type { ControlLog, MissReason } from './core/control-log.js';
import { FaultPlanner, type FaultAction, type FaultState, type FrameKind } from './core/faults.js';
import { errorFrame } from './core/frames.js';
import { ERRORS, Subscriptions } from './core/protocol.js';
import { Rng } from './core/rng.js';
import type { SimMetrics } from './metrics.js';
import { nowUs } from './synthetic.js';

export interface TradeRef {
  product: string;
  tradeId: number;
}

export interface OutFrame {
  raw: string;
  kind: FrameKind;
  product?: string | undefined;
  tradeId?: number | undefined;
  /** Advanced Trade market_trades frames: the trades they carry. */
  trades?: readonly TradeRef[] | undefined;
  /** A frame already in Advanced Trade terms (heartbeats, candles): only the envelope is missing. */
  at?: { channel: AtFrameChannel; events: string } | undefined;
}

/** Trades owed to a connection by this frame: pending until written, else missed. */
function owedTrades(f: OutFrame): readonly TradeRef[] {
  if (f.kind === 'market_trades') return f.trades ?? [];
  if (f.kind === 'match' && f.tradeId !== undefined && f.product !== undefined)
    return [{ product: f.product, tradeId: f.tradeId }];
  return [];
}

/** Trades replayed on subscribe (last_match, the market_trades snapshot): delivered if written. */
function replayedTrades(f: OutFrame): readonly TradeRef[] {
  if (f.kind === 'trades_snapshot') return f.trades ?? [];
  if (f.kind === 'last_match' && f.tradeId !== undefined && f.product !== undefined)
    return [{ product: f.product, tradeId: f.tradeId }];
  return [];
}

export interface ConnectionDeps {
  log: ControlLog;
  metrics: SimMetrics;
  faults: FaultState;
  logger: Logger;
  seed: number;
  maxBufferBytes: number;
  slowConsumerGraceMs: number;
  /** Close a connection that sent no (un)subscribe within this many ms (Coinbase: 5 s). */
  subscribeTimeoutMs: number;
  /** The protocol this connection speaks. */
  feed: 'exchange' | 'advanced';
  onClosed: (conn: SimConnection) => void;
}

export type CloseReason =
  'client' | 'fault_close' | 'slow_consumer' | 'subscribe_timeout' | 'server_stop' | 'idle';

type Queued = { frame: OutFrame } | { raw: string };

export class SimConnection {
  readonly subs = new Subscriptions();
  /** Set when the connection speaks Advanced Trade. */
  readonly at: AtSession | undefined;
  private readonly planner: FaultPlanner<OutFrame>;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private closeReason: CloseReason | null = null;
  private stallTimer: NodeJS.Timeout | undefined;
  private stallQueue: Queued[] | undefined;
  private stallBytes = 0;
  /** Bytes of snapshots not yet written: a multi-MB snapshot is not a slow consumer. */
  private snapshotAllowance = 0;
  private killTimer: NodeJS.Timeout | undefined;
  private subscribeTimer: NodeJS.Timeout | undefined;
  private closeWaiters: (() => void)[] = [];
  private readonly logger: Logger;

  constructor(
    readonly id: string,
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly deps: ConnectionDeps,
  ) {
    this.planner = new FaultPlanner(id, Rng.derive(deps.seed, `faults:${id}`), deps.faults);
    this.logger = deps.logger.child({ conn: id });
    if (deps.feed === 'advanced') {
      this.at = new AtSession({
        decide: (kind) => this.planner.decide(kind),
        dropped: (t) => {
          this.deps.metrics.fault('drop');
          this.missOne(t, 'fault_drop');
        },
        seqSkipped: () => {
          this.deps.metrics.fault('seq_skip');
        },
      });
    }
    ws.on('close', (code) => {
      this.closed(code);
    });
    if (deps.subscribeTimeoutMs > 0) {
      this.subscribeTimer = setTimeout(() => {
        this.logger.info({ ms: deps.subscribeTimeoutMs }, 'no subscribe in time: closing');
        this.close('subscribe_timeout', 1008, 'subscribe timeout');
      }, deps.subscribeTimeoutMs);
    }
  }

  /** A well-formed subscribe or unsubscribe arrived (even a refused one). */
  gotRequest(): void {
    clearTimeout(this.subscribeTimer);
    this.subscribeTimer = undefined;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Subscribed to anything (either protocol). */
  get subscribed(): boolean {
    return this.at === undefined ? !this.subs.empty : !this.at.subs.empty;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  cork(): void {
    this.socket.cork();
  }

  /** The end of a burst of market frames: batched Advanced Trade trades go out, then the socket. */
  uncork(): void {
    if (this.at !== undefined && this.state === 'open') this.send(this.at.flush(nowUs()));
    this.socket.uncork();
  }

  /** Entry point for every frame meant for this connection. */
  deliver(frame: OutFrame): void {
    if (this.state !== 'open') {
      this.missTrade(frame, this.missReason());
      return;
    }
    if (this.at !== undefined) this.send(this.at.accept(frame, nowUs()));
    else this.execute(this.planner.process(frame));
  }

  /** Frames already in this connection's protocol (Advanced Trade: numbered), through the faults. */
  send(frames: readonly OutFrame[]): void {
    for (const f of frames) {
      if (this.state !== 'open') this.missTrade(f, this.missReason());
      else this.execute(this.planner.process(f));
    }
  }

  /** Applies one-shot faults that became due (called when faults change). */
  pollFaults(): void {
    if (this.state === 'open') this.execute(this.planner.poll());
  }

  private execute(actions: FaultAction<OutFrame>[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          if (a.dup) this.deps.metrics.fault('dup');
          this.enqueue({ frame: a.frame });
          break;
        case 'drop':
          this.deps.metrics.fault('drop');
          this.missTrade(a.frame, 'fault_drop');
          break;
        case 'hold':
          // Still owed to this connection: pending until released or the connection ends.
          this.deps.metrics.fault('reorder');
          this.markPending(a.frame);
          break;
        case 'malformed':
          this.deps.metrics.fault('malformed');
          this.enqueue({ raw: a.raw });
          break;
        case 'stall':
          this.deps.metrics.fault('stall');
          this.stall(a.ms);
          break;
        case 'close':
          this.deps.metrics.fault('close');
          this.close('fault_close', a.code, a.reason);
          break;
        default: {
          const never: never = a;
          throw new Error(`unknown fault action ${JSON.stringify(never)}`);
        }
      }
    }
  }

  private enqueue(q: Queued): void {
    if (this.state !== 'open') {
      if ('frame' in q) this.missTrade(q.frame, this.missReason());
      return;
    }
    if (this.stallQueue !== undefined) {
      if ('frame' in q) this.markPending(q.frame);
      this.stallQueue.push(q);
      this.stallBytes += 'frame' in q ? q.frame.raw.length : q.raw.length;
      if (this.stallBytes > this.deps.maxBufferBytes) this.slowConsumer();
      return;
    }
    this.write(q);
  }

  /** A trade owed to this connection but not yet handed to the socket (held, stalled). */
  private markPending(f: OutFrame): void {
    for (const t of owedTrades(f)) this.deps.log.sent(t.product, t.tradeId, this.id);
  }

  private write(q: Queued): void {
    const { log, metrics } = this.deps;
    if ('raw' in q) {
      this.ws.send(q.raw);
      metrics.sent('malformed', q.raw.length);
      log.connectionSent(this.id, 1, q.raw.length);
    } else {
      const f = q.frame;
      const bytes = f.raw.length;
      const owed = owedTrades(f);
      const replayed = replayedTrades(f);
      if (owed.length > 0) {
        for (const t of owed) log.sent(t.product, t.tradeId, this.id);
        this.ws.send(f.raw, (err) => {
          if (err) this.missTrade(f, this.missReason());
          else for (const t of owed) log.delivered(t.product, t.tradeId, this.id);
        });
      } else if (replayed.length > 0) {
        this.ws.send(f.raw, (err) => {
          if (!err) for (const t of replayed) log.delivered(t.product, t.tradeId, this.id);
        });
      } else if (f.kind === 'snapshot') {
        this.snapshotAllowance += bytes;
        metrics.snapshotBytes.observe(bytes);
        this.ws.send(f.raw, () => {
          this.snapshotAllowance -= bytes;
        });
      } else {
        this.ws.send(f.raw);
      }
      metrics.sent(f.kind, bytes);
      log.connectionSent(this.id, 1, bytes);
    }
    if (
      this.state === 'open' &&
      this.ws.bufferedAmount > this.deps.maxBufferBytes + this.snapshotAllowance
    ) {
      this.slowConsumer();
    }
  }

  private stall(ms: number): void {
    if (this.stallQueue !== undefined) clearTimeout(this.stallTimer);
    this.stallQueue ??= [];
    this.logger.info({ ms }, 'stall fault: holding output');
    this.stallTimer = setTimeout(() => {
      this.endStall();
    }, ms);
  }

  private endStall(): void {
    const queue = this.stallQueue;
    this.stallQueue = undefined;
    this.stallBytes = 0;
    if (queue === undefined || this.state !== 'open') return;
    this.cork();
    for (const q of queue) {
      // A write may have closed the connection (slow consumer) on the way.
      if (!this.isOpen) {
        if ('frame' in q) this.missTrade(q.frame, this.missReason());
        continue;
      }
      this.write(q);
    }
    this.uncork();
  }

  /** Coinbase's slow-consumer error, then close (terminated if the client doesn't answer). */
  private slowConsumer(): void {
    if (this.state !== 'open') return;
    this.logger.warn(
      { bufferedAmount: this.ws.bufferedAmount, maxBufferBytes: this.deps.maxBufferBytes },
      'slow consumer: closing',
    );
    this.ws.send(errorFrame(ERRORS.slowConsumer));
    this.close('slow_consumer', 1008, ERRORS.slowConsumer);
  }

  /** Ends the connection: 1006 terminates the TCP connection, other codes send a close frame. */
  close(reason: CloseReason, code: number, text = ''): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.closeReason = reason;
    if (code === 1006) {
      this.ws.terminate();
      return;
    }
    this.ws.close(code, text);
    this.killTimer = setTimeout(() => {
      this.ws.terminate();
    }, this.deps.slowConsumerGraceMs);
    this.killTimer.unref();
  }

  /** Abrupt end (server stop): no close handshake. */
  terminate(): void {
    if (this.state === 'closed') return;
    this.closeReason ??= 'server_stop';
    this.state = 'closing';
    this.ws.terminate();
  }

  onceClosed(cb: () => void): void {
    if (this.state === 'closed') cb();
    else this.closeWaiters.push(cb);
  }

  private missReason(): MissReason {
    return this.closeReason === 'slow_consumer' ? 'slow_consumer' : 'closed';
  }

  private missTrade(f: OutFrame, reason: MissReason): void {
    for (const t of owedTrades(f)) this.missOne(t, reason);
  }

  private missOne(t: TradeRef, reason: MissReason): void {
    this.deps.log.missed(t.product, t.tradeId, this.id, reason);
    this.deps.metrics.missed(reason);
  }

  private closed(code: number): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.killTimer);
    clearTimeout(this.stallTimer);
    clearTimeout(this.subscribeTimer);
    this.closeReason ??= 'client';
    for (const f of this.planner.drainHeld()) this.missTrade(f, this.missReason());
    for (const t of this.at?.drainQueued() ?? []) this.missOne(t, this.missReason());
    const queue = this.stallQueue ?? [];
    this.stallQueue = undefined;
    for (const q of queue) if ('frame' in q) this.missTrade(q.frame, 'stall');
    this.deps.log.connectionClosed(this.id, new Date().toISOString(), this.closeReason, code);
    this.deps.metrics.closed(this.closeReason);
    this.logger.info({ code, reason: this.closeReason }, 'connection closed');
    this.deps.onClosed(this);
    for (const cb of this.closeWaiters.splice(0)) cb();
  }
}
