import { parseTimeUs } from '../../common/time.js';

/**
 * Exchange times: kept as the string received when valid, substituted when not
 * (DESIGN.md "Validation and ordering"). Coinbase sends RFC 3339 UTC with 3 to 9
 * fractional digits (PROTOCOL.md §0.7), and `0001-01-01T00:00:00.000000Z` in real
 * l2update frames (tardis-node mappers test; bennycode level2/l2update fixture).
 */

/** Older than this is not a Coinbase time (the exchange opened in 2015). */
export const MIN_PLAUSIBLE_MS = Date.UTC(2010, 0, 1);
/** A time this far after our own receipt is a broken clock, not a trade. */
export const MAX_FUTURE_MS = 24 * 60 * 60 * 1000;

/** Epoch ms of a valid RFC 3339 time with a `T` separator (as Coinbase sends); undefined otherwise. */
export function parseRfc3339Ms(s: string): number | undefined {
  if (s[10] !== 'T' && s[10] !== 't') return undefined;
  const us = parseTimeUs(s);
  return us === undefined ? undefined : Math.floor(us / 1000);
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
