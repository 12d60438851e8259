/**
 * Exchange times in microseconds since the epoch, parsed once for every service. Coinbase
 * sends RFC 3339 with 3 to 9 fractional digits (PROTOCOL.md §0.7; a JS Date keeps only
 * milliseconds), so the normalizer's validity check, the snapshotter's fold, candles and
 * stored `timestamptz`, and REST parameters all agree to the microsecond. Digits past the
 * sixth are truncated (PostgreSQL keeps µs).
 */

const RFC3339 =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$/;

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Times must stay exact as doubles: 0 (1970) up to 2^53 µs (year 2255). */
export const MAX_TIME_US = Number.MAX_SAFE_INTEGER;

/** A memo of the last whole second seen: feeds send runs of times within one second. */
let lastSecondText = '';
let lastSecondMs = 0;

/** Epoch µs of a valid RFC 3339 time in [1970, 2255); undefined otherwise. */
export function parseTimeUs(s: string): number | undefined {
  if (s.length > 40) return undefined;
  // Fast path: "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" whose second was just parsed.
  if (lastSecondText !== '' && s.length >= 20 && s.endsWith('Z') && s.startsWith(lastSecondText)) {
    const rest = s.slice(19, -1);
    if (rest === '') return lastSecondMs * 1000;
    if (rest.length >= 2 && rest.length <= 10 && rest[0] === '.' && /^\.[0-9]+$/.test(rest))
      return lastSecondMs * 1000 + Number(rest.slice(1, 7).padEnd(6, '0'));
  }
  const m = RFC3339.exec(s);
  if (m === null) return undefined;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60) return undefined;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const maxDay = mo === 2 && !leap ? 28 : (DAYS[mo - 1] ?? 31);
  if (d > maxDay) return undefined;
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const micros = Number((m[7] ?? '').padEnd(6, '0').slice(0, 6));
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec) - offsetMin * 60_000;
  const us = ms * 1000 + micros;
  if (us < 0 || us >= MAX_TIME_US) return undefined;
  if (m[8] !== undefined && sec < 60 && s[10] === 'T') {
    lastSecondText = s.slice(0, 19);
    lastSecondMs = ms;
  }
  return us;
}

let isoSecond = -1;
let isoPrefix = '';

/** `2024-10-04T07:13:31.088388Z` for an epoch in µs (≥ 0). */
export function isoFromUs(us: number): string {
  const second = Math.floor(us / 1_000_000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  return `${isoPrefix}${String(us - second * 1_000_000).padStart(6, '0')}Z`;
}
