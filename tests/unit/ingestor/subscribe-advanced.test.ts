import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../services/common/config.js';
import { loadIngestorConfig } from '../../../services/ingestor/config.js';
import { feedProtocol } from '../../../services/ingestor/core/feed-protocol.js';
import {
  advancedSubscribeMessages,
  checkAdvancedAck,
} from '../../../services/ingestor/core/subscribe-advanced.js';

const REAL = readFileSync(
  new URL(
    '../../fixtures/coinbase-advanced/JKorf-Coinbase.Net-advanced-trade-fixtures.jsonl',
    import.meta.url,
  ),
  'utf8',
)
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as unknown);

describe('advancedSubscribeMessages (PROTOCOL.md §2.1: one channel per subscribe)', () => {
  it('one message per channel, heartbeats first and always, no products for heartbeats/status', () => {
    expect(advancedSubscribeMessages('subscribe', ['level2', 'status'], ['BTC-USD'])).toEqual([
      { type: 'subscribe', channel: 'heartbeats' },
      { type: 'subscribe', channel: 'level2', product_ids: ['BTC-USD'] },
      { type: 'subscribe', channel: 'status' },
    ]);
  });

  it('never sends a product channel with an empty product list; unsubscribes only what is asked', () => {
    expect(advancedSubscribeMessages('subscribe', ['ticker'], [])).toEqual([
      { type: 'subscribe', channel: 'heartbeats' },
    ]);
    expect(advancedSubscribeMessages('unsubscribe', ['level2'], ['ETH-USD'])).toEqual([
      { type: 'unsubscribe', channel: 'level2', product_ids: ['ETH-USD'] },
    ]);
  });
});

describe('checkAdvancedAck', () => {
  it('reads the real acks: heartbeats alone is not market_trades', () => {
    expect(checkAdvancedAck(REAL[0], ['heartbeats'], ['ETH-USDT']).ok).toBe(true);
    expect(checkAdvancedAck(REAL[0], ['market_trades'], ['ETH-USDT'])).toEqual({
      ok: false,
      missing: { market_trades: ['ETH-USDT'] },
    });
    // The market_trades ack alone lacks heartbeats, which is always wanted.
    expect(checkAdvancedAck(REAL[2], ['market_trades'], ['ETH-USDT']).missing).toEqual({
      heartbeats: [],
    });
  });

  it('compares sets: a cumulative ack in any order is complete; a missing product is named', () => {
    const ack = {
      channel: 'subscriptions',
      events: [
        {
          subscriptions: {
            level2: ['ETH-USD', 'BTC-USD'],
            heartbeats: ['heartbeats'],
            ticker: ['BTC-USD'],
          },
        },
      ],
    };
    expect(checkAdvancedAck(ack, ['level2'], ['BTC-USD', 'ETH-USD']).ok).toBe(true);
    expect(checkAdvancedAck(ack, ['ticker', 'level2'], ['BTC-USD', 'ETH-USD']).missing).toEqual({
      ticker: ['ETH-USD'],
    });
    expect(checkAdvancedAck(null, ['ticker'], ['BTC-USD']).ok).toBe(false);
  });
});

describe('feed protocols and COINBASE_CHANNELS by feed', () => {
  it('defaults: the Exchange channels, or the Advanced Trade ones, each with its public URL', () => {
    const ex = loadIngestorConfig({});
    expect([ex.COINBASE_WS_URL, ex.COINBASE_CHANNELS]).toEqual([
      'wss://ws-feed.exchange.coinbase.com',
      ['heartbeat', 'ticker', 'matches', 'level2_batch'],
    ]);
    const at = loadIngestorConfig({ COINBASE_FEED: 'advanced' });
    expect([at.COINBASE_WS_URL, at.COINBASE_CHANNELS]).toEqual([
      'wss://advanced-trade-ws.coinbase.com',
      ['heartbeats', 'ticker', 'market_trades', 'level2'],
    ]);
  });

  it('refuses the other feed’s channel names, naming them', () => {
    expect(() =>
      loadIngestorConfig({ COINBASE_FEED: 'advanced', COINBASE_CHANNELS: 'matches' }),
    ).toThrow(ConfigError);
    expect(() => loadIngestorConfig({ COINBASE_CHANNELS: 'market_trades,level2' })).toThrow(
      /market_trades, level2/,
    );
  });

  it('the book resubscribe asks for level2 (Advanced Trade) or level2_batch (Exchange) only', () => {
    expect(feedProtocol('advanced', ['heartbeats', 'level2']).resubscribeBook('SOL-USD')).toEqual([
      { type: 'unsubscribe', channel: 'level2', product_ids: ['SOL-USD'] },
      { type: 'subscribe', channel: 'level2', product_ids: ['SOL-USD'] },
    ]);
    expect(feedProtocol('advanced', ['ticker']).resubscribeBook('SOL-USD')).toEqual([]);
    expect(feedProtocol('exchange', ['level2_batch']).resubscribeBook('SOL-USD')).toEqual([
      { type: 'unsubscribe', product_ids: ['SOL-USD'], channels: ['level2_batch'] },
      { type: 'subscribe', product_ids: ['SOL-USD'], channels: ['level2_batch'] },
    ]);
    expect(feedProtocol('advanced', ['ticker']).feed).toBe('coinbase-at');
  });
});
