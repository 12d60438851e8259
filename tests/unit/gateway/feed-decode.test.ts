import { headers } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import { decodeNorm } from '../../../services/gateway/feed.js';

const products = new Set(['BTC-USD']);
const trade = {
  v: 1,
  venue: 'coinbase',
  product: 'BTC-USD',
  seq: 3,
  time: '2024-01-01T00:00:00Z',
  recv_us: 5,
  flags: [],
  type: 'trade',
  trade_id: '77',
  price: '1.0',
  size: '2',
  side: 'buy',
};
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('decodeNorm (the MD_NORM trust boundary)', () => {
  it('turns a valid message into its shared frame, with Lf-Pub-Us', () => {
    const h = headers();
    h.set('Lf-Pub-Us', '123456');
    const d = decodeNorm('md.norm.coinbase.BTC-USD.trade', 9, enc(trade), h, 1_000, products);
    expect(d).toMatchObject({
      offset: 9,
      product: 'BTC-USD',
      kind: 'trade',
      channel: 'trades',
      pubUs: 123456,
    });
    if ('frame' in d)
      expect(JSON.parse(d.frame.bytes.toString())).toMatchObject({
        op: 'update',
        offset: 9,
        data: trade,
      });
  });

  it.each([
    ['not JSON', 'md.norm.coinbase.BTC-USD.trade', new TextEncoder().encode('{'), 'schema'],
    ['a schema failure', 'md.norm.coinbase.BTC-USD.trade', enc({ ...trade, price: 1 }), 'schema'],
    ['a kind other than the subject', 'md.norm.coinbase.BTC-USD.ticker', enc(trade), 'schema'],
    [
      'a product other than the subject',
      'md.norm.coinbase.BTC-USD.trade',
      enc({ ...trade, product: 'ETH-USD' }),
      'schema',
    ],
    [
      'an unconfigured product',
      'md.norm.coinbase.ETH-USD.trade',
      enc({ ...trade, product: 'ETH-USD' }),
      'unconfigured',
    ],
    ['a foreign subject', 'md.raw.coinbase.0.BTC-USD', enc(trade), 'schema'],
  ])('refuses %s', (_what, subject, data, why) => {
    expect(decodeNorm(subject, 1, data, undefined, 0, products)).toEqual({ invalid: why });
  });
});
