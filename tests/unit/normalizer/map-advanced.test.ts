import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TradeSchema } from '../../../services/common/schemas/normalized.js';
import { L2Book, type BookChange } from '../../../services/normalizer/core/book.js';
import {
  mapAdvancedFrame,
  mapAdvancedText,
} from '../../../services/normalizer/core/map-advanced.js';
import type { MapContext, MapResult } from '../../../services/normalizer/core/map-common.js';
import { tradeMessage } from '../../../services/normalizer/core/messages.js';
import { unsignedDecimalArb } from './arbitraries.js';
import { MAP_KINDS, expectWellFormed, onAnything } from './map-checks.js';
import {
  changeArb,
  levelArb,
  modelApply,
  modelCrossed,
  modelTop,
  type Model,
} from './book-model.js';

const RECV_US = Date.UTC(2026, 8, 1) * 1000 + 123_456;
const ctx: MapContext = { recvUs: RECV_US, product: 'BTC-USD' };
const TS = '2026-08-09T21:05:38.123456789Z';

const envelope = (channel: string, events: unknown[], seq = 7) => ({
  channel,
  client_id: '',
  timestamp: TS,
  sequence_num: seq,
  events,
});
const trade = (id: string, side = 'SELL', extra: Record<string, unknown> = {}) => ({
  product_id: 'BTC-USD',
  trade_id: id,
  price: '80691.53',
  size: '0.00000001',
  time: '2026-08-09T21:05:38.50436Z',
  side,
  ...extra,
});
const ticker = {
  type: 'ticker',
  product_id: 'BTC-USD',
  price: '80691.53',
  volume_24_h: '1808.18',
  low_24_h: '79000',
  high_24_h: '81000.5',
  low_52_w: '40000',
  high_52_w: '110000',
  price_percent_chg_24_h: '-0.0651',
  best_bid: '80691.52',
  best_ask: '80691.53',
  best_bid_quantity: '0.1',
  best_ask_quantity: '0.2',
};
const l2 = (type: string, updates: unknown[]) =>
  envelope('l2_data', [{ type, product_id: 'BTC-USD', updates }]);
const level = (side: string, price: string, size: string) => ({
  side,
  event_time: '2026-08-09T21:05:38.1Z',
  price_level: price,
  new_quantity: size,
});

function map(frame: unknown, c: Partial<MapContext> = {}): MapResult[] {
  return mapAdvancedFrame(frame, { ...ctx, ...c }).results;
}

describe('mapAdvancedFrame: trades', () => {
  it('the feed’s side is the maker’s: SELL → taker buy, BUY → taker sell', () => {
    expect(
      map(envelope('market_trades', [{ type: 'update', trades: [trade('5')] }])),
    ).toMatchObject([{ kind: 'trade', side: 'buy', tradeId: '5', last: false }]);
    expect(
      map(envelope('market_trades', [{ type: 'update', trades: [trade('5', 'BUY')] }])),
    ).toMatchObject([{ side: 'sell' }]);
  });

  it('orders a frame’s trades oldest first by numeric id (the feed sends newest first)', () => {
    const ids = ['1000', '999', '10', '1001'];
    const r = map(
      envelope('market_trades', [{ type: 'snapshot', trades: ids.map((id) => trade(id)) }]),
    );
    expect(r.map((x) => (x.kind === 'trade' ? [x.tradeId, x.last] : x.kind))).toEqual([
      ['10', true],
      ['999', true],
      ['1000', true],
      ['1001', true],
    ]);
  });

  it('one bad trade sends the whole frame to MD_DLQ with the path of the fault', () => {
    const r = map(
      envelope('market_trades', [
        { type: 'update', trades: [trade('5'), trade('6', 'SELL', { price: '-1' })] },
      ]),
    );
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ kind: 'invalid', reason: 'schema' });
    expect(r[0]?.kind === 'invalid' && r[0].error).toContain('events.0: trades.1');
    expect(
      map(envelope('market_trades', [{ type: 'update', trades: [trade('5', 'buy')] }]))[0],
    ).toMatchObject({ kind: 'invalid' });
    expect(
      map(envelope('market_trades', [{ type: 'update', trades: [trade('x5')] }]))[0],
    ).toMatchObject({ kind: 'invalid' });
  });

  it('substitutes a bad trade time, flagged; keeps a good one as received', () => {
    const [bad] = map(
      envelope('market_trades', [
        { type: 'update', trades: [trade('5', 'SELL', { time: '0001-01-01T00:00:00Z' })] },
      ]),
      { lastValidTime: '2026-08-09T21:05:38Z' },
    );
    expect(bad).toMatchObject({ time: '2026-08-09T21:05:38Z', flags: ['time_substituted'] });
  });
});

describe('mapAdvancedFrame: tickers, books, markers and the rest', () => {
  it('a ticker keeps exact strings; the envelope’s timestamp is its time; sequence_num is reported', () => {
    const m = mapAdvancedFrame(
      envelope('ticker', [{ type: 'update', tickers: [ticker] }], 41),
      ctx,
    );
    expect(m.sequenceNum).toBe(41);
    expect(m.results).toEqual([
      {
        kind: 'ticker',
        product: 'BTC-USD',
        price: '80691.53',
        best_bid: '80691.52',
        best_ask: '80691.53',
        best_bid_size: '0.1',
        best_ask_size: '0.2',
        volume_24h: '1808.18',
        low_24h: '79000',
        high_24h: '81000.5',
        change_24h_pct: '-0.0651',
        time: TS,
        flags: [],
      },
    ]);
  });

  it('omits optional ticker stats that are absent or odd; requires price and best bid/ask', () => {
    const { best_bid_quantity: _q, ...noSize } = ticker;
    const [r] = map(
      envelope('ticker', [{ type: 'update', tickers: [{ ...noSize, volume_24_h: 'n/a' }] }]),
    );
    expect(r?.kind === 'ticker' && [r.best_bid_size, r.volume_24h]).toEqual([undefined, undefined]);
    const { best_bid: _b, ...noBid } = ticker;
    expect(map(envelope('ticker', [{ type: 'update', tickers: [noBid] }]))[0]?.kind).toBe(
      'invalid',
    );
  });

  it('l2_data: bid/offer only (an `ask` side is dropped and counted), absolute sizes', () => {
    const [r] = map(
      l2('update', [
        level('bid', '100', '1'),
        level('offer', '101', '0.000'),
        level('ask', '102', '1'),
        level('offer', 'NaN', '1'),
        { side: 'bid' },
      ]),
    );
    expect(r).toEqual({
      kind: 'l2update',
      product: 'BTC-USD',
      changes: [
        ['buy', '100', '1'],
        ['sell', '101', '0.000'],
      ],
      time: TS,
      flags: ['book_levels_dropped'],
      dropped: 3,
    });
  });

  it('a sequence_num that is not a count is not reported (the frame is still mapped)', () => {
    const m = mapAdvancedFrame({ ...l2('snapshot', []), sequence_num: -1 }, ctx);
    expect(m.sequenceNum).toBeUndefined();
    expect(m.results[0]?.kind).toBe('snapshot');
  });

  it('maps our lf_feed markers; ignores other channels; reports what is not a frame', () => {
    expect(map({ type: 'lf_feed', state: 'dropped', conn: 'c', reason: 'sequence_gap' })).toEqual([
      { kind: 'marker', state: 'dropped', conn: 'c', reason: 'sequence_gap' },
    ]);
    for (const channel of ['heartbeats', 'subscriptions', 'candles', 'status', 'ticker_batch', 'x'])
      expect(map(envelope(channel, []))).toEqual([{ kind: 'ignore', type: channel }]);
    for (const f of [null, 1, 'x', [], {}, { channel: 5 }])
      expect(map(f)[0]).toMatchObject({ kind: 'invalid', reason: 'schema' });
    expect(map(envelope('l2_data', {} as unknown as unknown[]))[0]?.kind).toBe('invalid');
    expect(mapAdvancedText('{"channel":', ctx).results).toMatchObject([
      { kind: 'invalid', reason: 'unparsable' },
    ]);
  });
});

describe('mapAdvancedFrame: decimals and the book', () => {
  it('property: prices and sizes survive exactly, whatever their spelling', () => {
    fc.assert(
      fc.property(unsignedDecimalArb, unsignedDecimalArb, (price, size) => {
        const [t] = map(
          envelope('market_trades', [
            { type: 'update', trades: [trade('9', 'BUY', { price: price.text, size: size.text })] },
          ]),
        );
        if (t?.kind !== 'trade') throw new Error(`expected a trade: ${JSON.stringify(t)}`);
        const msg = tradeMessage(t, { seq: 1, recvUs: RECV_US });
        expect([msg.price, msg.size]).toEqual([price.text, size.text]);
        expect(TradeSchema.safeParse(msg).success).toBe(true);
        const [b] = map(l2('update', [level('offer', price.text, size.text)]));
        expect(b).toMatchObject({ changes: [['sell', price.text, size.text]], dropped: 0 });
        const [k] = map(
          envelope('ticker', [
            {
              type: 'update',
              tickers: [{ ...ticker, price: price.text, best_bid_quantity: size.text }],
            },
          ]),
        );
        if (k?.kind !== 'ticker') throw new Error('expected a ticker');
        expect([k.price, k.best_bid_size]).toEqual([price.text, size.text]);
      }),
    );
  });

  it('property: the book built from l2_data frames equals a Map model', () => {
    const toUpdates = (changes: readonly BookChange[]) =>
      changes.map(([side, p, s]) => level(side === 'buy' ? 'bid' : 'offer', p, s));
    fc.assert(
      fc.property(
        fc.array(levelArb, { maxLength: 30 }),
        fc.array(levelArb, { maxLength: 30 }),
        fc.array(fc.array(changeArb, { maxLength: 8 }), { maxLength: 30 }),
        (snapBids, snapAsks, frames) => {
          const bids: Model = new Map();
          const asks: Model = new Map();
          for (const [p, s] of snapBids) modelApply(bids, p, s);
          for (const [p, s] of snapAsks) modelApply(asks, p, s);
          const book = new L2Book({ depth: 5 });
          const [snap] = map(
            l2('snapshot', [
              ...toUpdates(snapBids.map(([p, s]) => ['buy', p, s] as const)),
              ...toUpdates(snapAsks.map(([p, s]) => ['sell', p, s] as const)),
            ]),
          );
          if (snap?.kind !== 'snapshot') throw new Error('expected a snapshot');
          book.applySnapshot(snap.bids, snap.asks, snap.dropped);
          let valid = !modelCrossed(bids, asks);
          for (const frame of frames as BookChange[][]) {
            for (const [side, p, s] of frame) modelApply(side === 'buy' ? bids : asks, p, s);
            const [u] = map(l2('update', toUpdates(frame)));
            if (u?.kind !== 'l2update') throw new Error('expected an update');
            book.applyChanges(u.changes, u.dropped);
            if (modelCrossed(bids, asks)) valid = false;
          }
          expect(book.valid).toBe(valid);
          expect(book.top(1000)).toEqual({
            bids: modelTop(bids, true, 1000),
            asks: modelTop(asks, false, 1000),
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** Frames close to real ones with one field, at any depth, replaced by an arbitrary JSON value. */
const mutatedFrame = fc
  .record({
    base: fc.constantFrom<Record<string, unknown>>(
      envelope('market_trades', [{ type: 'update', trades: [trade('5'), trade('6', 'BUY')] }]),
      envelope('ticker', [{ type: 'snapshot', tickers: [ticker] }]),
      l2('snapshot', [level('bid', '1', '1'), level('offer', '2', '1')]),
      l2('update', [level('bid', '1', '0')]),
      { type: 'lf_feed', state: 'connected', conn: 'c', product_id: 'BTC-USD' },
    ),
    where: fc.constantFrom('envelope', 'event', 'item'),
    key: fc.constantFrom(
      'channel',
      'timestamp',
      'sequence_num',
      'events',
      'type',
      'product_id',
      'trades',
      'tickers',
      'updates',
      'trade_id',
      'price',
      'size',
      'side',
      'time',
      'best_bid',
      'price_level',
      'new_quantity',
      'state',
    ),
    value: fc.jsonValue(),
  })
  .map(({ base, where, key, value }) => {
    const frame = structuredClone(base);
    const events = frame.events as Record<string, unknown>[] | undefined;
    const event = events?.[0];
    const list = event === undefined ? undefined : (event.trades ?? event.tickers ?? event.updates);
    const item = Array.isArray(list) ? (list[0] as Record<string, unknown> | undefined) : undefined;
    const target = where === 'event' ? event : where === 'item' ? item : frame;
    (target ?? frame)[key] = value;
    return frame;
  });

describe('mapAdvancedFrame never throws', () => {
  function check(frame: unknown): void {
    // A frame with no events (or no items) has no results, which is fine.
    const { results } = mapAdvancedFrame(frame, ctx);
    for (const r of results) expectWellFormed(r);
    // A frame is one unit: an invalid one has no other result.
    if (results.some((r) => r.kind === 'invalid')) expect(results).toHaveLength(1);
  }

  it('property: on anything', () => {
    onAnything(check);
  });

  it('property: on arbitrary JSON text', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        for (const r of mapAdvancedText(text, ctx).results)
          expect(MAP_KINDS.has(r.kind)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: on real-looking frames with one field replaced', () => {
    fc.assert(fc.property(mutatedFrame, check), { numRuns: 3000 });
  });
});
