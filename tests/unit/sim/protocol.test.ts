import { describe, expect, it } from 'vitest';
import { ERRORS, parseClientMessage, Subscriptions } from '../../../services/sim/core/protocol.js';
import { recordedFrames } from './fixtures.js';

const PRODUCTS = new Set(['BTC-USD', 'ETH-USD', 'SOL-USD']);
const parse = (msg: unknown) =>
  parseClientMessage(typeof msg === 'string' ? msg : JSON.stringify(msg), PRODUCTS);
const errorOf = (msg: unknown): unknown => {
  const r = parse(msg);
  return r.kind === 'error' ? JSON.parse(r.frame) : r;
};

describe('subscribe parsing', () => {
  it('accepts the three documented forms (root product_ids, channel objects, status without products)', () => {
    expect(
      parse({
        type: 'subscribe',
        product_ids: ['ETH-USD', 'BTC-USD'],
        channels: ['heartbeat', { name: 'ticker', product_ids: ['SOL-USD'] }],
      }),
    ).toEqual({
      kind: 'subscribe',
      entries: [
        { channel: 'heartbeat', products: ['ETH-USD', 'BTC-USD'] },
        { channel: 'ticker', products: ['SOL-USD'] },
      ],
    });
    expect(parse({ type: 'subscribe', channels: [{ name: 'status' }] })).toEqual({
      kind: 'subscribe',
      entries: [{ channel: 'status', products: [] }],
    });
    expect(parse({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['level2_50'] })).toEqual(
      {
        kind: 'subscribe',
        entries: [{ channel: 'level2_batch', products: ['BTC-USD'] }],
      },
    );
  });

  it("answers with Coinbase's own error texts, exactly as recorded", () => {
    const recorded = recordedFrames()
      .filter((f) => f.json.type === 'error')
      .map((f) => JSON.stringify({ message: f.json.message, reason: f.json.reason }));
    const expectRecorded = (msg: unknown) => {
      const e = errorOf(msg) as { type: string; message: string; reason?: string };
      expect(e.type).toBe('error');
      expect(recorded).toContain(JSON.stringify({ message: e.message, reason: e.reason }));
    };
    // level2 without auth (cryptofeed#990; 2026 capture)
    expectRecorded({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['level2'] });
    expectRecorded({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['full', 'matches'] });
    expectRecorded({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['level3'] });
    // no channels (Krypto-trading-bot#977)
    expectRecorded({ type: 'subscribe', product_ids: ['BTC-USD'] });
    expectRecorded({ type: 'subscribe', product_ids: ['BTC-USD'], channels: [] });
    // empty product list inside a channel object (gocryptotrader PR#1421)
    expectRecorded({
      type: 'subscribe',
      product_ids: ['BTC-USD'],
      channels: [{ name: 'ticker', product_ids: [] }],
    });
    // a channel without any product (coinbase-pro-node#113)
    expectRecorded({ type: 'subscribe', channels: ['heartbeat'] });
    // signed subscribe (no keys in the simulator)
    expectRecorded({
      type: 'subscribe',
      product_ids: ['BTC-USD'],
      channels: ['matches'],
      key: 'k',
      signature: 's',
      passphrase: 'p',
      timestamp: '1',
    });
    // unsubscribe with no channels (bennycode fixture)
    expectRecorded({ type: 'unsubscribe', product_ids: ['BTC-USD'] });
  });

  it('refuses a bad product with "<id> is not a valid product", the whole request', () => {
    expect(
      errorOf({ type: 'subscribe', product_ids: ['BTC-USD', 'FOO-BAR'], channels: ['matches'] }),
    ).toEqual({
      type: 'error',
      message: 'Failed to subscribe',
      reason: 'FOO-BAR is not a valid product',
    });
  });

  it('refuses an unknown channel', () => {
    expect(errorOf({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['tickers'] })).toEqual(
      {
        type: 'error',
        message: ERRORS.subscribeFailed,
        reason: 'tickers is not a valid channel',
      },
    );
  });

  it('answers garbage with an error frame, never a throw', () => {
    for (const text of [
      '',
      'nope',
      '[]',
      'null',
      '{"type":"ping"}',
      '{"type":"subscribe","channels":"matches"}',
    ]) {
      const r = parseClientMessage(text, PRODUCTS);
      expect(r.kind).toBe('error');
    }
  });
});

describe('subscriptions state', () => {
  it('acks cumulatively, reports level2_batch as level2_50 (modern) and removes whole channels', () => {
    const subs = new Subscriptions();
    subs.add([{ channel: 'matches', products: ['BTC-USD'] }]);
    subs.add([
      { channel: 'matches', products: ['ETH-USD'] },
      { channel: 'level2_batch', products: ['BTC-USD'] },
    ]);
    expect(JSON.parse(subs.ack('modern'))).toEqual({
      type: 'subscriptions',
      channels: [
        { name: 'matches', product_ids: ['BTC-USD', 'ETH-USD'], account_ids: null },
        { name: 'level2_50', product_ids: ['BTC-USD'], account_ids: null },
      ],
    });
    subs.remove([{ channel: 'matches', products: ['BTC-USD'] }]);
    expect(subs.has('matches', 'BTC-USD')).toBe(false);
    expect(subs.has('matches', 'ETH-USD')).toBe(true);
    subs.remove([{ channel: 'level2_batch', products: [] }]);
    expect(JSON.parse(subs.ack('classic'))).toEqual({
      type: 'subscriptions',
      channels: [{ name: 'matches', product_ids: ['ETH-USD'] }],
    });
    subs.remove([{ channel: 'matches', products: ['ETH-USD'] }]);
    expect(subs.empty).toBe(true);
    expect(JSON.parse(subs.ack('modern'))).toEqual({ type: 'subscriptions', channels: [] });
  });
});
