import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../../services/gateway/core/backpressure.js';
import {
  messageFrame,
  slowGapFrame,
  type OutFrame,
} from '../../../services/gateway/core/frames.js';
import { GapFrameSchema, UpdateFrameSchema } from '../../../services/gateway/core/protocol.js';
import { splitWsFrames } from '../../../services/gateway/core/ws-frame.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD'] as const;
const decode = (wire: Buffer) => {
  const [payload, ...rest] = splitWsFrames(wire);
  expect(rest).toHaveLength(0);
  return JSON.parse(payload?.toString() ?? '') as Record<string, unknown>;
};
type Kind = 'ticker' | 'book' | 'trade' | 'other';

function frame(kind: Kind, product: string, offset: number, tradeId: number): OutFrame {
  const common = {
    v: 1 as const,
    venue: 'coinbase' as const,
    product,
    seq: offset,
    time: 't',
    recv_us: 0,
    flags: [],
  };
  switch (kind) {
    case 'trade': {
      const m = {
        ...common,
        type: 'trade' as const,
        trade_id: String(tradeId),
        price: '1',
        size: '1',
        side: 'buy' as const,
      };
      return messageFrame(m, offset, JSON.stringify(m));
    }
    case 'ticker': {
      const m = { ...common, type: 'ticker' as const, price: '1', best_bid: '1', best_ask: '2' };
      return messageFrame(m, offset, JSON.stringify(m));
    }
    case 'book': {
      const m = { ...common, type: 'book' as const, bids: [], asks: [] };
      return messageFrame(m, offset, JSON.stringify(m));
    }
    case 'other': {
      const m = { ...common, type: 'status' as const, event: 'feed_ok' as const, reason: 'x' };
      return messageFrame(m, offset, JSON.stringify(m));
    }
  }
}

type Op =
  | { op: 'push'; kind: Kind; product: number }
  | { op: 'degrade' }
  | { op: 'recover' }
  | { op: 'take' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant('push' as const),
      kind: fc.constantFrom<Kind>('ticker', 'book', 'trade', 'trade', 'other'),
      product: fc.integer({ min: 0, max: 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'degrade' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'recover' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'take' as const }) },
);

interface Pushed {
  kind: Kind;
  product: string;
  offset: number;
  tradeId: number;
  batch: number;
}

describe('Outbox', () => {
  it('conflation keeps the newest value; dropped trades are exactly the gaps; order holds', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const box = new Outbox(slowGapFrame);
        const pushed: Pushed[] = [];
        const out: { batch: number; f: Record<string, unknown> }[] = [];
        let offset = 0;
        let tradeId = 100;
        let batch = 0;
        const takeAll = () => {
          for (const b of box.take().frames) out.push({ batch, f: decode(b) });
          batch++;
          expect(box.length).toBe(0);
          expect(box.bytes).toBe(0);
        };
        for (const op of ops) {
          if (op.op === 'push') {
            const product = PRODUCTS[op.product] ?? 'BTC-USD';
            offset++;
            const id = op.kind === 'trade' ? tradeId++ : 0;
            box.push(frame(op.kind, product, offset, id));
            pushed.push({ kind: op.kind, product, offset, tradeId: id, batch });
          } else if (op.op === 'degrade') box.degrade();
          else if (op.op === 'recover') box.recover();
          else takeAll();
          expect(box.bytes).toBeGreaterThanOrEqual(0);
        }
        takeAll();

        const delivered = new Set(
          out.filter((o) => o.f.op !== 'gap').map((o) => o.f.offset as number),
        );
        // Every status frame is delivered, in order.
        const others = pushed.filter((p) => p.kind === 'other').map((p) => p.offset);
        expect(out.filter((o) => o.f.op === 'status').map((o) => o.f.offset)).toEqual(others);
        // Non-gap frames come out in offset order.
        const offs = out.filter((o) => o.f.op !== 'gap').map((o) => o.f.offset as number);
        expect(offs).toEqual([...offs].sort((a, b) => a - b));
        // Conflation: per batch and key, the newest pushed ticker/book is delivered.
        for (const b of new Set(pushed.map((p) => p.batch))) {
          for (const kind of ['ticker', 'book'] as const) {
            for (const product of PRODUCTS) {
              const mine = pushed.filter(
                (p) => p.batch === b && p.kind === kind && p.product === product,
              );
              const newest = mine.at(-1);
              if (newest !== undefined) expect(delivered.has(newest.offset)).toBe(true);
            }
          }
        }
        // Trades: each one is delivered or inside exactly one slow_client gap of its product.
        const gaps = out.filter((o) => o.f.op === 'gap').map((o) => GapFrameSchema.parse(o.f));
        for (const t of pushed.filter((p) => p.kind === 'trade')) {
          const covering = gaps.filter(
            (g) =>
              g.product === t.product &&
              (g.from_offset ?? 0) <= t.offset &&
              t.offset <= (g.to_offset ?? -1),
          );
          expect(covering.length + (delivered.has(t.offset) ? 1 : 0)).toBe(1);
        }
        // A gap's ids are the first and last dropped trades of its offset range.
        for (const g of gaps) {
          const inside = pushed.filter(
            (p) =>
              p.kind === 'trade' &&
              p.product === g.product &&
              p.offset >= (g.from_offset ?? 0) &&
              p.offset <= (g.to_offset ?? 0),
          );
          expect(g.from).toBe(inside[0]?.tradeId);
          expect(g.to).toBe(inside.at(-1)?.tradeId);
          expect(g.offset).toBe(g.to_offset);
          expect(inside.every((p) => !delivered.has(p.offset))).toBe(true);
        }
        // Updates parse with the protocol schema; conflated ones say so.
        for (const o of out.filter((x) => x.f.op === 'update')) UpdateFrameSchema.parse(o.f);
      }),
      { numRuns: 500 },
    );
  });

  it('replaces queued trades with one gap at the first one, conflates tickers to the end', () => {
    const box = new Outbox(slowGapFrame);
    box.push(frame('trade', 'BTC-USD', 1, 500));
    box.push(frame('ticker', 'BTC-USD', 2, 0));
    box.push(frame('trade', 'BTC-USD', 3, 501));
    box.push(frame('other', 'BTC-USD', 4, 0));
    expect(box.degrade()).toEqual({ conflated: 0, dropped: 2, gapsOpened: 1 });
    expect(box.push(frame('ticker', 'BTC-USD', 5, 0))).toEqual({
      conflated: true,
      dropped: false,
      gapOpened: false,
    });
    expect(box.push(frame('trade', 'BTC-USD', 6, 502)).dropped).toBe(true);
    const got = box.take().frames.map(decode);
    expect(got.map((f) => [f.op, f.offset, f.conflated])).toEqual([
      ['gap', 6, undefined],
      ['status', 4, undefined],
      ['update', 5, true],
    ]);
    expect(got[0]).toMatchObject({
      from: 500,
      to: 502,
      from_offset: 1,
      to_offset: 6,
      reason: 'slow_client',
    });
  });

  it('take(maxBytes) stops once the budget is used, but always moves at least one frame', () => {
    const box = new Outbox(slowGapFrame);
    for (let i = 1; i <= 10; i++) box.push(frame('trade', 'BTC-USD', i, i));
    const first = box.take(1);
    expect(first.frames).toHaveLength(1);
    const size = first.frames[0]?.length ?? 0;
    expect(box.take(size * 3).frames).toHaveLength(3);
    expect(box.length).toBe(6);
  });
});
