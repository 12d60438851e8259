import { describe, expect, it } from 'vitest';
import { decodeNormalized } from '../../../services/snapshotter/decode.js';

const enc = (x: unknown) => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));
const trade = {
  v: 1,
  type: 'trade',
  venue: 'coinbase',
  product: 'BTC-USD',
  seq: 1,
  time: '2024-01-01T00:00:00.000001Z',
  recv_us: 1,
  flags: [],
  trade_id: '7',
  price: '1.5',
  size: '2',
  side: 'buy',
};
const SUBJECT = 'md.norm.coinbase.BTC-USD.trade';

describe('decodeNormalized', () => {
  it('takes a message that passes the schema and agrees with its subject', () => {
    expect(decodeNormalized(SUBJECT, enc(trade))).toEqual(trade);
  });

  it('refuses disagreement with the subject, bad JSON, schema failures and NUL', () => {
    expect(decodeNormalized('md.norm.coinbase.ETH-USD.trade', enc(trade))).toBeUndefined();
    expect(decodeNormalized('md.norm.coinbase.BTC-USD.ticker', enc(trade))).toBeUndefined();
    expect(decodeNormalized('md.raw.coinbase.0.BTC-USD', enc(trade))).toBeUndefined();
    expect(decodeNormalized(SUBJECT, enc('{"v":1,'))).toBeUndefined();
    expect(decodeNormalized(SUBJECT, enc({ ...trade, price: '1e5' }))).toBeUndefined();
    expect(decodeNormalized(SUBJECT, enc({ ...trade, time: 'a\u0000b' }))).toBeUndefined();
  });
});
