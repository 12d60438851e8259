import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  classifyAdvancedFrame,
  splitByProduct,
} from '../../../services/ingestor/core/classify-advanced.js';
import { AdvancedRouter } from '../../../services/ingestor/core/route-advanced.js';
import type { Routed } from '../../../services/ingestor/core/route.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const CONN = '0123456789abcdef0123456789abcdef';
const DIR = new URL('../../fixtures/coinbase-advanced/', import.meta.url);
const fixture = (file: string) =>
  readFileSync(new URL(file, DIR), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
const REAL = fixture('JKorf-Coinbase.Net-advanced-trade-fixtures.jsonl');
const DOCUMENTED = fixture('documented-advanced-trade-frames.jsonl');

function router(maxFrameBytes = 1024 * 1024) {
  const r = new AdvancedRouter(
    {
      feed: 'coinbase-at',
      shards: 8,
      products: ['BTC-USD', 'ETH-USD', 'ETH-USDT', 'SOL-USD', 'BTC-EUR', 'ETH-EUR'],
      maxFrameBytes,
      recentTrades: 10,
    },
    { windowMs: 500, windowFrames: 50 },
  );
  r.newConnection(CONN);
  return r;
}

function route(r: AdvancedRouter, frame: unknown, nowMs = 0): Routed[] {
  const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
  return r.routeAll(enc.encode(text), text, 1_700_000_000_000_000, nowMs);
}

const env = (channel: string, seq: number, events: unknown[]) => ({
  channel,
  client_id: '',
  timestamp: '2026-08-09T21:05:38.123456789Z',
  sequence_num: seq,
  events,
});
const trade = (product: string, id: string) => ({
  product_id: product,
  trade_id: id,
  price: '1',
  size: '1',
  time: 't',
  side: 'BUY',
});

describe('classifyAdvancedFrame', () => {
  it('classifies the real frames: acks and heartbeats are control, trades are a product’s', () => {
    expect(REAL.map((f) => classifyAdvancedFrame(f).kind)).toEqual([
      'control',
      'control',
      'control',
      'product',
      'control',
    ]);
    expect(classifyAdvancedFrame(REAL[3] ?? '')).toMatchObject({
      kind: 'product',
      type: 'market_trades',
      product: 'ETH-USDT',
      sequenceNum: 2,
      time: '2024-10-04T07:13:31.158696693Z',
    });
    expect(
      classifyAdvancedFrame('{"type":"error","message":"authentication failure"}'),
    ).toMatchObject({ kind: 'control', type: 'error', sequenceNum: undefined });
  });

  it('what cannot be routed is unparsable', () => {
    for (const bad of ['', 'x', '[]', '{}', '{"channel":5}', '{"channel":"a b"}', '{"x":1'])
      expect(classifyAdvancedFrame(bad).kind, bad).toBe('unparsable');
  });

  it('splits items per product and keeps the rest of the envelope byte-identical in meaning', () => {
    const frame = env('market_trades', 9, [
      {
        type: 'update',
        trades: [trade('BTC-USD', '3'), trade('ETH-USD', '7'), trade('BTC-USD', '2')],
      },
    ]);
    const c = classifyAdvancedFrame(JSON.stringify(frame));
    if (c.kind !== 'split') throw new Error(`expected a split: ${c.kind}`);
    expect(c.parts.map((p) => [p.product, JSON.parse(p.text) as unknown])).toEqual([
      [
        'BTC-USD',
        env('market_trades', 9, [
          { type: 'update', trades: [trade('BTC-USD', '3'), trade('BTC-USD', '2')] },
        ]),
      ],
      ['ETH-USD', env('market_trades', 9, [{ type: 'update', trades: [trade('ETH-USD', '7')] }])],
    ]);
    expect(c.rest).toBeUndefined();
  });

  it('splits whole events that carry their own product (l2_data), keeps product-less ones aside', () => {
    const { parts, rest } = splitByProduct(
      env('l2_data', 1, [
        { type: 'update', product_id: 'ETH-USD', updates: [] },
        { type: 'update', product_id: 'BTC-USD', updates: [] },
        { note: 'no product' },
      ]),
    );
    expect(parts.map((p) => p.product)).toEqual(['ETH-USD', 'BTC-USD']);
    expect(JSON.parse(rest ?? '{}')).toMatchObject({ events: [{ note: 'no product' }] });
  });
});

describe('AdvancedRouter (DESIGN.md "Raw frames")', () => {
  it('every product frame is connection-scoped: msg id and contiguous Lf-Conn-Seq per product, Lf-Type the channel', () => {
    const r = router();
    const out = [
      ...route(r, env('market_trades', 0, [{ type: 'update', trades: [trade('BTC-USD', '1')] }])),
      ...route(r, env('ticker', 1, [{ type: 'update', tickers: [{ product_id: 'BTC-USD' }] }])),
      ...route(r, env('l2_data', 2, [{ type: 'update', product_id: 'BTC-USD', updates: [] }])),
    ];
    expect(
      out.map((o) =>
        o.kind === 'publish' ? [o.req.subject, o.req.msgId, o.req.headers?.['Lf-Conn-Seq']] : o,
      ),
    ).toEqual([
      ['md.raw.coinbase-at.1.BTC-USD', `coinbase-at:BTC-USD:market_trades:${CONN}:1`, '1'],
      ['md.raw.coinbase-at.1.BTC-USD', `coinbase-at:BTC-USD:ticker:${CONN}:2`, '2'],
      ['md.raw.coinbase-at.1.BTC-USD', `coinbase-at:BTC-USD:l2_data:${CONN}:3`, '3'],
    ]);
    const [first] = out;
    expect(first?.kind === 'publish' && first.req.headers).toMatchObject({
      'Lf-Type': 'market_trades',
      'Lf-Conn-Id': CONN,
    });
    expect(first?.kind === 'publish' && first.time).toBe('2026-08-09T21:05:38.123456789Z');
  });

  it('the real multi-product ticker frame: one publish per product, `Lf-Split: 1`, each part naming its product only', () => {
    const r = router();
    route(r, DOCUMENTED[0] ?? '');
    route(r, DOCUMENTED[1] ?? '');
    route(r, DOCUMENTED[2] ?? '');
    const out = route(r, DOCUMENTED[3] ?? '');
    expect(
      out.map((o) => (o.kind === 'publish' ? [o.product, o.req.headers?.['Lf-Split']] : o.kind)),
    ).toEqual([
      ['ETH-USD', '1'],
      ['BTC-USD', '1'],
    ]);
    for (const o of out) {
      if (o.kind !== 'publish') continue;
      const text = dec.decode(o.req.payload);
      expect(new Set([...text.matchAll(/"product_id":"([A-Z-]+)"/g)].map((m) => m[1]))).toEqual(
        new Set([o.product]),
      );
      expect(JSON.parse(text)).toMatchObject({ channel: 'ticker', sequence_num: 3 });
    }
  });

  it('control frames go to md.raw.coinbase-at.ctl.<channel>; errors to ctl.error', () => {
    const r = router();
    const [ack] = route(r, REAL[0] ?? '');
    expect(ack?.kind === 'publish' && ack.req.subject).toBe('md.raw.coinbase-at.ctl.subscriptions');
    expect(ack?.kind === 'publish' && ack.control).toMatchObject({ channel: 'subscriptions' });
    const [hb] = route(r, REAL[1] ?? '');
    expect(hb?.kind === 'publish' && hb.req.subject).toBe('md.raw.coinbase-at.ctl.heartbeats');
    const [err] = route(r, '{"type":"error","message":"authentication failure"}');
    expect(err?.kind === 'publish' && err.req.subject).toBe('md.raw.coinbase-at.ctl.error');
  });

  it('a repeated sequence_num is not published; a late one is; a hole past the window is reported once', () => {
    const r = router();
    const hb = (seq: number) => env('heartbeats', seq, [{ heartbeat_counter: seq }]);
    route(r, hb(0));
    expect(route(r, hb(0))).toEqual([{ kind: 'sequence', event: 'duplicate' }]);
    route(r, hb(2));
    expect(route(r, hb(1)).map((o) => o.kind)).toEqual(['sequence', 'publish']);
    route(r, hb(5), 100);
    expect(r.tick(599)).toEqual([]);
    expect(r.tick(600)).toEqual([{ kind: 'sequence', event: 'gap', from: 3, to: 4 }]);
    expect(r.tick(700)).toEqual([]);
    r.newConnection('f'.repeat(32));
    expect(route(r, hb(0)).map((o) => o.kind)).toEqual(['publish']);
  });

  it('a frame too large for NATS goes to MD_DLQ and still counts its sequence_num', () => {
    const r = router(400);
    const big = env('l2_data', 0, [
      { type: 'snapshot', product_id: 'BTC-USD', updates: Array(40).fill({ side: 'bid' }) },
    ]);
    expect(route(r, big).map((o) => [o.kind, o.kind === 'dlq' ? o.reason : ''])).toEqual([
      ['dlq', 'too_large'],
    ]);
    expect(route(r, env('heartbeats', 1, []), 10_000).map((o) => o.kind)).toEqual(['publish']);
  });
});
