import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  conflatedWire,
  dataJsonOf,
  errorFrame,
  heartbeatFrame,
  messageFrame,
  pongFrame,
  slowGapFrame,
  snapshotFrame,
  subscribedFrame,
} from '../../../services/gateway/core/frames.js';
import { splitWsFrames } from '../../../services/gateway/core/ws-frame.js';
import {
  ServerFrameSchema,
  parseClientFrame,
  type Channel,
} from '../../../services/gateway/core/protocol.js';

const common = {
  v: 1 as const,
  venue: 'coinbase' as const,
  product: 'BTC-USD',
  seq: 7,
  time: '2024-01-01T00:00:00.123456Z',
  recv_us: 1,
  flags: [],
};
const trade = {
  ...common,
  type: 'trade' as const,
  trade_id: '123',
  price: '1.5',
  size: '0.1',
  side: 'sell' as const,
};
const ticker = { ...common, type: 'ticker' as const, price: '1', best_bid: '0.9', best_ask: '1.1' };
const book = {
  ...common,
  type: 'book' as const,
  bids: [['1', '2']] as [string, string][],
  asks: [],
};
const gap = {
  ...common,
  type: 'status' as const,
  event: 'gap' as const,
  reason: 'missing',
  from: '10',
  to: '12',
};
const status = {
  ...common,
  type: 'status' as const,
  event: 'book_invalid' as const,
  reason: 'crossed "quoted"',
};

const payloadOf = (wire: Buffer): Buffer => splitWsFrames(wire)[0] ?? Buffer.alloc(0);
const parse = (b: Buffer) => ServerFrameSchema.parse(JSON.parse(b.toString('utf8')));

describe('parseClientFrame', () => {
  it('accepts every client op', () => {
    expect(
      parseClientFrame(
        '{"op":"subscribe","channels":["ticker","trades"],"products":["BTC-USD"],"snapshot":true,"from":{"BTC-USD":12},"conflate_ms":250,"id":"a"}',
      ),
    ).toMatchObject({ ok: true, frame: { op: 'subscribe', from: { 'BTC-USD': 12 } } });
    expect(
      parseClientFrame('{"op":"unsubscribe","channels":["book"],"products":["ETH-USD"]}').ok,
    ).toBe(true);
    expect(parseClientFrame('{"op":"ping","id":{"any":[1,2]}}')).toEqual({
      ok: true,
      frame: { op: 'ping', id: { any: [1, 2] } },
    });
  });

  it.each([
    ['not json', 'nope', 'BAD_REQUEST'],
    ['an array', '[1]', 'BAD_REQUEST'],
    ['no op', '{"channels":["ticker"]}', 'BAD_REQUEST'],
    ['an unknown op', '{"op":"hello"}', 'BAD_REQUEST'],
    ['an unknown field', '{"op":"ping","extra":1}', 'BAD_REQUEST'],
    ['no products', '{"op":"subscribe","channels":["ticker"],"products":[]}', 'BAD_REQUEST'],
    [
      'a malformed product',
      '{"op":"subscribe","channels":["ticker"],"products":["btc"]}',
      'BAD_REQUEST',
    ],
    [
      'a negative offset',
      '{"op":"subscribe","channels":["ticker"],"products":["BTC-USD"],"from":{"BTC-USD":-1}}',
      'BAD_REQUEST',
    ],
    [
      'an unknown channel',
      '{"op":"subscribe","channels":["ticker","candles"],"products":["BTC-USD"]}',
      'UNKNOWN_CHANNEL',
    ],
  ])('refuses %s', (_what, text, code) => {
    const r = parseClientFrame(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.code).toBe(code);
  });

  it('echoes a request id even when the frame is refused, and never the values sent', () => {
    const r = parseClientFrame(
      '{"op":"subscribe","channels":["<script>"],"products":["X-Y"],"id":9}',
    );
    expect(r).toMatchObject({ ok: false, code: 'UNKNOWN_CHANNEL', id: 9 });
    if (!r.ok) expect(r.message).not.toContain('<script>');
  });

  // Regression (hostile-input fuzzing): the error path named the client's own keys: the
  // products of `from` ("from.<key>: Invalid key in record") and unknown fields.
  it('never echoes client-chosen keys: products in `from`, unknown fields', () => {
    const inFrom = parseClientFrame(
      '{"op":"subscribe","channels":["ticker"],"products":["BTC-USD"],"from":{"<img src=x>":1}}',
    );
    expect(inFrom).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    if (!inFrom.ok) {
      expect(inFrom.message).not.toContain('<img');
      expect(inFrom.message).toMatch(/^from\.\*: /);
    }
    const unknown = parseClientFrame('{"op":"ping","<img src=x>":1}');
    expect(unknown).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    if (!unknown.ok) expect(unknown.message).toBe('frame: unknown field');
  });

  it('never throws on arbitrary text or JSON', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) =>
            JSON.stringify({
              op: 'subscribe',
              ...(typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { v }),
            }),
          ),
        ),
        (text) => {
          const r = parseClientFrame(text);
          expect(typeof r.ok).toBe('boolean');
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('server frames match the protocol schemas', () => {
  it('update frames for every channel, and their conflated variants', () => {
    for (const m of [trade, ticker, book]) {
      const f = messageFrame(m, 42, JSON.stringify(m));
      expect(parse(f.bytes)).toMatchObject({ op: 'update', offset: 42, seq: 7, data: m });
      expect(parse(payloadOf(conflatedWire(f)))).toMatchObject({ conflated: true, data: m });
      expect(JSON.parse(dataJsonOf(f))).toEqual(m);
    }
    expect(messageFrame(trade, 1, JSON.stringify(trade))).toMatchObject({
      kind: 'trade',
      tradeId: 123,
    });
  });

  it('status messages become gap (upstream_drop) and status frames', () => {
    expect(parse(messageFrame(gap, 5, JSON.stringify(gap)).bytes)).toEqual({
      op: 'gap',
      channel: 'trades',
      product: 'BTC-USD',
      offset: 5,
      from: 10,
      to: 12,
      reason: 'upstream_drop',
    });
    expect(parse(messageFrame(status, 6, JSON.stringify(status)).bytes)).toEqual({
      op: 'status',
      product: 'BTC-USD',
      offset: 6,
      event: 'book_invalid',
      reason: 'crossed "quoted"',
    });
  });

  it('snapshots, slow-client gaps, answers and heartbeats', () => {
    expect(
      parse(snapshotFrame('trades', 'BTC-USD', 9, `[${JSON.stringify(trade)}]`).bytes),
    ).toMatchObject({ op: 'snapshot', data: [trade] });
    expect(parse(snapshotFrame('ticker', 'BTC-USD', 3, 'null').bytes)).toMatchObject({
      data: null,
    });
    expect(
      parse(payloadOf(slowGapFrame('BTC-USD', { from: 1, to: 3, fromOffset: 10, toOffset: 14 }))),
    ).toMatchObject({ offset: 14, from_offset: 10 });
    const subs = new Map<string, Set<Channel>>([['BTC-USD', new Set<Channel>(['trades', 'book'])]]);
    expect(parse(subscribedFrame(subs, 3).bytes)).toEqual({
      op: 'subscribed',
      channels: ['book', 'trades'],
      products: ['BTC-USD'],
      subscriptions: { 'BTC-USD': ['book', 'trades'] },
      id: 3,
    });
    expect(
      parse(errorFrame('RATE_LIMITED', 'slow down', { retryAfterMs: 12.2 }).bytes),
    ).toMatchObject({ retry_after_ms: 13 });
    expect(parse(pongFrame({ a: 1 }).bytes)).toEqual({ op: 'pong', id: { a: 1 } });
    expect(parse(heartbeatFrame(0).bytes)).toEqual({
      op: 'heartbeat',
      time: '1970-01-01T00:00:00.000Z',
    });
  });
});
