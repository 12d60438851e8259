import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ProductProcessor,
  type FrameResult,
  type RawFrame,
} from '../../../services/normalizer/core/product-processor.js';
import { PROCESSOR_OPTS } from './processor-options.js';

/** The product processor fed Advanced Trade frames (multi-trade frames, connection order). */
const CONN = 'a'.repeat(32);
const OPTS = PROCESSOR_OPTS;
const TS = '2024-10-04T07:13:31.158696693Z';

let src = 0;
let seqNum = 0;
function at(channel: string, events: unknown[], connSeq: number, connId = CONN): RawFrame {
  src++;
  return {
    feed: 'coinbase-at',
    src,
    recvUs: 1_728_025_000_000_000 + src,
    connId,
    connSeq,
    type: channel,
    text: JSON.stringify({ channel, timestamp: TS, sequence_num: seqNum++, events }),
  };
}
const trade = (id: number, side = 'SELL') => ({
  product_id: 'BTC-USD',
  trade_id: String(id),
  price: '100.5',
  size: '0.1',
  time: '2024-10-04T07:13:31.088388Z',
  side,
});
/** Newest first, as the feed lists them. */
const trades = (ids: number[], type = 'update') => [
  { type, trades: [...ids].sort((a, b) => b - a).map((id) => trade(id)) },
];
const marker = {
  type: 'lf_feed',
  state: 'connected',
  conn: CONN,
  product_id: 'BTC-USD',
};
const markerFrame = (connSeq = 1, connId = CONN): RawFrame => {
  src++;
  return {
    feed: 'coinbase-at',
    src,
    recvUs: 1,
    connId,
    connSeq,
    type: 'lf_feed',
    text: JSON.stringify({ ...marker, conn: connId }),
  };
};
const tickerEvents = (price: string) => [
  {
    type: 'update',
    tickers: [
      { product_id: 'BTC-USD', price, best_bid: '100.4', best_ask: '100.6', type: 'ticker' },
    ],
  },
];
const tradeIds = (r: FrameResult) =>
  r.outputs.flatMap((o) => (o.message.type === 'trade' ? [o.message.trade_id] : []));

function fresh(): ProductProcessor {
  src = 0;
  seqNum = 0;
  const p = new ProductProcessor('BTC-USD', OPTS);
  p.onFrame(markerFrame(), 0);
  return p;
}

describe('ProductProcessor with Advanced Trade frames', () => {
  it('emits a frame’s trades oldest first with the taker side', () => {
    const p = fresh();
    const r = p.onFrame(at('market_trades', trades([1, 2, 3]), 2), 0);
    expect(tradeIds(r)).toEqual(['1', '2', '3']);
    expect(r.outputs[0]?.message).toMatchObject({ side: 'buy', venue: 'coinbase' });
    expect(r.held).toBe(false);
  });

  it('a frame whose trades wait behind a missing id is held until every one of them is out', () => {
    const p = fresh();
    p.onFrame(at('market_trades', trades([1]), 2), 0);
    const a = p.onFrame(at('market_trades', trades([3, 5]), 3), 10);
    expect(a.held).toBe(true);
    expect(tradeIds(a)).toEqual([]);
    const aSrc = src;
    // 2 arrives: 3 goes out, 5 still waits for 4, so the frame is not released yet.
    const b = p.onFrame(at('market_trades', trades([2]), 4), 20);
    expect(tradeIds(b)).toEqual(['2', '3']);
    expect(b.released).toEqual([]);
    // 4 arrives: 5 goes out and its frame is released.
    const c = p.onFrame(at('market_trades', trades([4]), 5), 30);
    expect(tradeIds(c)).toEqual(['4', '5']);
    expect(c.released).toEqual([aSrc]);
    expect(c.outputs.find((o) => o.msgId.endsWith(':trade:5'))?.ackFor).toBe(aSrc);
  });

  it('the window releases a held frame with the gap announced', () => {
    const p = fresh();
    p.onFrame(at('market_trades', trades([1]), 2), 0);
    p.onFrame(at('market_trades', trades([4, 5]), 3), 0);
    const heldSrc = src;
    const t = p.tick(1_000);
    expect(t.outputs.map((o) => o.message.type)).toEqual(['status', 'trade', 'trade']);
    expect(t.outputs[0]?.message).toMatchObject({ event: 'gap', from: '2', to: '3' });
    expect(t.released).toEqual([heldSrc]);
  });

  it('a market_trades snapshot after a reconnect: trades already published are dropped, the rest fill in', () => {
    const p = fresh();
    p.onFrame(at('market_trades', trades([10, 11, 12]), 2), 0);
    const other = 'b'.repeat(32);
    p.onFrame(markerFrame(1, other), 10);
    const r = p.onFrame(
      at('market_trades', trades([9, 10, 11, 12, 13, 14], 'snapshot'), 2, other),
      20,
    );
    expect(tradeIds(r)).toEqual(['13', '14']);
    expect(r.events.filter((e) => e.kind === 'duplicate_trade')).toHaveLength(4);
    expect(r.outputs.find((o) => o.message.type === 'status')).toBeUndefined();
  });

  it('tickers are ordered by (connection, sequence_num): a late one is stale, a new connection starts over', () => {
    const p = fresh();
    seqNum = 10;
    expect(p.onFrame(at('ticker', tickerEvents('1'), 2), 0).outputs).toHaveLength(1);
    seqNum = 8;
    const late = p.onFrame(at('ticker', tickerEvents('2'), 3), 0);
    expect(late.outputs).toEqual([]);
    expect(late.events).toContainEqual({ kind: 'stale_ticker' });
    const other = 'c'.repeat(32);
    p.onFrame(markerFrame(1, other), 0);
    seqNum = 0;
    const next = p.onFrame(at('ticker', tickerEvents('3'), 2, other), 0);
    expect(next.outputs.map((o) => o.message)).toEqual([
      expect.objectContaining({ type: 'ticker', price: '3', seq: 2 }),
    ]);
    expect(next.outputs[0]?.message).not.toHaveProperty('sequence');
  });

  it('every Advanced Trade frame counts in Lf-Conn-Seq: a missing one invalidates the book', () => {
    const p = fresh();
    const snap = [
      {
        type: 'snapshot',
        product_id: 'BTC-USD',
        updates: [
          { side: 'bid', price_level: '100', new_quantity: '1' },
          { side: 'offer', price_level: '101', new_quantity: '1' },
        ],
      },
    ];
    p.onFrame(at('l2_data', snap, 2), 0);
    expect(p.bookValid).toBe(true);
    p.onFrame(at('market_trades', trades([1]), 3), 0);
    const r = p.onFrame(at('ticker', tickerEvents('1'), 5), 0);
    expect(p.bookValid).toBe(false);
    expect(r.outputs.map((o) => o.message)).toContainEqual(
      expect.objectContaining({ event: 'book_invalid', reason: 'missing_frame' }),
    );
  });

  it('property: any split of trades into frames, any order within a window: ids increasing, each frame released once, never before its last trade is out', () => {
    fc.assert(
      fc.property(
        // Ids 1..n, locally shuffled, some dropped, cut into frames of 1..6 trades.
        fc.integer({ min: 1, max: 60 }).chain((n) =>
          fc.record({
            order: fc.shuffledSubarray(
              Array.from({ length: n }, (_, i) => i + 1),
              { minLength: 1, maxLength: n },
            ),
            cuts: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: n, maxLength: n }),
            gaps: fc.array(fc.integer({ min: 0, max: 400 }), { minLength: n, maxLength: n }),
          }),
        ),
        ({ order, cuts, gaps }) => {
          const p = fresh();
          const frames: number[][] = [];
          for (let i = 0, k = 0; i < order.length; k++) {
            const size = cuts[k] ?? 1;
            frames.push(order.slice(i, i + size));
            i += size;
          }
          const emitted: string[] = [];
          const tradesOf = new Map<number, number[]>();
          const heldSrcs: number[] = [];
          const released: number[] = [];
          // Every id up to `resolved` was emitted, announced missing, or refused as a repeat.
          let resolved = 0;
          const check = (r: FrameResult) => {
            for (const o of r.outputs) {
              const m = o.message;
              if (m.type === 'trade') resolved = Math.max(resolved, Number(m.trade_id));
              if (m.type === 'status' && m.event === 'gap')
                resolved = Math.max(resolved, Number(m.to));
            }
            emitted.push(...tradeIds(r));
            for (const s of r.released) {
              released.push(s);
              for (const id of tradesOf.get(s) ?? []) expect(id).toBeLessThanOrEqual(resolved);
            }
          };
          let now = 0;
          for (const [i, ids] of frames.entries()) {
            now += gaps[i] ?? 0;
            const r = p.onFrame(at('market_trades', trades(ids), i + 2), now);
            tradesOf.set(src, ids);
            if (r.held) heldSrcs.push(src);
            check(r);
          }
          check(p.tick(now + 10_000));
          expect(p.heldTrades).toBe(0);
          const asNumbers = emitted.map(Number);
          for (let i = 1; i < asNumbers.length; i++)
            expect((asNumbers[i] ?? 0) > (asNumbers[i - 1] ?? 0)).toBe(true);
          expect(new Set(emitted).size).toBe(emitted.length);
          expect([...released].sort((a, b) => a - b)).toEqual(heldSrcs);
        },
      ),
      { numRuns: 300 },
    );
  });
});
