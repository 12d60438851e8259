import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isPlausibleTime,
  isoFromMicros,
  parseRfc3339Ms,
  resolveTime,
} from '../../../services/normalizer/core/exchange-time.js';

const RECV_US = Date.UTC(2026, 8, 1) * 1000 + 123_456;

describe('exchange times (PROTOCOL.md §0.7)', () => {
  it('accepts RFC 3339 with 0 to 9 fractional digits', () => {
    for (const t of [
      '2021-04-17T16:43:37.089723Z',
      '2019-08-01T00:00:03.818Z',
      '2026-08-09T21:05:38.50436Z',
      '2024-10-04T07:04:40.812675707Z',
      '2022-05-20T21:22:34Z',
      '2022-05-20T23:22:34.5+02:00',
    ]) {
      expect(isPlausibleTime(t, RECV_US), t).toBe(true);
    }
    expect(parseRfc3339Ms('2022-05-20T23:22:34.5+02:00')).toBe(
      Date.UTC(2022, 4, 20, 21, 22, 34, 500),
    );
  });

  it('rejects 0001-01-01 (real l2update), bad calendars, junk and the far future', () => {
    for (const t of [
      '0001-01-01T00:00:00.000000Z',
      '2021-02-29T00:00:00Z',
      '2021-13-01T00:00:00Z',
      '2021-04-17 16:43:37Z',
      '2021-04-17T24:00:00Z',
      '2021-04-17T16:43:37.1234567890Z',
      '1600000000',
      '',
      '2026-09-03T00:00:00Z',
    ]) {
      expect(isPlausibleTime(t, RECV_US), t).toBe(false);
    }
    expect(isPlausibleTime(1_600_000_000, RECV_US)).toBe(false);
    expect(isPlausibleTime('2024-02-29T00:00:00Z', RECV_US)).toBe(true);
  });

  it('formats receipt times with microseconds', () => {
    expect(isoFromMicros(RECV_US)).toBe('2026-09-01T00:00:00.123456Z');
    expect(isoFromMicros(1)).toBe('1970-01-01T00:00:00.000001Z');
    expect(isoFromMicros(Number.NaN)).toBe('1970-01-01T00:00:00.000000Z');
  });

  it('substitutes the previous valid time first, then the receipt time', () => {
    const bad = '0001-01-01T00:00:00.000000Z';
    expect(resolveTime(bad, { recvUs: RECV_US, lastValidTime: '2026-08-31T23:59:59.9Z' })).toEqual({
      time: '2026-08-31T23:59:59.9Z',
      substituted: true,
    });
    expect(resolveTime(bad, { recvUs: RECV_US })).toEqual({
      time: '2026-09-01T00:00:00.123456Z',
      substituted: true,
    });
    expect(resolveTime('2019-08-01T00:00:03.818Z', { recvUs: RECV_US })).toEqual({
      time: '2019-08-01T00:00:03.818Z',
      substituted: false,
    });
  });

  it('property: never throws, and a kept time is the exact input', () => {
    fc.assert(
      fc.property(fc.anything(), fc.double(), (t, recvUs) => {
        const r = resolveTime(t, { recvUs });
        if (!r.substituted) expect(r.time).toBe(t);
        else expect(typeof r.time).toBe('string');
      }),
    );
  });
});
