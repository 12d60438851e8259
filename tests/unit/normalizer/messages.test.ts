import { describe, expect, it } from 'vitest';
import {
  BookSchema,
  NormalizedSchema,
  StatusSchema,
  TradeSchema,
} from '../../../services/common/schemas/normalized.js';
import { L2Book } from '../../../services/normalizer/core/book.js';
import { mapExchangeFrame } from '../../../services/normalizer/core/map-exchange.js';
import {
  bookMessage,
  mergeFlags,
  statusMessage,
  tickerMessage,
  tradeMessage,
} from '../../../services/normalizer/core/messages.js';

const RECV_US = Date.UTC(2026, 8, 1) * 1000 + 123_456;
const ctx = { recvUs: RECV_US, product: 'BTC-USD' };

describe('MD_NORM message builders', () => {
  it('a trade with merged flags passes the schema', () => {
    const r = mapExchangeFrame(
      {
        type: 'match',
        trade_id: 1081862675,
        side: 'sell',
        size: '0.00000001',
        price: '80691.53',
        product_id: 'BTC-USD',
        time: '0001-01-01T00:00:00.000000Z',
      },
      ctx,
    );
    if (r.kind !== 'trade') throw new Error('expected a trade');
    const msg = tradeMessage(r, { seq: 4, recvUs: RECV_US, flags: ['price_jump'] });
    expect(TradeSchema.parse(msg)).toEqual(msg);
    expect(msg).toEqual({
      v: 1,
      type: 'trade',
      venue: 'coinbase',
      product: 'BTC-USD',
      seq: 4,
      time: '2026-09-01T00:00:00.123456Z',
      recv_us: RECV_US,
      flags: ['price_jump', 'time_substituted'],
      trade_id: '1081862675',
      price: '80691.53',
      size: '0.00000001',
      side: 'buy',
    });
  });

  it('a ticker keeps only the fields MD_NORM defines', () => {
    const r = mapExchangeFrame(
      {
        type: 'ticker',
        sequence: 1,
        product_id: 'BTC-USD',
        price: '1',
        best_bid: '0.9',
        best_ask: '1.1',
        volume_30d: '5',
        last_size: '0.1',
        trade_id: 7,
        time: '2022-12-01T00:00:00.122581Z',
      },
      ctx,
    );
    if (r.kind !== 'ticker') throw new Error('expected a ticker');
    const msg = tickerMessage(r, { seq: 1, recvUs: RECV_US, flags: ['absurd_spread'] });
    expect(NormalizedSchema.parse(msg)).toEqual(msg);
    expect(msg).not.toHaveProperty('volume_30d');
    expect(msg).toMatchObject({ trade_id: '7', flags: ['absurd_spread'] });
  });

  it('book and gap status messages pass their schemas', () => {
    const book = new L2Book();
    book.applySnapshot([['100.50', '1.0']], [['101', '2']]);
    const b = bookMessage('BTC-USD', book.top(10), { seq: 9, recvUs: 1, time: 't' });
    expect(BookSchema.parse(b)).toEqual(b);
    expect(b.bids).toEqual([['100.50', '1.0']]);
    const s = statusMessage('BTC-USD', 'gap', 'upstream_drop', {
      seq: 2,
      recvUs: 1,
      time: 't',
      from: '11',
      to: '13',
    });
    expect(StatusSchema.parse(s)).toMatchObject({ event: 'gap', from: '11', to: '13' });
  });

  it('merges flags without duplicates, in a stable order', () => {
    expect(mergeFlags(['time_substituted'], ['time_substituted'])).toEqual(['time_substituted']);
    expect(mergeFlags(['time_substituted'], ['absurd_spread', 'price_jump'])).toEqual([
      'price_jump',
      'absurd_spread',
      'time_substituted',
    ]);
  });
});
