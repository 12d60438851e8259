import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BookSide } from '../../../services/sim/core/book.js';
import { fixed } from '../../../services/sim/core/decimal.js';
import { Market } from '../../../services/sim/core/market.js';
import { productSpec } from '../../../services/sim/core/products.js';
import { Rng } from '../../../services/sim/core/rng.js';

const T0 = 1_780_000_000_000_000;

function market(seed: number, levels = 50, product = 'BTC-USD'): Market {
  return new Market({ spec: productSpec(product), rng: new Rng(seed), levels, nowUs: T0 });
}

type Json = Record<string, unknown>;
const parse = (raw: string) => JSON.parse(raw) as Json;

/** A client-side book built from a snapshot and l2updates (sizes absolute, zero deletes). */
class ClientBook {
  readonly bids = new Map<string, string>();
  readonly asks = new Map<string, string>();
  snapshot(f: Json): void {
    this.bids.clear();
    this.asks.clear();
    for (const [p, s] of f.bids as [string, string][]) this.bids.set(p, s);
    for (const [p, s] of f.asks as [string, string][]) this.asks.set(p, s);
  }
  update(f: Json): void {
    for (const [side, p, s] of f.changes as [string, string, string][]) {
      const m = side === 'buy' ? this.bids : this.asks;
      if (Number(s) === 0) m.delete(p);
      else m.set(p, s);
    }
  }
}

describe('synthetic market', () => {
  it('keeps best bid < best ask and trade ids contiguous, over many seeds and steps', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.constantFrom(3, 10, 50, 400),
        (seed, levels) => {
          const m = market(seed, levels);
          let lastId = m.lastTrade.tradeId;
          let lastSeq = m.sequence;
          for (let i = 0; i < 2000; i++) {
            const r = m.step(T0 + i * 100);
            const bid = m.bestBid();
            const ask = m.bestAsk();
            expect(bid).toBeDefined();
            expect(ask).toBeDefined();
            expect(bid ?? 0).toBeLessThan(ask ?? 0);
            for (const t of r.trades) {
              expect(t.tradeId).toBe(lastId + 1);
              lastId = t.tradeId;
              const seq = parse(t.raw).sequence as number;
              expect(seq).toBeGreaterThan(lastSeq);
              lastSeq = seq;
            }
          }
          expect(m.sequence).toBeGreaterThanOrEqual(lastSeq);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('prints trades at the best bid/ask, with match.side the MAKER side and ticker.side the taker side', () => {
    const m = market(42);
    let checked = 0;
    for (let i = 0; i < 5000; i++) {
      const bid = m.bestBid() ?? 0;
      const ask = m.bestAsk() ?? 0;
      const r = m.step(T0 + i);
      const first = r.trades[0];
      if (first === undefined) continue;
      const match = parse(first.raw);
      // A maker "sell" is a resting ask: the taker bought at the best ask (2026 capture:
      // side "sell" at 80691.53 = the snapshot's best ask).
      expect(match.price).toBe(fixed(match.side === 'sell' ? ask : bid, 2));
      const ticker = parse(r.ticker ?? '{}');
      expect(ticker.side).toBe(match.side === 'sell' ? 'buy' : 'sell');
      checked++;
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('emits one ticker per taker cascade that agrees with the last match and the book', () => {
    const m = market(7, 20);
    let cascades = 0;
    for (let i = 0; i < 5000; i++) {
      const r = m.step(T0 + i);
      if (r.trades.length === 0) {
        expect(r.ticker).toBeUndefined();
        continue;
      }
      if (r.trades.length > 1) cascades++;
      const last = parse(r.trades[r.trades.length - 1]?.raw ?? '{}');
      const ticker = parse(r.ticker ?? '{}');
      expect(ticker.trade_id).toBe(last.trade_id);
      expect(ticker.sequence).toBe(last.sequence);
      expect(ticker.price).toBe(last.price);
      expect(ticker.last_size).toBe(last.size);
      expect(ticker.time).toBe(last.time);
      expect(ticker.best_bid).toBe(fixed(m.bids.level(0)?.[0] ?? -1, 2));
      expect(ticker.best_ask).toBe(fixed(m.asks.level(0)?.[0] ?? -1, 2));
      expect(ticker.best_bid_size).toBe(fixed(m.bids.level(0)?.[1] ?? -1, 8));
      expect(ticker.best_ask_size).toBe(fixed(m.asks.level(0)?.[1] ?? -1, 8));
      for (const k of ['open_24h', 'high_24h', 'low_24h', 'volume_24h', 'volume_30d'])
        expect(typeof ticker[k]).toBe('string');
      expect(Number(ticker.low_24h)).toBeLessThanOrEqual(Number(ticker.price));
      expect(Number(ticker.high_24h)).toBeGreaterThanOrEqual(Number(ticker.price));
    }
    expect(cascades).toBeGreaterThan(0);
  });

  it('snapshot + l2updates rebuild exactly the market book (what a client sees is the truth)', () => {
    for (const seed of [1, 2, 3]) {
      const m = market(seed, 30);
      for (let i = 0; i < 300; i++) m.step(T0 + i);
      m.flushL2(T0 + 300); // changes before the snapshot are already in it
      const client = new ClientBook();
      client.snapshot(parse(m.snapshot()));
      for (let i = 0; i < 3000; i++) {
        m.step(T0 + 1000 + i);
        if (m.pendingChanges >= 16 || i % 37 === 0) {
          const raw = m.flushL2(T0 + 1000 + i);
          if (raw !== undefined) client.update(parse(raw));
        }
      }
      const last = m.flushL2(T0 + 10_000);
      if (last !== undefined) client.update(parse(last));
      const truth = new ClientBook();
      truth.snapshot(parse(m.snapshot()));
      expect(client.bids).toEqual(truth.bids);
      expect(client.asks).toEqual(truth.asks);
    }
  });

  it('spells a deleted level with several zeros, all numerically zero (PROTOCOL.md §0.1)', () => {
    const m = new Market({
      spec: productSpec('ETH-USD'),
      rng: new Rng(5),
      levels: 20,
      nowUs: T0,
      zeroVariety: 0.5,
    });
    const zeros = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      m.step(T0 + i);
      const raw = m.flushL2(T0 + i);
      if (raw === undefined) continue;
      for (const [, , size] of parse(raw).changes as [string, string, string][])
        if (Number(size) === 0) zeros.add(size);
    }
    expect(zeros.size).toBeGreaterThan(2);
  });

  it('is reproducible: the same seed gives the same frames', () => {
    const run = (seed: number) => {
      const m = market(seed);
      const out: string[] = [m.snapshot()];
      for (let i = 0; i < 500; i++) {
        const r = m.step(T0 + i);
        out.push(...r.trades.map((t) => t.raw), r.ticker ?? '', m.flushL2(T0 + i) ?? '');
      }
      return out;
    };
    expect(run(99)).toEqual(run(99));
    expect(run(99)).not.toEqual(run(100));
  });

  it('builds a full-depth BTC-USD book whose snapshot is over 6 MB', () => {
    const m = market(1, 125_000);
    const snap = m.snapshot();
    expect(snap.length).toBeGreaterThanOrEqual(6_000_000);
    const f = parse(snap);
    expect((f.bids as unknown[]).length).toBe(125_000);
    const [bestBid] = (f.bids as [string, string][])[0] ?? [];
    const [bestAsk] = (f.asks as [string, string][])[0] ?? [];
    expect(Number(bestBid)).toBeLessThan(Number(bestAsk));
  });
});

describe('BookSide', () => {
  it('behaves like a sorted Map model, best level first', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'buy' | 'sell'>('buy', 'sell'),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 5 })), {
          maxLength: 200,
        }),
        (side, ops) => {
          const book = new BookSide(side);
          const model = new Map<number, number>();
          for (const [price, size] of ops) {
            book.set(price, size);
            if (size === 0) model.delete(price);
            else model.set(price, size);
          }
          const expected = [...model].sort((a, b) => (side === 'buy' ? b[0] - a[0] : a[0] - b[0]));
          expect([...book.levels()]).toEqual(expected);
          expect(book.best()).toBe(expected[0]?.[0]);
          expect(book.worst()).toBe(expected[expected.length - 1]?.[0]);
        },
      ),
    );
  });
});
