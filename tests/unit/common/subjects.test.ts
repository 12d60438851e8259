import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FEEDS,
  NORM_KINDS,
  fnv1a32,
  normMsgId,
  normSubject,
  parseNormSubject,
  parseRawSubject,
  rawControlSubject,
  rawMsgId,
  rawShardFilter,
  rawSubject,
  shardOf,
} from '../../../services/common/subjects.js';

const productArb = fc
  .tuple(fc.stringMatching(/^[A-Z0-9]{1,8}$/), fc.stringMatching(/^[A-Z0-9]{1,6}$/))
  .map(([b, q]) => `${b}-${q}`);

describe('shardOf', () => {
  it('matches nats-server partition() for the documented products at 8 shards', () => {
    expect(shardOf('BTC-USD', 8)).toBe(1);
    expect(shardOf('ETH-USD', 8)).toBe(5);
    expect(shardOf('SOL-USD', 8)).toBe(4);
    expect(shardOf('DOGE-USD', 8)).toBe(5);
    expect(shardOf('ADA-USD', 8)).toBe(2);
  });

  it('is FNV-1a 32 (published test vectors)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('is stable, in range, and a function of the product alone', () => {
    fc.assert(
      fc.property(productArb, fc.integer({ min: 1, max: 64 }), (p, n) => {
        const s = shardOf(p, n);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThan(n);
        expect(shardOf(p, n)).toBe(s);
        expect(s).toBe(fnv1a32(p) % n);
        expect(shardOf(p, 1)).toBe(0);
      }),
    );
  });

  it('rejects a non-positive shard count', () => {
    expect(() => shardOf('BTC-USD', 0)).toThrow(RangeError);
  });
});

describe('subjects', () => {
  it('raw product subjects round-trip and fall under their shard filter', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FEEDS),
        productArb,
        fc.integer({ min: 1, max: 32 }),
        (feed, p, n) => {
          const shard = shardOf(p, n);
          const subject = rawSubject(feed, shard, p);
          expect(parseRawSubject(subject)).toEqual({ kind: 'product', feed, shard, product: p });
          const filter = rawShardFilter(shard).replace('*', feed).replace('>', p);
          expect(filter).toBe(subject);
        },
      ),
    );
  });

  it('raw control subjects round-trip', () => {
    expect(parseRawSubject(rawControlSubject('coinbase', 'subscriptions'))).toEqual({
      kind: 'control',
      feed: 'coinbase',
      type: 'subscriptions',
    });
  });

  it('normalized subjects round-trip', () => {
    fc.assert(
      fc.property(productArb, fc.constantFrom(...NORM_KINDS), (p, kind) => {
        expect(parseNormSubject(normSubject('coinbase', p, kind))).toEqual({
          venue: 'coinbase',
          product: p,
          kind,
        });
      }),
    );
  });

  it('refuses tokens that would inject wildcards or extra levels', () => {
    for (const bad of ['BTC.USD', 'BTC-*', '>', 'BTC USD', '']) {
      expect(() => rawSubject('coinbase', 0, bad)).toThrow(/invalid product token/);
    }
    expect(parseRawSubject('md.raw.nope.0.BTC-USD')).toBeUndefined();
    expect(parseRawSubject('md.raw.coinbase.01.BTC-USD')).toBeUndefined();
    expect(parseRawSubject('md.raw.coinbase.0.BTC-USD.x')).toBeUndefined();
    expect(parseNormSubject('md.norm.coinbase.BTC-USD.candle')).toBeUndefined();
  });

  it('builds the msg ids of the contracts', () => {
    expect(rawMsgId.trade('coinbase', 'BTC-USD', '42')).toBe('coinbase:BTC-USD:trade:42');
    expect(rawMsgId.ticker('coinbase', 'BTC-USD', '7')).toBe('coinbase:BTC-USD:ticker:7');
    expect(rawMsgId.connScoped('coinbase-at', 'BTC-USD', 'l2_data', 'ab', 3)).toBe(
      'coinbase-at:BTC-USD:l2_data:ab:3',
    );
    expect(normMsgId.output('coinbase', 'ETH-USD', 'book', 1200, 0)).toBe(
      'coinbase:ETH-USD:book:1200:0',
    );
    expect(normMsgId.gap('coinbase', 'ETH-USD', '10', '12')).toBe('coinbase:ETH-USD:gap:10-12');
  });
});
