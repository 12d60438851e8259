/**
 * Exchange times: kept as the string received when valid, substituted when not
 * (DESIGN.md "Validation and ordering"). Coinbase sends RFC 3339 UTC with 3 to 9
 * fractional digits (PROTOCOL.md §0.7), and `0001-01-01T00:00:00.000000Z` in real
 * l2update frames (tardis-node mappers test; bennycode level2/l2update fixture).
 */

const RFC3339 =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$/;

/** Older than this is not a Coinbase time (the exchange opened in 2015). */
export const MIN_PLAUSIBLE_MS = Date.UTC(2010, 0, 1);
/** A time this far after our own receipt is a broken clock, not a trade. */
export const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Epoch ms of a syntactically and calendrically valid RFC 3339 time; undefined otherwise. */
export function parseRfc3339Ms(s: string): number | undefined {
  if (s.length > 40) return undefined;
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
  if (m[7] === undefined) {
    const oh = Number(m[9]);
    const om = Number(m[10]);
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[8] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // Date.UTC maps years 0..99 to 1900..1999; those fail the plausibility check anyway.
  return Date.UTC(y, mo - 1, d, h, mi, sec) - offsetMin * 60_000;
}

/**
 * A usable exchange time: valid RFC 3339, not before 2010, and not more than a day after
 * our receipt (skipped when recvUs is not a positive number).
 */
export function isPlausibleTime(t: unknown, recvUs: number): t is string {
  if (typeof t !== 'string') return false;
  const ms = parseRfc3339Ms(t);
  if (ms === undefined || ms < MIN_PLAUSIBLE_MS) return false;
  if (Number.isFinite(recvUs) && recvUs > 0 && ms > recvUs / 1000 + MAX_FUTURE_MS) return false;
  return true;
}

/** `2024-10-04T07:13:31.088388Z` for an epoch in µs (a JS Date alone keeps only ms). */
export function isoFromMicros(recvUs: number): string {
  const us = Number.isFinite(recvUs) && Math.abs(recvUs) < 8.64e18 ? Math.floor(recvUs) : 0;
  const ms = Math.floor(us / 1000);
  const micros = us - ms * 1000;
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

/** The time to publish: the frame's own when plausible, else the previous valid one, else receipt. */
export function resolveTime(
  t: unknown,
  ctx: { recvUs: number; lastValidTime?: string | undefined },
): { time: string; substituted: boolean } {
  if (isPlausibleTime(t, ctx.recvUs)) return { time: t, substituted: false };
  return { time: ctx.lastValidTime ?? isoFromMicros(ctx.recvUs), substituted: true };
}
