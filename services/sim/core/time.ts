/**
 * Exchange times are RFC 3339 UTC with microseconds (`2021-04-17T16:43:37.089723Z`).
 * A JS Date keeps milliseconds only, so times travel as integer epoch microseconds.
 */
let cachedSecond = Number.NaN;
let cachedPrefix = '';

export function formatMicros(us: number): string {
  const second = Math.floor(us / 1e6);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20); // 2026-08-25T03:35:57.
  }
  const micros = Math.floor(us - second * 1e6);
  return `${cachedPrefix}${micros.toString().padStart(6, '0')}Z`;
}

const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * Epoch microseconds of an RFC 3339 UTC time, or undefined when unparsable or before
 * 1970 (the `0001-01-01T00:00:00.000000Z` that real l2updates carry).
 */
export function parseMicros(s: string): number | undefined {
  const m = ISO.exec(s);
  if (m === null) return undefined;
  const seconds = Date.parse(`${m[1] ?? ''}Z`);
  if (!Number.isFinite(seconds) || seconds < 0) return undefined;
  const frac = (m[2] ?? '').padEnd(6, '0').slice(0, 6);
  return seconds * 1000 + Number(frac);
}
