import { describe, expect, it } from 'vitest';
import { BatchQueue } from '../../../services/snapshotter/batch-queue.js';

describe('batch queue', () => {
  it('returns a full batch at once', async () => {
    const q = new BatchQueue<number>();
    for (let i = 0; i < 7; i++) q.push(i);
    const t0 = performance.now();
    expect(await q.take(5, 10_000)).toEqual([0, 1, 2, 3, 4]);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(q.size).toBe(2);
  });

  it('returns a partial batch when the window of its oldest item has passed', async () => {
    const q = new BatchQueue<number>();
    const taken = q.take(100, 50);
    q.push(1);
    setTimeout(() => {
      q.push(2);
    }, 10);
    const t0 = performance.now();
    expect(await taken).toEqual([1, 2]);
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(40);
    expect(waited).toBeLessThan(2_000);
  });

  it('wakes as soon as the batch fills inside the window', async () => {
    const q = new BatchQueue<number>();
    const taken = q.take(3, 60_000);
    for (let i = 0; i < 3; i++)
      setTimeout(() => {
        q.push(i);
      }, 5 * i);
    expect(await taken).toEqual([0, 1, 2]);
  });

  it('interrupt() returns a waiting take, even an empty one, and one issued later', async () => {
    const q = new BatchQueue<number>();
    const taken = q.take(3, 60_000);
    q.interrupt();
    expect(await taken).toEqual([]);
    q.interrupt();
    q.push(9);
    expect(await q.take(3, 60_000)).toEqual([9]);
  });
});
