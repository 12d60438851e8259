import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoFromUs, parseTimeUs } from '../../../services/common/time.js';
import { floorTo, messageTimeUs } from '../../../services/snapshotter/core/time.js';

describe('exchange times in µs', () => {
  it('parses RFC 3339 with 0 to 9 fractional digits, truncating past µs', () => {
    const base = Date.UTC(2024, 9, 4, 7, 13, 31) * 1000;
    expect(parseTimeUs('2024-10-04T07:13:31Z')).toBe(base);
    expect(parseTimeUs('2024-10-04T07:13:31.088Z')).toBe(base + 88_000);
    expect(parseTimeUs('2024-10-04T07:13:31.088388Z')).toBe(base + 88_388);
    expect(parseTimeUs('2024-10-04T07:13:31.088388999Z')).toBe(base + 88_388);
    expect(parseTimeUs('2024-10-04T09:13:31.5+02:00')).toBe(base + 500_000);
  });

  it('refuses what is not a usable time', () => {
    for (const s of [
      '',
      'now',
      '2024-02-30T00:00:00Z',
      '2024-10-04T24:00:00Z',
      '0001-01-01T00:00:00.000000Z',
      '1969-12-31T23:59:59Z',
      '9999-01-01T00:00:00Z',
      '2024-10-04T07:13:31',
    ])
      expect(parseTimeUs(s), s).toBeUndefined();
  });

  it('round-trips through the µs ISO form', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8_000_000_000_000_000 }), (us) => {
        const iso = isoFromUs(us);
        expect(iso).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
        expect(parseTimeUs(iso)).toBe(us);
      }),
    );
  });

  it('parses runs of times within one second (the memo) like isolated ones', () => {
    const oneSecond = fc.record({
      second: fc.integer({ min: 10_000, max: 4_000_000_000 }),
      fracs: fc.array(fc.stringMatching(/^[0-9]{1,9}$/), { minLength: 1, maxLength: 6 }),
      zone: fc.constantFrom('Z', 'z', '+00:00', '+01:30'),
    });
    fc.assert(
      fc.property(fc.array(oneSecond, { maxLength: 5 }), (runs) => {
        for (const { second, fracs, zone } of runs) {
          const base = new Date(second * 1000).toISOString().slice(0, 19);
          const offsetUs = zone === '+01:30' ? -5_400_000_000 : 0;
          for (const f of [...fracs, '']) {
            const text = `${base}${f === '' ? '' : `.${f}`}${zone}`;
            const micros = Number(f.padEnd(6, '0').slice(0, 6));
            expect(parseTimeUs(text), text).toBe(second * 1_000_000 + micros + offsetUs);
          }
        }
      }),
    );
  });

  it('parses and prints times of a few seconds interleaved (products apart) like isolated ones', () => {
    const time = fc.record({
      second: fc.integer({ min: 0, max: 11 }),
      frac: fc.oneof(fc.stringMatching(/^[0-9]{1,9}$/), fc.constantFrom('', '1a', '0000000000')),
      zone: fc.constantFrom('Z', 'Z', 'z', '+00:00', '+01:30'),
      leap: fc.integer({ min: 0, max: 20 }).map((n) => n === 0),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4_000_000_000 }),
        fc.array(time, { maxLength: 40 }),
        (start, times) => {
          for (const { second, frac, zone, leap } of times) {
            // Seconds spread over 12 (more than the memo holds), sometimes a leap second.
            const base = new Date((start + second * 7) * 1000).toISOString().slice(0, 19);
            const text = `${leap ? `${base.slice(0, 17)}60` : base}${frac === '' ? '' : `.${frac}`}${zone}`;
            const cold = RFC3339_COLD(text);
            expect(parseTimeUs(text), text).toBe(cold);
            if (cold !== undefined && cold >= 0) {
              const us = cold;
              const ref = `${new Date(Math.floor(us / 1e6) * 1000).toISOString().slice(0, 20)}${String(us % 1_000_000).padStart(6, '0')}Z`;
              expect(isoFromUs(us)).toBe(ref);
            }
          }
        },
      ),
    );
  });

  it('falls back to the receipt time for a bad exchange time', () => {
    expect(messageTimeUs('0001-01-01T00:00:00Z', 1_700_000_000_123_456)).toBe(
      1_700_000_000_123_456,
    );
  });

  it('floors to interval boundaries aligned to the epoch', () => {
    expect(floorTo(1_999_999, 1_000_000)).toBe(1_000_000);
    expect(floorTo(2_000_000, 1_000_000)).toBe(2_000_000);
  });
});

/** parseTimeUs's rules without its memo: what a first sighting of each text returns. */
function RFC3339_COLD(s: string): number | undefined {
  const m =
    /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$/.exec(
      s,
    );
  if (m === null || s.length > 40) return undefined;
  const [y, mo, d, h, mi, sec] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (sec === undefined || mi === undefined || h === undefined || d === undefined) return undefined;
  if (mo === undefined || y === undefined || sec > 60 || mi > 59 || h > 23) return undefined;
  const offsetMin =
    m[8] === undefined ? (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11])) : 0;
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec) - offsetMin * 60_000;
  const us = ms * 1000 + Number((m[7] ?? '').padEnd(6, '0').slice(0, 6));
  return us >= 0 && us < Number.MAX_SAFE_INTEGER ? us : undefined;
}
