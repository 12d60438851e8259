import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHANNELS, type Channel } from '../../../services/gateway/core/protocol.js';
import { SubscriptionRegistry } from '../../../services/gateway/core/subscriptions.js';

const CONNS = ['a', 'b', 'c'] as const;
const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'] as const;

type Op = {
  kind: 'add' | 'remove' | 'removeAll';
  conn: string;
  channels: Channel[];
  products: string[];
};

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('add', 'add', 'remove', 'removeAll'),
  conn: fc.constantFrom(...CONNS),
  channels: fc.array(fc.constantFrom(...CHANNELS), { maxLength: 4 }),
  products: fc.array(fc.constantFrom(...PRODUCTS), { maxLength: 4 }),
});

const key = (conn: string, channel: string, product: string) => `${conn}|${channel}|${product}`;

describe('SubscriptionRegistry', () => {
  it('behaves like a Set of (connection, channel, product) under any sequence of operations', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const reg = new SubscriptionRegistry<string>();
        const model = new Set<string>();
        for (const op of ops) {
          if (op.kind === 'add') {
            const added = reg.add(op.conn, op.channels, op.products);
            const expected = new Set<string>();
            for (const p of op.products)
              for (const c of op.channels) {
                const k = key(op.conn, c, p);
                if (!model.has(k)) expected.add(k);
                model.add(k);
              }
            expect(new Set(added.map(([c, p]) => key(op.conn, c, p)))).toEqual(expected);
            expect(added).toHaveLength(expected.size);
          } else {
            const removed =
              op.kind === 'remove'
                ? reg.remove(op.conn, op.channels, op.products)
                : reg.removeAll(op.conn);
            const expected = [...model].filter((k) => {
              const [conn, c, p] = k.split('|');
              return (
                conn === op.conn &&
                (op.kind === 'removeAll' ||
                  (op.channels.includes(c as Channel) && op.products.includes(p ?? '')))
              );
            });
            for (const k of expected) model.delete(k);
            expect(removed.map(([c, p]) => key(op.conn, c, p)).sort()).toEqual(expected.sort());
          }
          // Every view agrees with the model.
          expect(reg.size).toBe(model.size);
          for (const conn of CONNS) {
            const mine = [...model].filter((k) => k.startsWith(`${conn}|`));
            expect(reg.count(conn)).toBe(mine.length);
            for (const p of PRODUCTS) {
              const anyChannel = mine.some((k) => k.endsWith(`|${p}`));
              expect(reg.productSubscribers(p).has(conn)).toBe(anyChannel);
              for (const c of CHANNELS) {
                const want = model.has(key(conn, c, p));
                expect(reg.has(conn, c, p)).toBe(want);
                expect(reg.subscribers(p, c).has(conn)).toBe(want);
              }
            }
          }
          const byChannel = reg.countsByChannel();
          for (const c of CHANNELS) {
            const n = [...model].filter((k) => k.split('|')[1] === c).length;
            expect(byChannel.get(c) ?? 0).toBe(n);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reports the resulting set of a connection per product', () => {
    const reg = new SubscriptionRegistry<string>();
    reg.add('a', ['ticker', 'book'], ['BTC-USD']);
    reg.add('a', ['trades'], ['ETH-USD']);
    reg.remove('a', ['book'], ['BTC-USD']);
    expect([...reg.of('a')].map(([p, s]) => [p, [...s]])).toEqual([
      ['BTC-USD', ['ticker']],
      ['ETH-USD', ['trades']],
    ]);
  });
});
