import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TradeSchema } from '../../../services/common/schemas/normalized.js';
import type { MapContext, MapResult } from '../../../services/normalizer/core/map-common.js';
import {
  mapExchangeFrame,
  mapExchangeText,
} from '../../../services/normalizer/core/map-exchange.js';
import { tradeMessage } from '../../../services/normalizer/core/messages.js';
import { unsignedDecimalArb } from './arbitraries.js';
import { MAP_KINDS, expectWellFormed, onAnything } from './map-checks.js';

const RECV_US = Date.UTC(2026, 8, 1) * 1000 + 123_456;
const ctx: MapContext = { recvUs: RECV_US, product: 'BTC-USD' };

const match = {
  type: 'match',
  trade_id: 1081862675,
  maker_order_id: 'f07e510f-4edf-469d-b844-4f670f1e93f1',
  taker_order_id: 'e6f50944-3e2a-439e-ae49-308300ba8296',
  side: 'sell',
  size: '0.00000001',
  price: '80691.53',
  product_id: 'BTC-USD',
  sequence: 134905860111,
  time: '2026-08-25T03:35:57.198335Z',
};

function map(frame: unknown, c: Partial<MapContext> = {}): MapResult {
  return mapExchangeFrame(frame, { ...ctx, ...c });
}

describe('mapExchangeFrame: trades', () => {
  it('turns the maker side of match into the taker side', () => {
    expect(map(match)).toMatchObject({ kind: 'trade', side: 'buy', tradeId: '1081862675' });
    expect(map({ ...match, side: 'buy' })).toMatchObject({ kind: 'trade', side: 'sell' });
    expect(map({ ...match, type: 'last_match' })).toMatchObject({ kind: 'trade', last: true });
  });

  it('keeps trade ids as canonical decimal-integer strings, rejects unsafe numbers', () => {
    expect(map({ ...match, trade_id: '0001081862675' })).toMatchObject({ tradeId: '1081862675' });
    expect(map({ ...match, trade_id: 2 ** 60 }).kind).toBe('invalid');
    expect(map({ ...match, trade_id: 1.5 }).kind).toBe('invalid');
    expect(map({ ...match, trade_id: -1 }).kind).toBe('invalid');
  });

  it('rejects a trade with a negative or unparsable size as a schema error', () => {
    expect(map({ ...match, size: '-1' })).toMatchObject({ kind: 'invalid', reason: 'schema' });
    expect(map({ ...match, price: 'NaN' })).toMatchObject({ kind: 'invalid', reason: 'schema' });
    const r = map({ ...match, side: 'hold' });
    expect(r.kind === 'invalid' && r.error).toContain('side');
  });

  it('tolerates extra fields (authenticated copies add user ids and fee rates)', () => {
    const r = map({ ...match, taker_user_id: 'u', taker_fee_rate: '0.005', future: { x: 1 } });
    expect(r.kind).toBe('trade');
  });

  it('refuses a frame for another product than its subject', () => {
    expect(map({ ...match, product_id: 'ETH-USD' }).kind).toBe('invalid');
    expect(map({ ...match, product_id: undefined }).kind).toBe('invalid');
  });

  it('substitutes an invalid time: the previous valid time, else the receipt time', () => {
    const bad = { ...match, time: '0001-01-01T00:00:00.000000Z' };
    expect(map(bad, { lastValidTime: '2026-08-25T03:35:57.1Z' })).toMatchObject({
      time: '2026-08-25T03:35:57.1Z',
      flags: ['time_substituted'],
    });
    expect(map(bad)).toMatchObject({
      time: '2026-09-01T00:00:00.123456Z',
      flags: ['time_substituted'],
    });
    expect(map({ ...match, time: 12 })).toMatchObject({ flags: ['time_substituted'] });
    expect(map(match)).toMatchObject({ time: match.time, flags: [] });
  });
});

describe('mapExchangeFrame: tickers, heartbeats, markers, ignored and invalid frames', () => {
  const ticker = {
    type: 'ticker',
    sequence: 50978628538,
    product_id: 'BTC-USD',
    price: '17165.16',
    best_bid: '17165.15',
    best_bid_size: null,
    best_ask: '17167.76',
    side: 'sell',
    time: '2022-12-01T00:00:00.122581Z',
    trade_id: 463751434,
    last_size: '0.05',
    volume_24h: 'n/a',
  };

  it('maps a ticker, omitting null or odd optional stats', () => {
    const r = map(ticker);
    expect(r).toEqual({
      kind: 'ticker',
      product: 'BTC-USD',
      sequence: '50978628538',
      price: '17165.16',
      best_bid: '17165.15',
      best_ask: '17167.76',
      last_size: '0.05',
      trade_id: '463751434',
      side: 'sell',
      time: '2022-12-01T00:00:00.122581Z',
      flags: [],
    });
  });

  it('a ticker without time gets one (very old tickers), without best_bid it is invalid', () => {
    const { time: _t, ...noTime } = ticker;
    expect(map(noTime)).toMatchObject({ kind: 'ticker', flags: ['time_substituted'] });
    const { best_bid: _b, ...noBid } = ticker;
    expect(map(noBid).kind).toBe('invalid');
  });

  it('maps heartbeats (last_trade_id 0 for products without trades)', () => {
    const hb = { type: 'heartbeat', last_trade_id: 0, product_id: 'BTC-USD', sequence: 7 };
    expect(map({ ...hb, time: '2019-05-10T21:21:26.519588Z' })).toEqual({
      kind: 'heartbeat',
      product: 'BTC-USD',
      lastTradeId: '0',
      sequence: '7',
      time: '2019-05-10T21:21:26.519588Z',
      flags: [],
    });
  });

  it('maps our lf_feed markers', () => {
    const m = { type: 'lf_feed', state: 'resubscribed', conn: 'abc', product_id: 'BTC-USD' };
    expect(map(m)).toEqual({ kind: 'marker', state: 'resubscribed', conn: 'abc' });
    expect(map({ ...m, reason: 'stale' })).toMatchObject({ reason: 'stale' });
    expect(map({ ...m, state: 'weird' }).kind).toBe('invalid');
    expect(map({ ...m, product_id: 'ETH-USD' }).kind).toBe('invalid');
  });

  it('ignores types it does not support (docs: clients are expected to ignore them)', () => {
    for (const type of [
      'status',
      'subscriptions',
      'error',
      'received',
      'open',
      'done',
      'new_thing',
    ]) {
      expect(map({ type, product_id: 'ETH-USD' })).toEqual({ kind: 'ignore', type });
    }
  });

  it('reports what is not a frame', () => {
    for (const f of [null, 1, 'x', [], [{ type: 'match' }], {}, { type: 5 }]) {
      expect(map(f)).toMatchObject({ kind: 'invalid', reason: 'schema' });
    }
    expect(mapExchangeText('\u0000invalid (un)subscribe msg', ctx)).toMatchObject({
      kind: 'invalid',
      reason: 'unparsable',
    });
    expect(mapExchangeText(JSON.stringify(match), ctx).kind).toBe('trade');
  });
});

describe('mapExchangeFrame: book frames', () => {
  it('drops NaN and negative levels and counts them', () => {
    const r = map({
      type: 'snapshot',
      product_id: 'BTC-USD',
      bids: [['100', '1', 3], ['99', '0.-10000'], ['-98', '1'], 'x', ['97']],
      asks: [['101', '2']],
    });
    expect(r).toEqual({
      kind: 'snapshot',
      product: 'BTC-USD',
      bids: [['100', '1']],
      asks: [['101', '2']],
      time: undefined,
      flags: ['book_levels_dropped'],
      dropped: 4,
    });
  });

  it('keeps every spelling of zero in l2update changes (the book deletes them)', () => {
    const zeros = ['0', '0.0', '0.00', '0.000000', '0.00000000'];
    const r = map({
      type: 'l2update',
      product_id: 'BTC-USD',
      changes: [...zeros.map((z) => ['buy', '100', z]), ['hold', '1', '1'], ['sell', 'NaN', '1']],
      time: '2021-06-02T09:02:09.048568Z',
    });
    expect(r).toMatchObject({
      kind: 'l2update',
      changes: zeros.map((z) => ['buy', '100', z]),
      dropped: 2,
      flags: ['book_levels_dropped'],
    });
  });

  it('an l2update whose changes is not an array is a schema error', () => {
    expect(map({ type: 'l2update', product_id: 'BTC-USD', changes: {}, time: 't' }).kind).toBe(
      'invalid',
    );
  });
});

describe('mapExchangeFrame: decimals', () => {
  it('property: decimals survive exactly, whatever their spelling', () => {
    fc.assert(
      fc.property(unsignedDecimalArb, unsignedDecimalArb, (price, size) => {
        const r = map({ ...match, price: price.text, size: size.text });
        if (r.kind !== 'trade') throw new Error(`expected a trade: ${JSON.stringify(r)}`);
        const msg = tradeMessage(r, { seq: 1, recvUs: RECV_US });
        expect([msg.price, msg.size]).toEqual([price.text, size.text]);
        expect(TradeSchema.safeParse(msg).success).toBe(true);
        const book = map({
          type: 'l2update',
          product_id: 'BTC-USD',
          changes: [['sell', price.text, size.text]],
          time: match.time,
        });
        expect(book).toMatchObject({ changes: [['sell', price.text, size.text]], dropped: 0 });
      }),
    );
  });
});

/** Frames close to real ones with one field replaced by an arbitrary JSON value. */
const mutatedFrame = fc
  .record({
    base: fc.constantFrom<Record<string, unknown>>(
      match,
      {
        type: 'ticker',
        product_id: 'BTC-USD',
        sequence: 1,
        price: '1',
        best_bid: '1',
        best_ask: '2',
      },
      { type: 'heartbeat', product_id: 'BTC-USD', sequence: 1, last_trade_id: 2, time: 't' },
      { type: 'snapshot', product_id: 'BTC-USD', bids: [['1', '1']], asks: [['2', '1']] },
      { type: 'l2update', product_id: 'BTC-USD', changes: [['buy', '1', '0']], time: 't' },
      { type: 'lf_feed', state: 'connected', conn: 'c', product_id: 'BTC-USD' },
    ),
    key: fc.constantFrom(
      'type',
      'product_id',
      'trade_id',
      'side',
      'price',
      'size',
      'time',
      'sequence',
      'last_trade_id',
      'bids',
      'asks',
      'changes',
      'best_bid',
      'state',
      'conn',
    ),
    value: fc.jsonValue(),
  })
  .map(({ base, key, value }) => ({ ...base, [key]: value }));

describe('mapExchangeFrame never throws', () => {
  function check(frame: unknown): void {
    expectWellFormed(map(frame));
  }

  it('property: on anything', () => {
    onAnything(check);
  });

  it('property: on arbitrary JSON text', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(MAP_KINDS.has(mapExchangeText(text, ctx).kind)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('property: on real-looking frames with one field replaced', () => {
    fc.assert(fc.property(mutatedFrame, check), { numRuns: 3000 });
  });
});
