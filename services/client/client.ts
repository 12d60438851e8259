import type { ServerFrame } from '../gateway/core/protocol.js';
import { EventQueue } from './event-queue.js';
import { ResumeTracker, type TrackKey } from './resume-state.js';
import type {
  Channel,
  ClientEvent,
  ClientOptions,
  SubscribeRequest,
  WebSocketLike,
} from './types.js';

export type * from './types.js';

/**
 * `ledgerflux/client`: a typed client of the gateway for browsers and Node (no Node
 * imports; give it `ws` as `WebSocket` on Node 20).
 *
 * - subscribe → `subscribed`, snapshots, then live updates, all keyed by offset;
 * - reconnects with backoff and resumes every product from its last offset, so the
 *   application sees each message once and in order across reconnects;
 * - a slow_client gap is recovered: the product is re-subscribed from `from_offset - 1`
 *   on the same connection, offsets already seen are skipped, `recovered` follows;
 * - `events()` is an async iterator with backpressure: past `maxQueue` queued events
 *   reading pauses (`ws`: socket.pause(); browsers: disconnect, then resume by offset).
 */
export class LedgerFluxClient {
  private socket: WebSocketLike | undefined;
  private readonly tracker = new ResumeTracker();
  private readonly desired = new Map<string, { channels: Set<Channel>; snapshot: boolean }>();
  private onConnection = new Set<string>();
  private readonly listeners = new Set<(e: ClientEvent) => void>();
  private queue: EventQueue<ClientEvent> | undefined;
  private readonly recoveries = new Map<string | number, string>();
  private nextId = 1;
  private attempt = 0;
  private stopped = false;
  private holding = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private staleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly opts: ClientOptions) {
    this.connect();
  }

  get connected(): boolean {
    return this.socket?.readyState === 1;
  }

  subscribe(req: SubscribeRequest): void {
    for (const product of req.products) {
      const entry = this.desired.get(product) ?? {
        channels: new Set<Channel>(),
        snapshot: req.snapshot !== false,
      };
      for (const c of req.channels) entry.channels.add(c);
      this.desired.set(product, entry);
      const from = req.from?.[product];
      if (from !== undefined) this.tracker.seed(product, from);
    }
    if (!this.connected) return;
    for (const [key, products] of groupBy(req.products, () => req.channels)) {
      this.sendSubscribe(JSON.parse(key) as Channel[], products, req.snapshot !== false);
    }
  }

  unsubscribe(req: { channels: readonly Channel[]; products: readonly string[] }): void {
    for (const product of req.products) {
      const entry = this.desired.get(product);
      for (const c of req.channels) entry?.channels.delete(c);
      if (entry?.channels.size === 0) {
        this.desired.delete(product);
        this.onConnection.delete(product);
        this.tracker.forget(product);
      }
    }
    if (this.connected) this.send({ op: 'unsubscribe', ...req, id: this.nextId++ });
  }

  /** Every event as it arrives (no backpressure). Returns the unsubscribe function. */
  on(listener: (e: ClientEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events in order, with backpressure; one iterator at a time. */
  events(): AsyncIterableIterator<ClientEvent> {
    if (this.queue !== undefined && !this.queue.done) throw new Error('events() already iterated');
    const max = Math.max(2, this.opts.maxQueue ?? 10_000);
    const q = new EventQueue<ClientEvent>(
      max,
      Math.floor(max / 2),
      () => {
        this.hold();
      },
      () => {
        this.release();
      },
      () => {
        if (this.queue === q) this.queue = undefined;
      },
    );
    this.queue = q;
    if (this.stopped) q.end();
    return q;
  }

  /** Resume offsets per product (persist them to continue in a later run). */
  offsets(): Record<string, number> {
    return this.tracker.offsets();
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.staleTimer);
    const s = this.socket;
    this.socket = undefined;
    s?.close(1000, 'client closed');
    this.queue?.end();
  }

  // Connection

  private connect(): void {
    if (this.stopped) return;
    const url = withApiKey(this.opts.url, this.opts.apiKey);
    const ws = this.opts.createSocket?.(url) ?? new (webSocketClass(this.opts))(url);
    this.socket = ws;
    this.onConnection = new Set();
    ws.addEventListener('open', () => {
      if (this.socket !== ws) return;
      if (this.holding) ws.pause?.();
      this.tracker.unblockAll();
      this.recoveries.clear();
      this.emit({ type: 'connected' });
      this.resubscribeAll();
      this.armStale();
    });
    ws.addEventListener('message', (ev: { data: unknown }) => {
      if (this.socket !== ws) return;
      this.armStale();
      if (typeof ev.data === 'string') this.handle(ev.data);
    });
    ws.addEventListener('close', (ev: { code: number }) => {
      if (this.socket !== ws) return;
      this.socket = undefined;
      clearTimeout(this.staleTimer);
      const fatal = ev.code === 4001;
      // Holding without pause(): the socket was closed on purpose; release() reconnects.
      const waitForRelease = this.holding && ws.pause === undefined;
      const again = !this.stopped && !fatal && this.opts.reconnect !== false;
      this.emit({ type: 'disconnected', code: ev.code, reconnecting: again && !waitForRelease });
      if (again && !waitForRelease) this.scheduleReconnect();
    });
    ws.addEventListener('error', () => undefined);
  }

  private scheduleReconnect(): void {
    const policy = this.opts.reconnect === false ? {} : (this.opts.reconnect ?? {});
    const base = policy.initialMs ?? 250;
    const ceiling = Math.min(policy.maxMs ?? 10_000, base * 2 ** Math.min(this.attempt++, 20));
    const delay = ceiling / 2 + (ceiling / 2) * Math.random();
    this.reconnectTimer = setTimeout(() => {
      this.connect();
    }, delay);
  }

  private armStale(): void {
    clearTimeout(this.staleTimer);
    if (this.holding) return;
    this.staleTimer = setTimeout(() => {
      this.socket?.close(1000, 'no heartbeat');
    }, this.opts.staleMs ?? 20_000);
  }

  private hold(): void {
    this.holding = true;
    clearTimeout(this.staleTimer);
    const s = this.socket;
    if (s?.pause !== undefined) s.pause();
    else s?.close(1000, 'backpressure');
  }

  private release(): void {
    this.holding = false;
    if (this.socket?.resume !== undefined) {
      this.socket.resume();
      this.armStale();
    } else if (this.socket === undefined && !this.stopped) this.connect();
  }

  // Requests

  private resubscribeAll(): void {
    const groups = groupBy([...this.desired.keys()], (p) => {
      const d = this.desired.get(p);
      return [...(d?.channels ?? [])].sort();
    });
    for (const [key, products] of groups) {
      const channels = JSON.parse(key) as Channel[];
      for (const snapshot of [true, false]) {
        const ps = products.filter((p) => this.desired.get(p)?.snapshot === snapshot);
        if (ps.length > 0) this.sendSubscribe(channels, ps, snapshot);
      }
    }
  }

  private sendSubscribe(
    channels: readonly Channel[],
    products: string[],
    snapshot: boolean,
  ): string | number {
    const from: Record<string, number> = {};
    for (const p of products) {
      const offset = this.tracker.resumeFrom(p);
      if (offset !== undefined && !this.onConnection.has(p)) from[p] = offset;
      this.onConnection.add(p);
    }
    const id = this.nextId++;
    this.send({
      op: 'subscribe',
      channels,
      products,
      snapshot,
      ...(Object.keys(from).length > 0 ? { from } : {}),
      ...(this.opts.conflateMs === undefined ? {} : { conflate_ms: this.opts.conflateMs }),
      id,
    });
    return id;
  }

  /** Re-subscribe a product from its (lowered) resume point on this connection. */
  private recover(product: string): void {
    const channels = [...(this.desired.get(product)?.channels ?? [])];
    if (channels.length === 0 || !this.connected) return;
    this.send({ op: 'unsubscribe', channels, products: [product], id: this.nextId++ });
    this.onConnection.delete(product);
    this.recoveries.set(this.sendSubscribe(channels, [product], true), product);
  }

  private send(frame: object): void {
    this.socket?.send(JSON.stringify(frame));
  }

  // Frames

  private handle(text: string): void {
    let f: ServerFrame;
    try {
      f = JSON.parse(text) as ServerFrame;
    } catch {
      return;
    }
    switch (f.op) {
      case 'heartbeat':
      case 'pong':
        return;
      case 'subscribed': {
        this.attempt = 0;
        const product = f.id === undefined ? undefined : this.recoveries.get(f.id);
        if (product !== undefined) {
          this.recoveries.delete(f.id ?? '');
          this.tracker.unblock(product);
        }
        return;
      }
      case 'error': {
        const product = f.id === undefined ? undefined : this.recoveries.get(f.id);
        if (product !== undefined) {
          // The re-subscribe was refused; a reconnect resumes every product anyway.
          this.recoveries.delete(f.id ?? '');
          this.socket?.close(1000, 'resync');
        }
        if (f.code === 'OFFSET_EXPIRED' && f.product !== undefined) {
          this.tracker.abandonRecovery(f.product);
        }
        this.emit({
          type: 'error',
          code: f.code,
          message: f.message,
          ...(f.product === undefined ? {} : { product: f.product }),
          ...(f.retry_after_ms === undefined ? {} : { retryAfterMs: f.retry_after_ms }),
        });
        return;
      }
      case 'snapshot':
        if (this.tracker.snapshot(f.product, f.channel, f.offset)) {
          const { op: _op, ...rest } = f;
          this.emit({ type: 'snapshot', ...rest });
        }
        return;
      case 'update':
        if (this.tracker.accept(f.product, f.channel, f.offset)) {
          const { op: _op, conflated, ...rest } = f;
          this.emit({ type: 'update', ...rest, conflated: conflated === true });
        }
        this.checkRecovered(f.product, f.offset);
        return;
      case 'gap':
        this.onGap(f);
        return;
      case 'status':
        if (this.tracker.accept(f.product, 'status', f.offset)) {
          const { op: _op, ...rest } = f;
          this.emit({ type: 'status', ...rest });
        }
        this.checkRecovered(f.product, f.offset);
        return;
    }
  }

  private onGap(f: Extract<ServerFrame, { op: 'gap' }>): void {
    const base = {
      type: 'gap' as const,
      product: f.product,
      offset: f.offset,
      from: f.from,
      to: f.to,
    };
    if (f.reason === 'slow_client' && f.from_offset !== undefined && f.to_offset !== undefined) {
      if (!this.tracker.slowGap(f.product, f.from_offset, f.to_offset)) return;
      const recovering = this.connected && this.desired.has(f.product);
      this.emit({
        ...base,
        reason: 'slow_client',
        fromOffset: f.from_offset,
        toOffset: f.to_offset,
        recovering,
      });
      this.recover(f.product);
      return;
    }
    const key: TrackKey = 'trades';
    if (this.tracker.accept(f.product, key, f.offset)) {
      this.emit({ ...base, reason: f.reason, recovering: false });
    }
    this.checkRecovered(f.product, f.offset);
  }

  private checkRecovered(product: string, offset: number): void {
    const r = this.tracker.recoveredBy(product, offset);
    if (r !== undefined) this.emit({ type: 'recovered', product, ...r });
  }

  private emit(e: ClientEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A listener's bug must not break delivery to the others.
      }
    }
    this.queue?.push(e);
  }
}

function groupBy(
  products: readonly string[],
  channelsOf: (p: string) => readonly Channel[],
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of products) {
    const key = JSON.stringify([...channelsOf(p)].sort());
    out.set(key, [...(out.get(key) ?? []), p]);
  }
  return out;
}

function withApiKey(url: string, key: string | undefined): string {
  if (key === undefined) return url;
  const u = new URL(url);
  u.searchParams.set('api_key', key);
  return u.toString();
}

function webSocketClass(opts: ClientOptions): new (url: string) => WebSocketLike {
  const ctor =
    opts.WebSocket ?? (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (ctor === undefined) {
    throw new TypeError('no WebSocket available: pass `WebSocket` (e.g. from the "ws" package)');
  }
  return ctor;
}
