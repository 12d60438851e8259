import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingBuffer } from '../../../services/gateway/core/ring-buffer.js';

interface Item {
  offset: number;
  atMs: number;
}

describe('RingBuffer', () => {
  it('returns exactly the messages after any offset it holds, and undefined below its floor', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 5 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 20 })), {
          maxLength: 80,
        }),
        fc.integer({ min: 0, max: 600 }),
        (capacity, floor, steps, evictAt) => {
          const ring = new RingBuffer<Item>(capacity, 100, floor);
          const pushed: Item[] = [];
          let offset = floor;
          let t = 0;
          for (const [dOffset, dt] of steps) {
            offset += dOffset;
            t += dt;
            const item = { offset, atMs: t };
            ring.push(item);
            pushed.push(item);
          }
          ring.evictOlderThan(Math.min(evictAt, t));
          const held = pushed.filter((i) => i.offset > ring.floor);
          // What is held is a suffix of what was pushed: everything above the floor.
          expect(ring.size).toBe(held.length);
          expect(ring.size).toBeLessThanOrEqual(capacity);
          for (let x = 0; x <= offset + 2; x++) {
            const got = ring.after(x);
            if (x < ring.floor) {
              expect(got).toBeUndefined();
              continue;
            }
            expect(got).toEqual(pushed.filter((i) => i.offset > x));
            expect(ring.after(x, 2)).toEqual(pushed.filter((i) => i.offset > x).slice(0, 2));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('evicts by count and by age, moving the floor to the last evicted offset', () => {
    const ring = new RingBuffer<Item>(3, 1_000, 10);
    for (const [offset, atMs] of [
      [11, 0],
      [12, 500],
      [13, 600],
      [15, 2_000],
    ] as const) {
      ring.push({ offset, atMs });
    }
    expect(ring.floor).toBe(11);
    expect(ring.after(11)?.map((i) => i.offset)).toEqual([12, 13, 15]);
    ring.evictOlderThan(1_550);
    expect(ring.floor).toBe(12);
    expect(ring.after(11)).toBeUndefined();
    expect(ring.after(12)?.map((i) => i.offset)).toEqual([13, 15]);
    expect(ring.last).toBe(15);
  });

  it('refuses offsets that do not increase', () => {
    const ring = new RingBuffer<Item>(3, 1_000, 5);
    expect(() => {
      ring.push({ offset: 5, atMs: 0 });
    }).toThrow(RangeError);
  });
});
