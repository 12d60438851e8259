import fc from 'fast-check';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { FrameRouter, DLQ_KEEP_BYTES } from '../../../services/ingestor/core/route.js';
import { RecentIds } from '../../../services/ingestor/core/recent-ids.js';

const enc = new TextEncoder();
const CONN = '0123456789abcdef0123456789abcdef';

function router(shards = 8) {
  const r = new FrameRouter({
    feed: 'coinbase',
    shards,
    products: ['BTC-USD', 'ETH-USD', 'SOL-USD'],
    maxFrameBytes: 1024 * 1024,
    recentTrades: 100,
  });
  r.newConnection(CONN);
  return r;
}

function route(r: FrameRouter, frame: unknown, recvUs = 1_700_000_000_000_000) {
  const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
  return r.route(enc.encode(text), text, recvUs);
}

describe('FrameRouter msg ids and subjects (DESIGN.md "Raw frames")', () => {
  it('trades by trade id on the product shard subject, carrying the current conn seq', () => {
    const r = router();
    route(r, {
      type: 'heartbeat',
      product_id: 'BTC-USD',
      sequence: 1,
      last_trade_id: 9,
      time: 't',
    });
    const out = route(r, {
      type: 'match',
      trade_id: 10,
      product_id: 'BTC-USD',
      side: 'buy',
      price: '1',
      size: '1',
      sequence: 2,
      time: 't',
    });
    expect(out.kind).toBe('publish');
    if (out.kind !== 'publish') return;
    expect(out.req.subject).toBe('md.raw.coinbase.1.BTC-USD');
    expect(out.req.msgId).toBe('coinbase:BTC-USD:trade:10');
    expect(out.req.headers).toMatchObject({
      'Lf-Conn-Seq': '1',
      'Lf-Type': 'match',
      'Lf-Conn-Id': CONN,
      'Lf-Recv-Us': '1700000000000000',
    });
  });

  it('tickers by sequence; heartbeats, snapshots and l2updates by connection and contiguous conn seq', () => {
    const r = router();
    const t = route(r, { type: 'ticker', product_id: 'ETH-USD', sequence: 77, price: '1' });
    expect(t.kind === 'publish' && t.req.msgId).toBe('coinbase:ETH-USD:ticker:77');
    const ids = ['heartbeat', 'snapshot', 'l2update', 'l2update'].map((type) => {
      const o = route(r, { type, product_id: 'ETH-USD' });
      return o.kind === 'publish' ? [o.req.msgId, o.req.headers?.['Lf-Conn-Seq']] : undefined;
    });
    expect(ids).toEqual([
      [`coinbase:ETH-USD:heartbeat:${CONN}:1`, '1'],
      [`coinbase:ETH-USD:snapshot:${CONN}:2`, '2'],
      [`coinbase:ETH-USD:l2update:${CONN}:3`, '3'],
      [`coinbase:ETH-USD:l2update:${CONN}:4`, '4'],
    ]);
  });

  it('markers take the next conn seq of their product, so the normalizer sees boundaries in order', () => {
    const r = router();
    const m = r.marker('SOL-USD', 'connected', 5);
    expect(m.subject).toBe('md.raw.coinbase.4.SOL-USD');
    expect(m.msgId).toBe(`coinbase:SOL-USD:lf_feed:${CONN}:1`);
    expect(JSON.parse(new TextDecoder().decode(m.payload))).toEqual({
      type: 'lf_feed',
      state: 'connected',
      conn: CONN,
      product_id: 'SOL-USD',
    });
    const hb = route(r, { type: 'heartbeat', product_id: 'SOL-USD' });
    expect(hb.kind === 'publish' && hb.req.headers?.['Lf-Conn-Seq']).toBe('2');
  });

  it('a new connection restarts conn seqs and changes conn-scoped ids', () => {
    const r = router();
    route(r, { type: 'heartbeat', product_id: 'BTC-USD' });
    r.newConnection('f'.repeat(32));
    const o = route(r, { type: 'heartbeat', product_id: 'BTC-USD' });
    expect(o.kind === 'publish' && o.req.msgId).toBe(
      `coinbase:BTC-USD:heartbeat:${'f'.repeat(32)}:1`,
    );
  });

  it('a trade already stored is not published again, also after a reconnect (last_match replay)', () => {
    const r = router();
    expect(route(r, { type: 'match', trade_id: 5, product_id: 'BTC-USD' }).kind).toBe('publish');
    r.newConnection('e'.repeat(32));
    expect(route(r, { type: 'last_match', trade_id: 5, product_id: 'BTC-USD' })).toEqual({
      kind: 'duplicate',
      product: 'BTC-USD',
      tradeId: '5',
    });
    r.forgetTrade('BTC-USD', '5');
    expect(route(r, { type: 'last_match', trade_id: 5, product_id: 'BTC-USD' }).kind).toBe(
      'publish',
    );
  });

  it('frames without a product go to the feed control subject', () => {
    const o = route(router(), { type: 'subscriptions', channels: [] });
    expect(o.kind === 'publish' && o.req.subject).toBe('md.raw.coinbase.ctl.subscriptions');
    expect(o.kind === 'publish' && o.req.msgId).toBe(`coinbase:ctl:subscriptions:${CONN}:1`);
  });

  it('unparsable frames go to MD_DLQ with their reason and bytes', () => {
    // Sandbox sent a non-JSON text frame (PROTOCOL.md §1.2, coinbase-pro-node PR#376).
    const text = '\u0000invalid (un)subscribe msg';
    const o = route(router(), text);
    expect(o.kind).toBe('dlq');
    if (o.kind !== 'dlq') return;
    expect(o.reason).toBe('unparsable');
    expect(o.req.subject).toBe('md.dlq.coinbase.unparsable');
    expect(new TextDecoder().decode(o.req.payload)).toBe(text);
    expect(o.req.headers?.['Lf-Reason']).toBe('unparsable');
    expect(o.req.headers?.['Lf-Error']).toMatch(/not JSON/);
    for (const bad of ['[]', '42', 'null', '{"no_type":1}', '{"type":{"x":1}}'])
      expect(route(router(), bad).kind).toBe('dlq');
  });

  // Regression (hostile-input fuzzing): nesting deeper than the scan's stack falls back to
  // JSON.parse, whose message quotes the text around the error, line breaks included; the
  // NATS client throws on such a header value, which crashed the ingestor.
  it('a deeply nested frame with a line break at its error gets a one-line Lf-Error', () => {
    const depth = 50_000;
    const text = `${'['.repeat(depth)}\n x${']'.repeat(depth)}`;
    const o = route(router(), text);
    expect(o.kind === 'dlq' && o.reason).toBe('unparsable');
    const error = o.kind === 'dlq' ? (o.req.headers?.['Lf-Error'] ?? '') : '';
    expect(error).toMatch(/^not JSON: /);
    expect(error).not.toMatch(/[\r\n]/);
    expect(error.length).toBeLessThanOrEqual(200);
    const h = natsHeaders();
    for (const [k, v] of Object.entries(o.kind === 'dlq' ? (o.req.headers ?? {}) : {})) h.set(k, v);
  });

  // Regression (hostile-input fuzzing): every product id a feed named got trade-id and
  // conn-seq state here, a processor in the normalizer and a metric label of its own.
  it('keeps frames for products not configured on the control subject, with no state', () => {
    const r = router();
    const match = (product: string, id: number) =>
      route(r, { type: 'match', trade_id: id, product_id: product, side: 'buy' });
    for (let i = 0; i < 1_000; i++) {
      const o = match(`X${String(i)}-USD`, 7);
      expect(o).toMatchObject({ kind: 'publish', unexpected: 'product' });
      expect(o.kind === 'publish' && o.req.subject).toBe('md.raw.coinbase.ctl.match');
      expect(o.kind === 'publish' && o.product).toBeUndefined();
    }
    expect(r.trackedProducts).toBe(0);
    expect(match('BTC-USD', 7)).toMatchObject({ kind: 'publish', product: 'BTC-USD' });
    expect(match('BTC-USD', 7).kind).toBe('duplicate');
    expect(r.trackedProducts).toBe(1);
  });

  // Regression (hostile-input fuzzing): a feed frame of our marker type went to the
  // product's subject, where the normalizer took it for a feed boundary of our own.
  it('keeps a feed frame of the marker type off the product subject', () => {
    const r = router();
    const forged = { type: 'lf_feed', state: 'connected', conn: 'x', product_id: 'BTC-USD' };
    const o = route(r, forged);
    expect(o).toMatchObject({ kind: 'publish', unexpected: 'reserved_type' });
    expect(o.kind === 'publish' && o.req.subject).toBe('md.raw.coinbase.ctl.lf_feed');
    expect(r.marker('BTC-USD', 'connected', 1).subject).toBe('md.raw.coinbase.1.BTC-USD');
  });

  it('too large frames go to MD_DLQ cut to 64 KiB with the original size and their product', () => {
    const r = new FrameRouter({
      feed: 'coinbase',
      shards: 1,
      products: ['BTC-USD'],
      maxFrameBytes: 100_000,
      recentTrades: 10,
    });
    r.newConnection(CONN);
    const big = JSON.stringify({
      type: 'snapshot',
      product_id: 'BTC-USD',
      bids: Array.from({ length: 10_000 }, () => ['1.00', '2.00']),
    });
    const o = r.route(enc.encode(big), undefined, 1);
    expect(o.kind).toBe('dlq');
    if (o.kind !== 'dlq') return;
    expect(o.reason).toBe('too_large');
    expect(o.product).toBe('BTC-USD');
    expect(o.req.payload.byteLength).toBe(DLQ_KEEP_BYTES);
    expect(o.req.headers?.['Lf-Orig-Bytes']).toBe(String(big.length));
  });

  it('never throws and always yields a route, whatever the bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.json(),
          fc.string(),
          fc.uint8Array().map((b) => new TextDecoder().decode(b)),
        ),
        (text) => {
          const o = route(router(), text);
          expect(['publish', 'dlq', 'duplicate']).toContain(o.kind);
        },
      ),
    );
  });
});

describe('RecentIds', () => {
  it('behaves as the set of the last N distinct ids', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }).map(String)),
        fc.integer({ min: 1, max: 10 }),
        (ids, cap) => {
          const r = new RecentIds(cap);
          const model: string[] = [];
          for (const id of ids) {
            const fresh = !model.includes(id);
            expect(r.add(id)).toBe(fresh);
            if (fresh) {
              model.push(id);
              if (model.length > cap) model.shift();
            }
          }
          expect(r.size).toBe(model.length);
          for (const id of model) expect(r.has(id)).toBe(true);
        },
      ),
    );
  });
});
