import { describe, expect, it } from 'vitest';
import type { Normalized } from '../../../services/common/schemas/normalized.js';
import { channelOf, messageFrame } from '../../../services/gateway/core/frames.js';
import { ProductState, type FeedMessage } from '../../../services/gateway/core/product-state.js';

const common = {
  v: 1 as const,
  venue: 'coinbase' as const,
  product: 'BTC-USD',
  seq: 1,
  time: 't',
  recv_us: 0,
  flags: [],
};
function fm(offset: number, msg: Normalized): FeedMessage {
  return {
    offset,
    product: msg.product,
    kind: msg.type,
    channel: msg.type === 'status' ? undefined : channelOf(msg.type),
    atMs: 0,
    pubUs: undefined,
    frame: messageFrame(msg, offset, JSON.stringify(msg)),
  };
}
const trade = (id: number) => ({
  ...common,
  type: 'trade' as const,
  trade_id: String(id),
  price: '1',
  size: '1',
  side: 'buy' as const,
});
const ticker = (price: string) => ({
  ...common,
  type: 'ticker' as const,
  price,
  best_bid: '1',
  best_ask: '2',
});

describe('ProductState snapshots', () => {
  it('are the latest ticker/book and the last N trades, keyed by their offsets', () => {
    const st = new ProductState('BTC-USD', {
      ringCapacity: 100,
      ringMaxAgeMs: 1e9,
      snapshotTrades: 2,
    });
    expect(st.snapshot('ticker', 7)).toEqual({ offset: 7, dataJson: 'null' });
    expect(st.snapshot('trades', 7)).toEqual({ offset: 7, dataJson: '[]' });
    st.apply(fm(8, ticker('1')));
    st.apply(fm(9, trade(1)));
    st.apply(fm(10, trade(2)));
    st.apply(fm(11, trade(3)));
    st.apply(fm(12, ticker('2')));
    expect(st.snapshot('ticker', 20)).toEqual({
      offset: 12,
      dataJson: JSON.stringify(ticker('2')),
    });
    const trades = st.snapshot('trades', 20);
    expect(trades.offset).toBe(11);
    expect(JSON.parse(trades.dataJson)).toEqual([trade(2), trade(3)]);
    expect(st.ring.after(8)?.map((m) => m.offset)).toEqual([9, 10, 11, 12]);
  });

  it('seeds (direct get at start) never replace newer state, and stay out of the ring', () => {
    const st = new ProductState('BTC-USD', {
      ringCapacity: 10,
      ringMaxAgeMs: 1e9,
      snapshotTrades: 5,
      floor: 0,
    });
    st.seed(fm(3, ticker('old')));
    expect(st.snapshot('ticker', 3).offset).toBe(3);
    expect(st.ring.size).toBe(0);
    st.apply(fm(5, ticker('new')));
    st.seed(fm(4, ticker('older')));
    expect(st.snapshot('ticker', 5).offset).toBe(5);
  });
});
