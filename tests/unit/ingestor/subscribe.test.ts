import { describe, expect, it } from 'vitest';
import { checkAck, subscribeMessage } from '../../../services/ingestor/core/subscribe.js';

describe('subscribeMessage', () => {
  it('puts products at the root and channels by name', () => {
    expect(
      subscribeMessage(
        'subscribe',
        ['heartbeat', 'ticker', 'matches', 'level2_batch'],
        ['BTC-USD', 'ETH-USD'],
      ),
    ).toEqual({
      type: 'subscribe',
      product_ids: ['BTC-USD', 'ETH-USD'],
      channels: ['heartbeat', 'ticker', 'matches', 'level2_batch'],
    });
  });

  it('gives status no products and never an empty product list (PROTOCOL.md §1.2)', () => {
    expect(subscribeMessage('subscribe', ['status'], ['BTC-USD'])).toEqual({
      type: 'subscribe',
      channels: [{ name: 'status' }],
    });
    const m = subscribeMessage('subscribe', ['heartbeat', 'status'], []);
    expect(m).toEqual({ type: 'subscribe', channels: [{ name: 'status' }] });
  });

  it('builds the unsubscribe of a book resync', () => {
    expect(subscribeMessage('unsubscribe', ['level2_batch'], ['SOL-USD'])).toEqual({
      type: 'unsubscribe',
      product_ids: ['SOL-USD'],
      channels: ['level2_batch'],
    });
  });
});

describe('checkAck', () => {
  const channels = ['heartbeat', 'matches', 'level2_batch'] as const;

  it('accepts a cumulative ack in any product order, with level2_50 for level2_batch (2026 capture)', () => {
    const ack = {
      type: 'subscriptions',
      channels: [
        { name: 'level2_50', product_ids: ['ETH-USD', 'BTC-USD'], account_ids: null },
        { name: 'heartbeat', product_ids: ['BTC-USD', 'ETH-USD'] },
        { name: 'matches', product_ids: ['ETH-USD', 'BTC-USD'] },
      ],
    };
    expect(checkAck(ack, channels, ['BTC-USD', 'ETH-USD'])).toEqual({ ok: true, missing: {} });
  });

  it('names the channels and products missing', () => {
    const ack = {
      type: 'subscriptions',
      channels: [{ name: 'heartbeat', product_ids: ['BTC-USD'] }],
    };
    expect(checkAck(ack, channels, ['BTC-USD', 'ETH-USD'])).toEqual({
      ok: false,
      missing: {
        heartbeat: ['ETH-USD'],
        matches: ['BTC-USD', 'ETH-USD'],
        level2_batch: ['BTC-USD', 'ETH-USD'],
      },
    });
  });

  it('treats the empty ack (bennycode fixture) and garbage as nothing acknowledged', () => {
    expect(
      checkAck({ type: 'subscriptions', product_ids: [], channels: [] }, ['heartbeat'], ['BTC-USD'])
        .ok,
    ).toBe(false);
    expect(checkAck(null, ['heartbeat'], ['BTC-USD']).missing).toEqual({ heartbeat: ['BTC-USD'] });
    expect(checkAck({ channels: [42, { name: 7 }] }, ['heartbeat'], ['BTC-USD']).ok).toBe(false);
  });
});
