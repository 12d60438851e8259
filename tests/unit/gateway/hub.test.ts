import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { createLogger } from '../../../services/common/logger.js';
import type { Normalized } from '../../../services/common/schemas/normalized.js';
import { channelOf, messageFrame } from '../../../services/gateway/core/frames.js';
import type { FeedMessage } from '../../../services/gateway/core/product-state.js';
import { HistoryPool } from '../../../services/gateway/feed.js';
import { Hub } from '../../../services/gateway/hub.js';
import { createGatewayMetrics } from '../../../services/gateway/metrics.js';
import { startResume } from '../../../services/gateway/resume.js';
import { Session, type SessionLimits } from '../../../services/gateway/session.js';
import { splitWsFrames } from '../../../services/gateway/core/ws-frame.js';

/** The hub and sessions over fake sockets: fan-out, snapshots, resume, slow clients. */

const log = createLogger('test', 'silent');
const LIMITS: SessionLimits = {
  maxFrameBytes: 4096,
  slowBytes: 10_000,
  maxBufferBytes: 40_000,
  slowMaxMs: 1_000,
  rateLimitPerS: 100,
  rateLimitBurst: 100,
  abuseLimit: 10,
  closeGraceMs: 10,
};

class FakeWs {
  readyState = 1;
  closed: number | undefined;
  close(code: number): void {
    this.closed = code;
    this.readyState = 2;
  }
  terminate(): void {}
}

class FakeSocket {
  writableLength = 0;
  writableHighWaterMark = 1024;
  writableNeedDrain = false;
  readonly writes: Buffer[] = [];
  write(b: Buffer): void {
    this.writes.push(b);
  }
}

const tick = () => new Promise((r) => setImmediate(r));
const common = {
  v: 1 as const,
  venue: 'coinbase' as const,
  product: 'BTC-USD',
  time: 't',
  recv_us: 0,
  flags: [],
};
let tradeId = 100;
function msg(offset: number, kind: 'trade' | 'ticker' | 'book'): FeedMessage {
  const m: Normalized =
    kind === 'trade'
      ? {
          ...common,
          seq: offset,
          type: 'trade',
          trade_id: String(tradeId++),
          price: '1',
          size: '1',
          side: 'buy',
        }
      : kind === 'ticker'
        ? {
            ...common,
            seq: offset,
            type: 'ticker',
            price: String(offset),
            best_bid: '1',
            best_ask: '2',
          }
        : { ...common, seq: offset, type: 'book', bids: [['1', '1']], asks: [] };
  return {
    offset,
    product: 'BTC-USD',
    kind,
    channel: channelOf(kind),
    atMs: Date.now(),
    pubUs: undefined,
    frame: messageFrame(m, offset, JSON.stringify(m)),
  };
}

function setup(
  opts: {
    ring?: number;
    history?: FeedMessage[];
    streamBounds?: (hub: Hub) => Promise<{ first: number; last: number }>;
  } = {},
) {
  const metrics = createGatewayMetrics(new Registry());
  const hub = new Hub({
    products: ['BTC-USD'],
    ringCapacity: opts.ring ?? 1_000,
    ringMaxAgeMs: 60_000,
    snapshotTrades: 5,
    maxSubscriptions: 2,
    metrics,
    log,
  });
  hub.setFloor(0);
  const history = opts.history ?? [];
  const feed = {
    streamBounds: () => opts.streamBounds?.(hub) ?? Promise.resolve({ first: 1, last: hub.head }),
    async *readHistory(_p: string, after: number) {
      await Promise.resolve();
      for (const m of history) if (m.offset > after) yield m;
    },
  };
  hub.resume = (s, sub) => {
    startResume({ hub, feed, pool: new HistoryPool(1), metrics }, s, sub);
  };
  const connect = (limits: Partial<SessionLimits> = {}) => {
    const ws = new FakeWs();
    const sock = new FakeSocket();
    const s = new Session(
      ws as unknown as WebSocket,
      sock as unknown as Duplex,
      hub,
      { ...LIMITS, ...limits },
      log,
    );
    hub.add(s);
    const frames = () =>
      sock.writes
        .flatMap((w) => splitWsFrames(w))
        .map((b) => JSON.parse(b.toString()) as Record<string, unknown>);
    const send = (f: object) => {
      s.onFrame(Buffer.from(JSON.stringify(f)), false);
    };
    return { s, ws, sock, frames, send };
  };
  return { hub, connect, metrics };
}

const ops = (frames: Record<string, unknown>[]) =>
  frames.map((f) => `${String(f.op)}${typeof f.offset === 'number' ? `@${f.offset}` : ''}`);

describe('Hub', () => {
  it('serializes once: every subscriber is written the same bytes', async () => {
    const { hub, connect } = setup();
    const clients = [connect(), connect(), connect()];
    for (const c of clients)
      c.send({ op: 'subscribe', channels: ['trades'], products: ['BTC-USD'], snapshot: false });
    await tick();
    const m = msg(1, 'trade');
    hub.onMessage(m);
    await tick();
    for (const c of clients) expect(c.sock.writes.at(-1)).toBe(m.frame.wire);
  });

  it('sends subscribed, then snapshots keyed by offset, then only later updates', async () => {
    const { hub, connect } = setup();
    hub.onMessage(msg(1, 'ticker'));
    hub.onMessage(msg(2, 'trade'));
    hub.onMessage(msg(3, 'book'));
    const c = connect();
    c.send({ op: 'subscribe', channels: ['ticker', 'trades'], products: ['BTC-USD'] });
    hub.onMessage(msg(4, 'trade'));
    hub.onMessage(msg(5, 'book'));
    hub.onMessage(msg(6, 'ticker'));
    await tick();
    expect(ops(c.frames())).toEqual([
      'subscribed',
      'snapshot@1',
      'snapshot@2',
      'update@4',
      'update@6',
    ]);
  });

  it('resumes from the ring, then live, with nothing missed or repeated', async () => {
    const { hub, connect } = setup();
    for (let o = 1; o <= 10; o++) hub.onMessage(msg(o, o % 2 === 0 ? 'trade' : 'ticker'));
    const c = connect();
    c.send({
      op: 'subscribe',
      channels: ['trades'],
      products: ['BTC-USD'],
      from: { 'BTC-USD': 5 },
    });
    hub.onMessage(msg(11, 'trade'));
    await tick();
    await tick();
    hub.onMessage(msg(12, 'trade'));
    await tick();
    expect(ops(c.frames())).toEqual([
      'subscribed',
      'update@6',
      'update@8',
      'update@10',
      'update@11',
      'update@12',
    ]);
  });

  it('a resume ahead of a catching-up gateway loses nothing the gateway reads meanwhile', async () => {
    // Regression: right after a gateway restart its feed is behind a resuming client. The
    // messages the feed read while the resume asked for the stream's bounds were skipped.
    const { hub, connect } = setup({
      streamBounds: (h) => {
        for (let o = 4; o <= 8; o++) h.onMessage(msg(o, 'trade'));
        return Promise.resolve({ first: 1, last: 20 });
      },
    });
    for (let o = 1; o <= 3; o++) hub.onMessage(msg(o, 'trade'));
    const c = connect();
    c.send({
      op: 'subscribe',
      channels: ['trades'],
      products: ['BTC-USD'],
      from: { 'BTC-USD': 5 },
    });
    for (let i = 0; i < 5; i++) await tick();
    hub.onMessage(msg(9, 'trade'));
    await tick();
    expect(ops(c.frames())).toEqual(['subscribed', 'update@6', 'update@7', 'update@8', 'update@9']);
  });

  it('property: a resume from any offset gets exactly the later messages, wherever the feed is', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        async (total, a, b, c) => {
          // Before the subscribe the feed has read `before`; while the bounds are read it
          // reads up to `during`; the resume starts after `from`; the rest comes later.
          const before = a % (total + 1);
          const during = Math.max(before, b % (total + 1));
          const from = c % (total + 1);
          const all = Array.from({ length: total }, (_, i) => msg(i + 1, 'trade'));
          const { hub, connect } = setup({
            history: all,
            streamBounds: (h) => {
              for (const m of all.slice(h.head, during)) h.onMessage(m);
              return Promise.resolve({ first: 1, last: total });
            },
          });
          for (const m of all.slice(0, before)) hub.onMessage(m);
          const client = connect();
          client.send({
            op: 'subscribe',
            channels: ['trades'],
            products: ['BTC-USD'],
            from: { 'BTC-USD': from },
          });
          for (let i = 0; i < 6; i++) await tick();
          for (const m of all.slice(hub.head)) {
            hub.onMessage(m);
            await tick();
          }
          for (let i = 0; i < 6; i++) await tick();
          expect(ops(client.frames())).toEqual([
            'subscribed',
            ...all.slice(from).map((m) => `update@${String(m.offset)}`),
          ]);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('reads older offsets from history, then the ring', async () => {
    const all = Array.from({ length: 30 }, (_, i) => msg(i + 1, 'trade'));
    const { hub, connect } = setup({ ring: 5, history: all });
    for (const m of all) hub.onMessage(m);
    const c = connect();
    c.send({
      op: 'subscribe',
      channels: ['trades'],
      products: ['BTC-USD'],
      from: { 'BTC-USD': 3 },
    });
    for (let i = 0; i < 20; i++) await tick();
    expect(ops(c.frames()).slice(1)).toEqual(all.slice(3).map((m) => `update@${m.offset}`));
  });

  it('refuses unknown products and too many subscriptions, and answers unsubscribe', async () => {
    const { connect } = setup();
    const c = connect();
    c.send({ op: 'subscribe', channels: ['ticker'], products: ['ETH-USD'] });
    c.send({ op: 'subscribe', channels: ['ticker', 'trades', 'book'], products: ['BTC-USD'] });
    c.send({ op: 'subscribe', channels: ['ticker', 'trades'], products: ['BTC-USD'] });
    c.send({ op: 'subscribe', channels: ['book'], products: ['BTC-USD'], id: 'x' });
    c.send({ op: 'unsubscribe', channels: ['ticker'], products: ['BTC-USD'] });
    await tick();
    const f = c.frames();
    expect(f.map((x) => x.op)).toEqual([
      'error',
      'error',
      'subscribed',
      'snapshot',
      'snapshot',
      'error',
      'subscribed',
    ]);
    expect(f[0]).toMatchObject({ code: 'UNKNOWN_PRODUCT' });
    expect(f[1]).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS' });
    expect(f[5]).toMatchObject({ code: 'TOO_MANY_SUBSCRIPTIONS', id: 'x' });
    expect(f[6]).toMatchObject({ subscriptions: { 'BTC-USD': ['trades'] } });
  });

  it('a slow client is conflated and gets a slow_client gap when it drains; too slow too long is closed with 4000', async () => {
    const { hub, connect, metrics } = setup();
    const c = connect({ slowMaxMs: 50 });
    c.send({
      op: 'subscribe',
      channels: ['ticker', 'trades'],
      products: ['BTC-USD'],
      snapshot: false,
    });
    await tick();
    c.sock.writableLength = LIMITS.slowBytes;
    for (let o = 1; o <= 6; o++) hub.onMessage(msg(o, o % 2 === 0 ? 'trade' : 'ticker'));
    await tick();
    expect(c.s.outbox.slow).toBe(true);
    c.sock.writableLength = 0;
    hub.markDirty(c.s);
    await tick();
    const f = c.frames().slice(1);
    expect(ops(f)).toEqual(['gap@6', 'update@5']);
    expect(f[0]).toMatchObject({ reason: 'slow_client', from_offset: 2, to_offset: 6 });
    expect(f[1]).toMatchObject({ conflated: true });
    expect((await metrics.conflated.get()).values[0]?.value).toBe(2);
    // Slow again, and for longer than GATEWAY_SLOW_MAX_MS.
    c.sock.writableLength = LIMITS.slowBytes;
    hub.onMessage(msg(7, 'trade'));
    await tick();
    hub.onMessage(msg(8, 'ticker'));
    await tick();
    expect(c.ws.closed).toBeUndefined();
    // Only the clock moves (Date): past GATEWAY_SLOW_MAX_MS the next flush closes it.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 60);
      hub.onMessage(msg(9, 'ticker'));
      await tick();
    } finally {
      vi.useRealTimers();
    }
    expect(c.ws.closed).toBe(4000);
  });
});
