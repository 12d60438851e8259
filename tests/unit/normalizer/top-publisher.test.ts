import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopThrottle } from '../../../services/normalizer/core/top-publisher.js';

describe('TopThrottle', () => {
  it('publishes at once after a quiet interval, folds a burst into one trailing publish', () => {
    const t = new TopThrottle(100);
    expect(t.onChange(0)).toEqual({ kind: 'publish_now' });
    expect(t.onChange(10)).toEqual({ kind: 'schedule', atMs: 100 });
    expect(t.onChange(50)).toEqual({ kind: 'pending', atMs: 100 });
    expect(t.onTimer(99)).toBe(false);
    expect(t.pendingAt()).toBe(100);
    expect(t.onTimer(100)).toBe(true);
    expect(t.onTimer(100)).toBe(false);
    expect(t.onChange(150)).toEqual({ kind: 'schedule', atMs: 200 });
    expect(t.onTimer(230)).toBe(true);
    expect(t.onChange(400)).toEqual({ kind: 'publish_now' });
  });

  it('cancel drops a pending publish', () => {
    const t = new TopThrottle(100);
    t.onChange(0);
    t.onChange(1);
    t.cancel();
    expect(t.pendingAt()).toBeUndefined();
    expect(t.onTimer(100)).toBe(false);
  });

  it('property: publishes are ≥ minInterval apart and the last change is always published', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.nat(300), { minLength: 1, maxLength: 100 }),
        (interval, gaps) => {
          const t = new TopThrottle(interval);
          const publishes: number[] = [];
          let timer: number | undefined;
          let now = 0;
          let lastChange = 0;
          const fire = (until: number) => {
            while (timer !== undefined && timer <= until) {
              const at = timer;
              timer = undefined;
              if (t.onTimer(at)) publishes.push(at);
              timer = t.pendingAt();
            }
          };
          for (const gap of gaps) {
            now += gap;
            fire(now);
            lastChange = now;
            const d = t.onChange(now);
            if (d.kind === 'publish_now') publishes.push(now);
            else timer = d.atMs;
          }
          fire(Number.MAX_SAFE_INTEGER);
          for (let i = 1; i < publishes.length; i++) {
            expect((publishes[i] ?? 0) - (publishes[i - 1] ?? 0)).toBeGreaterThanOrEqual(interval);
          }
          const last = publishes[publishes.length - 1] ?? -1;
          expect(last).toBeGreaterThanOrEqual(lastChange);
          expect(last).toBeLessThanOrEqual(lastChange + interval);
        },
      ),
    );
  });
});
