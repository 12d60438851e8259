import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResumeTracker } from '../../../services/client/resume-state.js';
import type { Channel } from '../../../services/client/types.js';

const CHANNELS: Channel[] = ['ticker', 'trades', 'book'];

describe('ResumeTracker', () => {
  it('whatever the cuts and replays, the application sees every offset once and in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...CHANNELS), { minLength: 1, maxLength: 80 }),
        fc.array(fc.tuple(fc.nat({ max: 80 }), fc.nat({ max: 10 })), { maxLength: 10 }),
        (channels, sessions) => {
          // The server's ordered stream for one product: offsets 1..n on random channels.
          const stream = channels.map((channel, i) => ({ offset: i + 1, channel }));
          const t = new ResumeTracker();
          const emitted: number[] = [];
          const deliver = (from: number, count: number) => {
            for (const m of stream.filter((x) => x.offset > from).slice(0, count)) {
              if (t.accept('P', m.channel, m.offset)) emitted.push(m.offset);
            }
          };
          // Connections cut after a random number of frames; some replay from further back
          // than asked (a server that resumes early must not cause duplicates).
          for (const [count, rewind] of sessions)
            deliver(Math.max(0, (t.resumeFrom('P') ?? 0) - rewind), count);
          deliver(t.resumeFrom('P') ?? 0, Infinity);
          expect(emitted).toEqual(stream.map((m) => m.offset));
          expect(t.resumeFrom('P')).toBe(stream.length);
        },
      ),
    );
  });

  it('a slow_client gap lowers the resume point, blocks the product, and reports recovery once', () => {
    const t = new ResumeTracker();
    t.snapshot('P', 'trades', 10);
    expect(t.accept('P', 'trades', 11)).toBe(true);
    expect(t.accept('P', 'ticker', 14)).toBe(true);
    expect(t.slowGap('P', 12, 20)).toBe(true);
    expect(t.resumeFrom('P')).toBe(11);
    expect(t.accept('P', 'ticker', 21)).toBe(false);
    expect(t.isBlocked('P')).toBe(true);
    t.unblock('P');
    expect(t.accept('P', 'trades', 12)).toBe(true);
    expect(t.accept('P', 'ticker', 14)).toBe(false);
    expect(t.recoveredBy('P', 19)).toBeUndefined();
    expect(t.recoveredBy('P', 20)).toEqual({ fromOffset: 12, toOffset: 20 });
    expect(t.recoveredBy('P', 21)).toBeUndefined();
  });

  it('a snapshot resets its channel, and seeded offsets come back from offsets()', () => {
    const t = new ResumeTracker();
    t.seed('A', 40);
    expect(t.offsets()).toEqual({ A: 40 });
    t.snapshot('A', 'book', 30);
    expect(t.accept('A', 'book', 31)).toBe(true);
    expect(t.resumeFrom('A')).toBe(40);
    t.forget('A');
    expect(t.offsets()).toEqual({});
  });
});
