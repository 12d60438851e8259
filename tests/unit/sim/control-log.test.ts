import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ControlLog,
  missedIds,
  unaccounted,
  undelivered,
} from '../../../services/sim/core/control-log.js';
import { expandRanges, RangeSet } from '../../../services/sim/core/ranges.js';

describe('RangeSet', () => {
  it('behaves like a Set of integers, kept as sorted disjoint non-adjacent ranges', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 300 }), (ids) => {
        const r = new RangeSet();
        for (const id of ids) r.add(id);
        const model = [...new Set(ids)].sort((a, b) => a - b);
        expect(expandRanges(r.ranges())).toEqual(model);
        expect(r.size).toBe(model.length);
        const ranges = r.ranges();
        for (let i = 1; i < ranges.length; i++)
          expect((ranges[i]?.[0] ?? 0) - (ranges[i - 1]?.[1] ?? 0)).toBeGreaterThan(1);
        for (let id = 0; id <= 200; id++) expect(r.has(id)).toBe(model.includes(id));
      }),
    );
  });
});

describe('ControlLog', () => {
  it('reports delivered per connection, missed with a reason, pending until the write settles', () => {
    const log = new ControlLog();
    for (let id = 1; id <= 10; id++) log.generated('BTC-USD', id);
    log.missed('BTC-USD', 1, null, 'no_subscriber');
    for (let id = 2; id <= 10; id++) log.sent('BTC-USD', id, 'c1');
    for (const id of [2, 3, 4, 6, 7]) log.delivered('BTC-USD', id, 'c1');
    log.missed('BTC-USD', 5, 'c1', 'fault_drop');
    log.missed('BTC-USD', 8, 'c1', 'closed');
    log.sent('BTC-USD', 8, 'c2');
    log.delivered('BTC-USD', 8, 'c2');
    const p = log.toJSON().products['BTC-USD'];
    expect(p?.trades).toEqual({ count: 10, first: 1, last: 10, ids: [[1, 10]] });
    expect(p?.delivered).toEqual({
      c1: [
        [2, 4],
        [6, 7],
      ],
      c2: [[8, 8]],
    });
    expect(p?.pending).toEqual({ c1: [9, 10] });
    if (p === undefined) return;
    expect(unaccounted(p)).toEqual([]);
    expect(missedIds(p, 'fault_drop')).toEqual([5]);
    expect(missedIds(p, 'closed', 'c1')).toEqual([8]);
    expect([...undelivered(p)]).toEqual([
      [1, ['no_subscriber']],
      [5, ['fault_drop']],
    ]);
    log.missed('BTC-USD', 9, 'c1', 'slow_consumer');
    log.delivered('BTC-USD', 10, 'c1');
    const after = log.toJSON().products['BTC-USD'];
    expect(after?.pending).toEqual({});
  });

  it('notices an id that was generated and never settled', () => {
    const log = new ControlLog();
    log.generated('ETH-USD', 7);
    const p = log.toJSON().products['ETH-USD'];
    expect(p && unaccounted(p)).toEqual([7]);
  });

  it('records connections', () => {
    const log = new ControlLog();
    log.connectionOpened('c1', '127.0.0.1:5000', '2026-01-01T00:00:00.000Z');
    log.connectionSent('c1', 2, 100);
    log.connectionClosed('c1', '2026-01-01T00:00:01.000Z', 'fault_close', 1006);
    expect(log.toJSON().connections.c1).toEqual({
      remote: '127.0.0.1:5000',
      opened_at: '2026-01-01T00:00:00.000Z',
      closed_at: '2026-01-01T00:00:01.000Z',
      close_reason: 'fault_close',
      close_code: 1006,
      frames_sent: 2,
      bytes_sent: 100,
    });
  });
});
