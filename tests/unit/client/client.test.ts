import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { LedgerFluxClient } from '../../../services/client/client.js';
import type { ClientEvent, WebSocketConstructor } from '../../../services/client/types.js';
import { FakeSocket, PausableSocket } from './fake-socket.js';

const trade = (offset: number, id: number) => ({
  op: 'update',
  channel: 'trades',
  product: 'BTC-USD',
  offset,
  seq: id,
  data: { trade_id: String(id) },
});

function client(opts: { Socket?: WebSocketConstructor; maxQueue?: number } = {}) {
  const events: ClientEvent[] = [];
  const c = new LedgerFluxClient({
    url: 'ws://gw:8080/ws',
    WebSocket: opts.Socket ?? FakeSocket,
    reconnect: { initialMs: 10, maxMs: 10 },
    ...(opts.maxQueue === undefined ? {} : { maxQueue: opts.maxQueue }),
  });
  c.on((e) => events.push(e));
  return { c, events };
}

const kinds = (events: ClientEvent[]) =>
  events.map((e) => ('offset' in e ? `${e.type}@${String(e.offset)}` : e.type));

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('LedgerFluxClient', () => {
  it('works with the browser WebSocket and with ws (types)', () => {
    // Compile-time: both constructors fit (Node 20 has no global WebSocket at run time).
    const browser: WebSocketConstructor = globalThis.WebSocket;
    const node: WebSocketConstructor = WebSocket;
    expect(node).toBeTypeOf('function');
    expect(['function', 'undefined']).toContain(typeof browser);
  });

  it('subscribes on open, then snapshot and live; resumes from its last offset after a drop', () => {
    const { c, events } = client();
    c.subscribe({ channels: ['trades'], products: ['BTC-USD'] });
    const s1 = FakeSocket.last();
    s1.open();
    expect(s1.sent).toEqual([
      { op: 'subscribe', channels: ['trades'], products: ['BTC-USD'], snapshot: true, id: 1 },
    ]);
    s1.receive({
      op: 'subscribed',
      channels: ['trades'],
      products: ['BTC-USD'],
      subscriptions: {},
      id: 1,
    });
    s1.receive({ op: 'snapshot', channel: 'trades', product: 'BTC-USD', offset: 10, data: [] });
    s1.receive(trade(11, 100));
    s1.receive(trade(13, 101));
    s1.drop();
    vi.advanceTimersByTime(20);
    const s2 = FakeSocket.last();
    expect(s2).not.toBe(s1);
    s2.open();
    expect(s2.sent[0]).toMatchObject({ op: 'subscribe', from: { 'BTC-USD': 13 } });
    // A replay that starts early does not repeat anything.
    s2.receive(trade(13, 101));
    s2.receive(trade(15, 102));
    expect(kinds(events)).toEqual([
      'connected',
      'snapshot@10',
      'update@11',
      'update@13',
      'disconnected',
      'connected',
      'update@15',
    ]);
    expect(c.offsets()).toEqual({ 'BTC-USD': 15 });
    c.close();
  });

  it('recovers a slow_client gap on the same connection: re-subscribes from from_offset - 1, skips what it saw', () => {
    const { c, events } = client();
    c.subscribe({ channels: ['trades', 'ticker'], products: ['BTC-USD'] });
    const s = FakeSocket.last();
    s.open();
    s.receive(trade(20, 200));
    s.receive({
      op: 'gap',
      channel: 'trades',
      product: 'BTC-USD',
      offset: 30,
      from: 201,
      to: 205,
      reason: 'slow_client',
      from_offset: 22,
      to_offset: 30,
    });
    expect(s.sent.slice(1)).toEqual([
      { op: 'unsubscribe', channels: ['trades', 'ticker'], products: ['BTC-USD'], id: 2 },
      // min(last processed, from_offset - 1)
      {
        op: 'subscribe',
        channels: ['trades', 'ticker'],
        products: ['BTC-USD'],
        snapshot: true,
        from: { 'BTC-USD': 20 },
        id: 3,
      },
    ]);
    // Frames still in flight for the product are ignored until the re-subscribe is answered.
    s.receive(trade(31, 206));
    s.receive({ op: 'subscribed', channels: [], products: [], subscriptions: {}, id: 2 });
    s.receive({
      op: 'subscribed',
      channels: ['ticker', 'trades'],
      products: ['BTC-USD'],
      subscriptions: {},
      id: 3,
    });
    for (const [o, id] of [
      [22, 201],
      [25, 202],
      [30, 205],
      [31, 206],
    ] as const)
      s.receive(trade(o, id));
    expect(kinds(events)).toEqual([
      'connected',
      'update@20',
      'gap@30',
      'update@22',
      'update@25',
      'update@30',
      'recovered',
      'update@31',
    ]);
    expect(events.find((e) => e.type === 'gap')).toMatchObject({
      recovering: true,
      fromOffset: 22,
      toOffset: 30,
    });
    c.close();
  });

  it('does not reconnect after 4001 (unauthorized), and puts the api key in the URL', () => {
    const events: ClientEvent[] = [];
    const c = new LedgerFluxClient({ url: 'ws://gw/ws', WebSocket: FakeSocket, apiKey: 'k 1' });
    c.on((e) => events.push(e));
    const s = FakeSocket.last();
    expect(s.url).toBe('ws://gw/ws?api_key=k+1');
    s.open();
    s.receive({ op: 'error', code: 'UNAUTHORIZED', message: 'no' });
    s.drop(4001);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(events.at(-1)).toEqual({ type: 'disconnected', code: 4001, reconnecting: false });
    c.close();
  });

  it('reconnects when nothing arrives for staleMs', () => {
    const c = new LedgerFluxClient({
      url: 'ws://gw/ws',
      WebSocket: FakeSocket,
      staleMs: 1_000,
      reconnect: { initialMs: 5, maxMs: 5 },
    });
    FakeSocket.last().open();
    vi.advanceTimersByTime(999);
    FakeSocket.last().receive({ op: 'heartbeat', time: '2024-01-01T00:00:00Z' });
    vi.advanceTimersByTime(999);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(10);
    expect(FakeSocket.all).toHaveLength(2);
    c.close();
  });

  it('events(): backpressure pauses a ws socket and resumes it as the consumer drains', async () => {
    const { c } = client({ Socket: PausableSocket, maxQueue: 4 });
    c.subscribe({ channels: ['trades'], products: ['BTC-USD'] });
    const s = FakeSocket.last();
    const it = c.events();
    s.open();
    for (let i = 1; i <= 4; i++) s.receive(trade(i, i));
    expect(s.paused).toBe(true);
    await it.next();
    await it.next();
    await it.next();
    expect(s.paused).toBe(false);
    c.close();
  });

  it('events(): without pause() it disconnects, then resumes from the offsets it queued', async () => {
    const { c } = client({ maxQueue: 3 });
    c.subscribe({ channels: ['trades'], products: ['BTC-USD'] });
    const s1 = FakeSocket.last();
    const it = c.events();
    s1.open();
    // connected + two updates fill the queue: the socket is closed; what it still had is dropped.
    for (let i = 1; i <= 3; i++) s1.receive(trade(i, i));
    expect(s1.readyState).toBe(3);
    vi.advanceTimersByTime(1_000);
    expect(FakeSocket.all).toHaveLength(1);
    const got: ClientEvent[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await it.next();
      if (!r.done) got.push(r.value);
    }
    expect(kinds(got)).toEqual(['connected', 'update@1', 'update@2']);
    const s2 = FakeSocket.last();
    expect(s2).not.toBe(s1);
    s2.open();
    expect(s2.sent[0]).toMatchObject({ from: { 'BTC-USD': 2 } });
    s2.receive(trade(3, 3));
    expect((await it.next()).value).toMatchObject({ type: 'disconnected', reconnecting: false });
    expect((await it.next()).value).toMatchObject({ type: 'connected' });
    expect((await it.next()).value).toMatchObject({ type: 'update', offset: 3 });
    c.close();
  });
});
