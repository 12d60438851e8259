import { describe, expect, it } from 'vitest';
import {
  QueryError,
  decodeCursor,
  encodeCursor,
  limitArg,
  timeArgUs,
  timeRange,
} from '../../../services/snapshotter/core/paging.js';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof QueryError ? err.code : 'other';
  }
  return undefined;
}

describe('query arguments and cursors', () => {
  it('round-trips cursors of both kinds and refuses foreign ones', () => {
    const t = { kind: 't', time: '2024-01-01T00:00:00.123456Z', id: '42' } as const;
    expect(decodeCursor(encodeCursor(t), 't')).toEqual(t);
    expect(decodeCursor(encodeCursor({ kind: 'i', id: '7' }), 'i')).toEqual({ kind: 'i', id: '7' });
    expect(code(() => decodeCursor(encodeCursor(t), 'i'))).toBe('BAD_CURSOR');
    expect(code(() => decodeCursor('garbage', 't'))).toBe('BAD_CURSOR');
    expect(code(() => decodeCursor(Buffer.from('t|x|1').toString('base64url'), 't'))).toBe(
      'BAD_CURSOR',
    );
  });

  it('keeps µs of string times, accepts Dates, refuses nonsense', () => {
    expect(timeArgUs('2024-01-01T00:00:00.000001Z', 'at') % 1_000_000).toBe(1);
    expect(timeArgUs(new Date(1000), 'at')).toBe(1_000_000);
    expect(code(() => timeArgUs('yesterday', 'at'))).toBe('BAD_TIME');
    expect(code(() => timeArgUs(new Date(Number.NaN), 'at'))).toBe('BAD_TIME');
    expect(code(() => timeRange('2024-01-02T00:00:00Z', '2024-01-01T00:00:00Z'))).toBe('BAD_RANGE');
  });

  it('bounds limits', () => {
    expect(limitArg(undefined)).toBe(1000);
    expect(limitArg(10_000)).toBe(10_000);
    for (const l of [0, -1, 1.5, 10_001])
      expect(
        code(() => limitArg(l)),
        String(l),
      ).toBe('BAD_LIMIT');
  });
});
