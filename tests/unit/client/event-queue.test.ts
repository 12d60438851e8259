import { describe, expect, it } from 'vitest';
import { EventQueue } from '../../../services/client/event-queue.js';

describe('EventQueue', () => {
  it('pauses at the high-water mark and resumes at the low one, in order', async () => {
    const calls: string[] = [];
    const q = new EventQueue<number>(
      4,
      2,
      () => calls.push('pause'),
      () => calls.push('resume'),
    );
    for (let i = 1; i <= 5; i++) q.push(i);
    expect(calls).toEqual(['pause']);
    expect((await q.next()).value).toBe(1);
    expect((await q.next()).value).toBe(2);
    expect(calls).toEqual(['pause']);
    expect((await q.next()).value).toBe(3);
    expect(calls).toEqual(['pause', 'resume']);
    expect((await q.next()).value).toBe(4);
    expect((await q.next()).value).toBe(5);
  });

  it('hands a pushed value to a waiting consumer, and ends', async () => {
    const q = new EventQueue<string>(
      10,
      5,
      () => undefined,
      () => undefined,
    );
    const waiting = q.next();
    q.push('a');
    expect(await waiting).toEqual({ value: 'a', done: false });
    const ended = q.next();
    q.end();
    expect(await ended).toEqual({ value: undefined, done: true });
    q.push('ignored');
    expect((await q.next()).done).toBe(true);
  });

  it('breaking out of for-await releases a paused producer', async () => {
    const calls: string[] = [];
    let returned = false;
    const q = new EventQueue<number>(
      2,
      1,
      () => calls.push('pause'),
      () => calls.push('resume'),
      () => (returned = true),
    );
    q.push(1);
    q.push(2);
    for await (const v of q) if (v === 1) break;
    expect(calls).toEqual(['pause', 'resume']);
    expect(returned).toBe(true);
  });
});
