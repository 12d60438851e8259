import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  L2Book,
  type BookChange,
  type PriceLevel,
} from '../../../services/normalizer/core/book.js';

import {
  ZEROS,
  changeArb,
  levelArb,
  modelApply,
  modelCrossed,
  modelTop,
  type Model,
} from './book-model.js';

describe('L2Book examples', () => {
  it('is invalid before its first snapshot', () => {
    const book = new L2Book();
    expect(book.valid).toBe(false);
    expect(book.invalidReason).toBe('no_snapshot');
    const r = book.applySnapshot([['100', '1']], [['101', '1']]);
    expect(r).toMatchObject({ valid: true, resynced: true, invalidated: undefined });
  });

  it('orders numerically, keeps the strings received, and "100.50" is the level "100.5"', () => {
    const book = new L2Book();
    book.applySnapshot(
      [
        ['99.9', '1'],
        ['100.50', '2.00000000'],
        ['9.99', '3'],
      ],
      [
        ['101', '1'],
        ['1000', '1'],
        ['100.6', '1'],
      ],
    );
    expect(book.top(3)).toEqual({
      bids: [
        ['100.50', '2.00000000'],
        ['99.9', '1'],
        ['9.99', '3'],
      ],
      asks: [
        ['100.6', '1'],
        ['101', '1'],
        ['1000', '1'],
      ],
    });
    book.applyChanges([['buy', '100.5', '4']]);
    expect(book.top(1).bids).toEqual([['100.5', '4']]);
    expect(book.levelCount()).toEqual({ bids: 3, asks: 3 });
  });

  it('deletes a level for every spelling of zero (PROTOCOL.md §0.1)', () => {
    for (const zero of ZEROS) {
      const book = new L2Book();
      book.applySnapshot(
        [
          ['100.00', '1'],
          ['99', '1'],
        ],
        [['101', '1']],
      );
      const r = book.applyChanges([['buy', '100', zero]]);
      expect(r.topChanged, zero).toBe(true);
      expect(book.top(5).bids, zero).toEqual([['99', '1']]);
    }
  });

  it('deleting an absent level changes nothing; zero-size snapshot levels are skipped', () => {
    const book = new L2Book();
    book.applySnapshot([['1', '0.000']], [['2', '1']]);
    expect(book.levelCount()).toEqual({ bids: 0, asks: 1 });
    expect(book.applyChanges([['buy', '5', '0']])).toMatchObject({
      topChanged: false,
      valid: true,
    });
  });

  it('a crossed frame invalidates the book until the next clean snapshot', () => {
    const book = new L2Book();
    book.applySnapshot([['100', '1']], [['101', '1']]);
    const r = book.applyChanges([['buy', '101', '1']]);
    expect(r).toMatchObject({ valid: false, invalidated: 'crossed' });
    expect(book.isCrossed()).toBe(true);
    // Already invalid: not announced twice.
    expect(book.applyChanges([['sell', '102', '1']]).invalidated).toBeUndefined();
    expect(book.applySnapshot([['100', '1']], [['101', '1']])).toMatchObject({
      valid: true,
      resynced: true,
    });
  });

  it('a frame that is crossed only in the middle is fine when it ends uncrossed', () => {
    const book = new L2Book();
    book.applySnapshot([['100', '1']], [['101', '1']]);
    const r = book.applyChanges([
      ['buy', '101', '1'],
      ['sell', '101', '0'],
      ['sell', '102', '1'],
    ]);
    expect(r).toMatchObject({ valid: true });
  });

  it('dropped levels (mapper count or refused here) invalidate, even in a snapshot', () => {
    const book = new L2Book();
    expect(book.applySnapshot([['1', '1']], [['2', '1']], 1)).toMatchObject({
      valid: false,
      resynced: false,
    });
    expect(book.invalidReason).toBe('dropped_levels');
    const other = new L2Book();
    other.applySnapshot([['1', '1']], [['2', '1']]);
    expect(other.applyChanges([['buy', '1', '0.-10000']])).toMatchObject({
      valid: false,
      invalidated: 'dropped_levels',
      dropped: 1,
    });
    expect(other.top(1).bids).toEqual([['1', '1']]);
  });

  it('a crossed snapshot is invalid; the caller can invalidate for its own reasons', () => {
    const book = new L2Book();
    expect(book.applySnapshot([['2', '1']], [['1', '1']])).toMatchObject({
      valid: false,
      invalidated: undefined,
    });
    expect(book.invalidReason).toBe('crossed');
    const ok = new L2Book();
    ok.applySnapshot([['1', '1']], [['2', '1']]);
    expect(ok.invalidate('too_large')).toBe('too_large');
    expect(ok.invalidate('again')).toBeUndefined();
    expect(ok.invalidReason).toBe('too_large');
  });

  it('reports topChanged false for changes below the published depth', () => {
    const book = new L2Book({ depth: 2 });
    book.applySnapshot(
      [
        ['10', '1'],
        ['9', '1'],
        ['8', '1'],
      ],
      [
        ['11', '1'],
        ['12', '1'],
        ['13', '1'],
      ],
    );
    expect(book.applyChanges([['buy', '7', '5']]).topChanged).toBe(false);
    expect(book.applyChanges([['sell', '13', '0']]).topChanged).toBe(false);
    expect(book.applyChanges([['sell', '12', '2']]).topChanged).toBe(true);
  });
});

describe('L2Book properties', () => {
  it('property: equals a Map model after any snapshot + updates; never crossed while valid', () => {
    fc.assert(
      fc.property(
        fc.array(levelArb, { maxLength: 40 }),
        fc.array(levelArb, { maxLength: 40 }),
        fc.array(fc.array(changeArb, { maxLength: 8 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 8 }),
        (snapBids, snapAsks, frames, depth) => {
          const book = new L2Book({ depth });
          const bids: Model = new Map();
          const asks: Model = new Map();
          for (const [p, s] of snapBids) modelApply(bids, p, s);
          for (const [p, s] of snapAsks) modelApply(asks, p, s);
          book.applySnapshot(snapBids, snapAsks);
          let valid = !modelCrossed(bids, asks);
          expect(book.valid).toBe(valid);
          for (const frame of frames as BookChange[][]) {
            const before = [modelTop(bids, true, depth), modelTop(asks, false, depth)];
            for (const [side, p, s] of frame) modelApply(side === 'buy' ? bids : asks, p, s);
            const r = book.applyChanges(frame);
            const crossed = modelCrossed(bids, asks);
            if (crossed) valid = false;
            expect(book.valid).toBe(valid);
            expect(book.isCrossed()).toBe(crossed);
            if (crossed) expect(book.valid).toBe(false);
            const after = [modelTop(bids, true, depth), modelTop(asks, false, depth)];
            if (JSON.stringify(before) !== JSON.stringify(after)) expect(r.topChanged).toBe(true);
          }
          expect(book.top(1000)).toEqual({
            bids: modelTop(bids, true, 1000),
            asks: modelTop(asks, false, 1000),
          });
          expect(book.top(depth)).toEqual({
            bids: modelTop(bids, true, depth),
            asks: modelTop(asks, false, depth),
          });
          expect(book.levelCount()).toEqual({ bids: bids.size, asks: asks.size });
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('property: a large book keeps order through many inserts and deletes (chunk splits/merges)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.boolean()), {
          minLength: 500,
          maxLength: 3000,
        }),
        (ops) => {
          const book = new L2Book();
          book.applySnapshot([], []);
          const model: Model = new Map();
          const changes: BookChange[] = ops.map(([cents, del]) => {
            const price = `${String(Math.floor(cents / 100))}.${String(cents % 100).padStart(2, '0')}`;
            return ['sell', price, del ? '0' : '1'];
          });
          for (const [, p, s] of changes) modelApply(model, p, s);
          book.applyChanges(changes);
          expect(book.top(5000).asks).toEqual(modelTop(model, false, 5000));
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('L2Book under heavy churn', () => {
  it('keeps order when most levels are deleted and re-added (chunks split and merge)', () => {
    const book = new L2Book();
    const price = (i: number) => `${String(1000 + i)}.5`;
    const all: PriceLevel[] = Array.from({ length: 2000 }, (_, i) => [price(i), '1']);
    book.applySnapshot(all, []);
    book.applyChanges(all.filter((_, i) => i % 37 !== 0).map(([p]) => ['buy', p, '0'] as const));
    const kept = all.filter((_, i) => i % 37 === 0).reverse();
    expect(book.top(5000).bids).toEqual(kept);
    book.applyChanges(all.filter((_, i) => i % 5 === 0).map(([p]) => ['buy', p, '2'] as const));
    const expected = all
      .map(([p], i): [string, string] | undefined =>
        i % 5 === 0 ? [p, '2'] : i % 37 === 0 ? [p, '1'] : undefined,
      )
      .filter((l) => l !== undefined)
      .reverse();
    expect(book.top(5000).bids).toEqual(expected);
    expect(book.levelCount().bids).toBe(expected.length);
  });
});

describe('L2Book performance (full depth, updates near the top)', () => {
  it('applies l2updates to a 10k-level book at a high rate (value reported)', () => {
    const cents = (c: number) =>
      `${String(Math.floor(c / 100))}.${String(c % 100).padStart(2, '0')}`;
    const mid = 5_000_000; // 50000.00
    const bids: PriceLevel[] = [];
    const asks: PriceLevel[] = [];
    for (let i = 1; i <= 5000; i++) {
      bids.push([cents(mid - i), '1.00000000']);
      asks.push([cents(mid + i), '1.00000000']);
    }
    const book = new L2Book({ depth: 50 });
    const t0 = performance.now();
    book.applySnapshot(bids, asks);
    const snapMs = performance.now() - t0;
    let seed = 42;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const frames: BookChange[][] = [];
    for (let f = 0; f < 20_000; f++) {
      const frame: BookChange[] = [];
      for (let k = 0; k < 10; k++) {
        const buy = rnd() < 0.5;
        const off = 1 + Math.floor(rnd() * 200);
        const size = rnd() < 0.3 ? '0.00000000' : `${String(Math.floor(rnd() * 10))}.12345678`;
        frame.push([buy ? 'buy' : 'sell', cents(buy ? mid - off : mid + off), size]);
      }
      frames.push(frame);
    }
    const t1 = performance.now();
    for (const frame of frames) book.applyChanges(frame);
    const applyMs = performance.now() - t1;
    const t2 = performance.now();
    for (let i = 0; i < 10_000; i++) book.top(50);
    const topMs = performance.now() - t2;
    const rate = Math.round(200_000 / (applyMs / 1000));
    console.info(
      `book perf: snapshot 10k levels ${snapMs.toFixed(1)} ms; 200k changes ${applyMs.toFixed(0)} ms ` +
        `(${String(rate)} changes/s); top(50) ${((topMs / 10_000) * 1000).toFixed(1)} µs`,
    );
    expect(book.valid).toBe(true);
    expect(applyMs).toBeLessThan(10_000);
  });
});
