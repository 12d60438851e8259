import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AtSession } from '../../../services/sim/at-session.js';
import type { OutFrame, TradeRef } from '../../../services/sim/connection.js';
import { CandleBook } from '../../../services/sim/core/at-candles.js';
import { atHeartbeatEvents, rfc3339Trimmed } from '../../../services/sim/core/at-frames.js';
import { AT_ERRORS, parseAtClientMessage } from '../../../services/sim/core/at-protocol.js';
import { statusFrame } from '../../../services/sim/core/frames.js';
import { Market } from '../../../services/sim/core/market.js';
import { productSpec } from '../../../services/sim/core/products.js';
import { Rng } from '../../../services/sim/core/rng.js';

type Json = Record<string, unknown>;
const T0 = 1_780_000_000_000_000;
const DIR = new URL('../../fixtures/coinbase-advanced/', import.meta.url);
const fixture = (file: string): Json[] =>
  readFileSync(new URL(file, DIR), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Json);
const REAL = fixture('JKorf-Coinbase.Net-advanced-trade-fixtures.jsonl');
const DOCUMENTED = fixture('documented-advanced-trade-frames.jsonl');
const keys = (o: unknown) => Object.keys(o as Json);
const events = (f: Json) => f.events as Json[];
const items = (f: Json, list: string) => events(f)[0]?.[list] as Json[];

/** A session with the given fault decisions, and what it reported. */
function session(decide: (kind: 'drop' | 'seq_skip') => boolean = () => false) {
  const dropped: TradeRef[] = [];
  let skipped = 0;
  const s = new AtSession({
    decide,
    dropped: (t) => dropped.push(t),
    seqSkipped: () => {
      skipped++;
    },
  });
  return { s, dropped, skipped: () => skipped };
}

/** The market's Exchange-shaped frames (what the hub hands a connection). */
function marketFrames() {
  const m = new Market({ spec: productSpec('BTC-USD'), rng: new Rng(3), levels: 5, nowUs: T0 });
  const matches: OutFrame[] = [];
  let ticker: OutFrame | undefined;
  for (let i = 0; i < 400 && matches.length < 6; i++) {
    const r = m.step(T0 + i);
    for (const t of r.trades)
      matches.push({ raw: t.raw, kind: 'match', product: 'BTC-USD', tradeId: t.tradeId });
    if (r.ticker !== undefined) ticker = { raw: r.ticker, kind: 'ticker', product: 'BTC-USD' };
  }
  if (ticker === undefined) throw new Error('no ticker');
  return {
    m,
    matches,
    ticker,
    snapshot: { raw: m.snapshot(), kind: 'snapshot', product: 'BTC-USD' } as OutFrame,
    l2update: { raw: m.flushL2(T0 + 500) ?? '', kind: 'l2update', product: 'BTC-USD' } as OutFrame,
  };
}

const parse = (f: OutFrame | undefined): Json => JSON.parse(f?.raw ?? '{}') as Json;

describe('simulated Advanced Trade frames against the fixtures', () => {
  it('the envelope, the subscriptions ack and market_trades have the keys, in order, of the real frames', () => {
    const { s } = session();
    const { matches } = marketFrames();
    s.subs.add('heartbeats', []);
    s.subs.add('market_trades', ['BTC-USD']);
    const ack = parse(s.ack(T0));
    expect(keys(ack)).toEqual(keys(REAL[2]));
    expect(ack.events).toEqual([
      { subscriptions: { heartbeats: ['heartbeats'], market_trades: ['BTC-USD'] } },
    ]);
    for (const f of matches) s.accept(f, T0);
    const update = parse(s.flush(T0 + 1)[0]);
    expect(keys(update)).toEqual(keys(REAL[3]));
    expect(keys(events(update)[0])).toEqual(keys(events(REAL[3] ?? {})[0]));
    expect(keys(items(update, 'trades')[0])).toEqual(keys(items(REAL[3] ?? {}, 'trades')[0]));
    // Newest first, as recorded; the time with trailing zeros trimmed (PROTOCOL.md §0.7).
    const ids = items(update, 'trades').map((t) => Number(t.trade_id));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    for (const t of items(update, 'trades')) expect(String(t.time)).toMatch(/^\S{20,27}$/);
  });

  it('heartbeats: the real event keys, an integer counter, Go’s time format', () => {
    const e = (JSON.parse(atHeartbeatEvents(T0, 66_987_628_148)) as Json[])[0] ?? {};
    expect(keys(e)).toEqual(keys(events(REAL[1] ?? {})[0]));
    expect(e.heartbeat_counter).toBe(66_987);
    expect(String(e.current_time)).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 UTC m=\+66987\.628148000$/,
    );
  });

  it('ticker, l2_data, status items carry the documented fields; sides bid/offer', () => {
    const { s } = session();
    const { ticker, snapshot, l2update } = marketFrames();
    const t = items(parse(s.accept(ticker, T0)[0]), 'tickers')[0];
    expect(new Set(keys(t))).toEqual(
      new Set([...keys(items(DOCUMENTED[2] ?? {}, 'tickers')[0]), 'type']),
    );
    const snap = parse(s.accept(snapshot, T0)[0]);
    expect(snap.channel).toBe('l2_data');
    const levels = items(snap, 'updates');
    expect(keys(levels[0])).toEqual(keys(items(DOCUMENTED[5] ?? {}, 'updates')[0]));
    // Every bid before every offer.
    const sides = levels.map((l) => l.side);
    expect(sides.lastIndexOf('bid')).toBeLessThan(sides.indexOf('offer'));
    const upd = parse(s.accept(l2update, T0)[0]);
    expect(events(upd)[0]).toMatchObject({ type: 'update', product_id: 'BTC-USD' });
    for (const l of items(upd, 'updates')) expect(['bid', 'offer']).toContain(l.side);
    const status = parse(
      s.accept({ raw: statusFrame([productSpec('BTC-USD')]), kind: 'status' }, T0)[0],
    );
    expect(new Set(keys(items(status, 'products')[0]))).toEqual(
      new Set(keys(items(DOCUMENTED[10] ?? {}, 'products')[0])),
    );
  });

  it('candles: documented keys, snapshot oldest first, an update only for a changed bucket', () => {
    const c = new CandleBook();
    c.trade('ETH-USD', '1867.38', '0.1', 1_688_998_200_000_000);
    c.trade('ETH-USD', '1867.72', '0.10269406', 1_688_998_260_000_000);
    c.trade('ETH-USD', '1866.81', '0.0', 1_688_998_499_000_000);
    c.trade('ETH-USD', '1870', '1', 1_688_998_500_000_000);
    const snap = c.snapshot('ETH-USD');
    expect(keys(snap[0])).toEqual(keys(items(DOCUMENTED[9] ?? {}, 'candles')[0]));
    expect(snap).toEqual([
      {
        start: '1688998200',
        high: '1867.72',
        low: '1866.81',
        open: '1867.38',
        close: '1866.81',
        volume: '0.20269406',
        product_id: 'ETH-USD',
      },
      expect.objectContaining({ start: '1688998500', open: '1870', volume: '1' }),
    ]);
    expect(c.takeChanged().map((x) => x.candle.start)).toEqual(['1688998500']);
    expect(c.takeChanged()).toEqual([]);
  });

  it('rfc3339Trimmed: nanoseconds with trailing zeros trimmed, like Go’s RFC3339Nano', () => {
    expect(rfc3339Trimmed(1_728_025_471_088_388, 0)).toBe('2024-10-04T07:04:31.088388Z');
    expect(rfc3339Trimmed(1_728_025_471_088_300, 120)).toBe('2024-10-04T07:04:31.08830012Z');
    expect(rfc3339Trimmed(1_728_025_471_000_000, 0)).toBe('2024-10-04T07:04:31Z');
  });
});

describe('AtSession numbering and faults', () => {
  it('numbers every frame of the connection from 0, across channels', () => {
    const { s } = session();
    const { matches, ticker, l2update } = marketFrames();
    const out = [s.ack(T0), ...s.accept(ticker, T0), ...s.accept(l2update, T0)];
    for (const f of matches) s.accept(f, T0);
    out.push(...s.flush(T0));
    expect(out.map((f) => parse(f).sequence_num)).toEqual([0, 1, 2, 3]);
    expect(out[3]?.trades?.map((t) => t.tradeId)).toEqual(matches.map((f) => f.tradeId).reverse());
  });

  it('drop removes single trades before numbering: the numbers stay contiguous', () => {
    let n = 0;
    const { s, dropped } = session((kind) => kind === 'drop' && n++ % 2 === 0);
    const { matches } = marketFrames();
    for (const f of matches) s.accept(f, T0);
    const [frame] = s.flush(T0);
    expect(dropped.map((t) => t.tradeId)).toEqual(
      matches.filter((_, i) => i % 2 === 0).map((f) => f.tradeId),
    );
    expect(frame?.trades?.map((t) => t.tradeId).sort()).toEqual(
      matches
        .filter((_, i) => i % 2 === 1)
        .map((f) => f.tradeId)
        .sort(),
    );
    expect(parse(frame).sequence_num).toBe(0);
    expect(parse(s.ack(T0)).sequence_num).toBe(1);
  });

  it('seq_skip leaves a hole before the frame; nothing is lost', () => {
    let first = true;
    const { s, skipped } = session((kind) => {
      const skip = kind === 'seq_skip' && !first;
      first = false;
      return skip;
    });
    expect([s.ack(T0), s.ack(T0)].map((f) => parse(f).sequence_num)).toEqual([0, 2]);
    expect(skipped()).toBe(1);
  });

  it('the trades snapshot lists recent trades newest first and marks them replayed', () => {
    const { s } = session();
    const { matches } = marketFrames();
    const snap = s.tradesSnapshot(matches, T0);
    expect(snap.kind).toBe('trades_snapshot');
    expect(events(parse(snap))[0]?.type).toBe('snapshot');
    expect(snap.trades?.map((t) => t.tradeId)).toEqual(matches.map((f) => f.tradeId).reverse());
  });

  it('queued trades of a connection that ends are handed back as owed', () => {
    const { s } = session();
    const { matches } = marketFrames();
    for (const f of matches) s.accept(f, T0);
    expect(s.drainQueued().map((t) => t.tradeId)).toEqual(matches.map((f) => f.tradeId));
    expect(s.flush(T0)).toEqual([]);
  });

  it('a channel silent past the idle time closes only without heartbeats', () => {
    const { s } = session();
    s.subs.add('ticker', ['BTC-USD']);
    s.subscribed('ticker', T0);
    expect(s.idleChannel(T0 + 60_000_000, 75_000_000)).toBeUndefined();
    expect(s.idleChannel(T0 + 80_000_000, 75_000_000)).toBe('ticker');
    s.subs.add('heartbeats', []);
    expect(s.idleChannel(T0 + 80_000_000, 75_000_000)).toBeUndefined();
  });
});

describe('parseAtClientMessage', () => {
  const products = new Set(['BTC-USD', 'ETH-USD']);
  const error = (frame: string) => (JSON.parse(frame) as Json).message;

  it('one channel per request; heartbeats and status take no products', () => {
    expect(
      parseAtClientMessage(
        JSON.stringify({
          type: 'subscribe',
          channel: 'level2',
          product_ids: ['BTC-USD', 'BTC-USD'],
        }),
        products,
      ),
    ).toEqual({ kind: 'subscribe', channel: 'level2', products: ['BTC-USD'] });
    expect(
      parseAtClientMessage(JSON.stringify({ type: 'subscribe', channel: 'heartbeats' }), products),
    ).toEqual({ kind: 'subscribe', channel: 'heartbeats', products: [] });
  });

  it('answers a wrong channel name and the user channel with the recorded "authentication failure"', () => {
    for (const channel of ['heartbeat', 'user', 'futures_balance_summary', 'level3']) {
      const r = parseAtClientMessage(JSON.stringify({ type: 'subscribe', channel }), products);
      expect(r.kind === 'error' && [error(r.frame), r.request]).toEqual([
        AT_ERRORS.authFailure,
        true,
      ]);
    }
  });

  it('refuses an unknown product or a product channel without products; garbage is not a request', () => {
    const bad = parseAtClientMessage(
      JSON.stringify({ type: 'subscribe', channel: 'ticker', product_ids: ['XYZ-USD'] }),
      products,
    );
    expect(bad.kind === 'error' && error(bad.frame)).toBe('XYZ-USD is not a valid product');
    const none = parseAtClientMessage(
      JSON.stringify({ type: 'subscribe', channel: 'ticker' }),
      products,
    );
    expect(none.kind).toBe('error');
    const garbage = parseAtClientMessage('{"type":"subscribe","channels":["ticker"]}', products);
    expect(garbage.kind === 'error' && garbage.request).toBe(false);
  });
});
