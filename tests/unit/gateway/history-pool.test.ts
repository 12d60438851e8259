import { describe, expect, it } from 'vitest';
import { HistoryPool } from '../../../services/gateway/feed.js';

describe('HistoryPool', () => {
  it('runs at most max readers, queues the rest in order, and skips aborted waiters', async () => {
    const changes: [number, number][] = [];
    const pool = new HistoryPool(2, (a, q) => changes.push([a, q]));
    const a = await pool.acquire(new AbortController().signal);
    const b = await pool.acquire(new AbortController().signal);
    const order: string[] = [];
    const cAbort = new AbortController();
    const c = pool.acquire(cAbort.signal).then((r) => (order.push('c'), r));
    const d = pool.acquire(new AbortController().signal).then((r) => (order.push('d'), r));
    expect(pool.stats).toEqual({ active: 2, queued: 2 });
    cAbort.abort();
    expect(await c).toBeUndefined();
    a?.();
    const releaseD = await d;
    expect(order).toEqual(['c', 'd']);
    expect(pool.stats).toEqual({ active: 2, queued: 0 });
    b?.();
    releaseD?.();
    releaseD?.();
    expect(pool.stats).toEqual({ active: 0, queued: 0 });
    expect(Math.max(...changes.map(([act]) => act))).toBe(2);
  });
});
