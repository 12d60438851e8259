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

/**
 * A memo of the whole seconds seen last: feeds send runs of times within one second, and
 * products interleave, each a little apart (one slot each for a few of them).
 */
const MEMO = 4;
const memoText: string[] = new Array<string>(MEMO).fill('');
const memoMs: number[] = new Array<number>(MEMO).fill(0);
let memoNext = 0;

/** The epoch ms of `s`'s second ("YYYY-MM-DDTHH:MM:SS", already validated), if memoized. */
function memoSecondMs(s: string): number | undefined {
  for (let i = 0; i < MEMO; i++) {
    const t = memoText[i] as string;
    if (t !== '' && s.startsWith(t)) return memoMs[i];
  }
  return undefined;
}

/** "[.f{1,9}]Z" after a memoized second, as µs; -1 when it is anything else. */
function fractionZ(s: string): number {
  const n = s.length;
  if (n === 20) return 0;
  if (n < 22 || n > 30 || s.charCodeAt(19) !== 46) return -1;
  let micros = 0;
  for (let i = 20; i < n - 1; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    if (i < 26) micros = micros * 10 + d;
  }
  // Fewer than 6 digits: scale up (".5" is 500000 µs); more than 6 are truncated.
  for (let i = n - 1; i < 26; i++) micros *= 10;
  return micros;
}

/** Epoch µs of a valid RFC 3339 time in [1970, 2255); undefined otherwise. */
export function parseTimeUs(s: string): number | undefined {
  if (s.length > 40) return undefined;
  // Fast path: "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" whose second was parsed lately.
  if (s.length >= 20 && s.charCodeAt(s.length - 1) === 90) {
    const ms = memoSecondMs(s);
    if (ms !== undefined) {
      const micros = fractionZ(s);
      if (micros >= 0) return ms * 1000 + micros;
    }
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
    memoText[memoNext] = s.slice(0, 19);
    memoMs[memoNext] = ms;
    memoNext = (memoNext + 1) % MEMO;
  }
  return us;
}

/** The "YYYY-MM-DDTHH:MM:SS." of recent seconds, a slot per second modulo ISO_SLOTS. */
const ISO_SLOTS = 8;
const isoSecond: number[] = new Array<number>(ISO_SLOTS).fill(-1);
const isoPrefix: string[] = new Array<string>(ISO_SLOTS).fill('');

/** `2024-10-04T07:13:31.088388Z` for an epoch in µs (≥ 0). */
export function isoFromUs(us: number): string {
  const second = Math.floor(us / 1_000_000);
  const slot = second % ISO_SLOTS;
  let prefix = isoPrefix[slot] as string;
  if (isoSecond[slot] !== second) {
    prefix = new Date(second * 1000).toISOString().slice(0, 20);
    isoSecond[slot] = second;
    isoPrefix[slot] = prefix;
  }
  return `${prefix}${String(us - second * 1_000_000).padStart(6, '0')}Z`;
}
