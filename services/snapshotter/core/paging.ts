import { isoFromUs, parseTimeUs } from '../../common/time.js';

/**
 * Argument checks and opaque cursors for the read queries (pure: the gateway maps a
 * QueryError's code to HTTP 400).
 */

export type QueryErrorCode = 'BAD_TIME' | 'BAD_RANGE' | 'BAD_CURSOR' | 'BAD_INTERVAL' | 'BAD_LIMIT';

export class QueryError extends Error {
  readonly code: QueryErrorCode;

  constructor(code: QueryErrorCode, message: string) {
    super(message);
    this.name = 'QueryError';
    this.code = code;
  }
}

/** A time argument: a Date, or an RFC 3339 string (which keeps microseconds). */
export type TimeArg = Date | string;

/** µs since the epoch of a time argument; QueryError BAD_TIME otherwise. */
export function timeArgUs(t: TimeArg, what: string): number {
  const us = t instanceof Date ? t.getTime() * 1000 : parseTimeUs(t);
  if (us === undefined || !Number.isFinite(us) || us < 0) {
    throw new QueryError('BAD_TIME', `${what} is not an RFC 3339 time after 1970: ${String(t)}`);
  }
  return us;
}

export function timeRange(from: TimeArg, to: TimeArg): { from: string; to: string } {
  const f = timeArgUs(from, 'from');
  const t = timeArgUs(to, 'to');
  if (f >= t) throw new QueryError('BAD_RANGE', 'from must be before to');
  return { from: isoFromUs(f), to: isoFromUs(t) };
}

const TRADE_ID = /^(0|[1-9][0-9]{0,29})$/;

export function tradeIdArg(id: string, what: string): string {
  if (!TRADE_ID.test(id)) throw new QueryError('BAD_RANGE', `${what} must be a trade id`);
  return id;
}

export const MAX_LIMIT = 10_000;
export const DEFAULT_LIMIT = 1_000;

export function limitArg(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new QueryError('BAD_LIMIT', `limit must be an integer in 1..${String(MAX_LIMIT)}`);
  }
  return limit;
}

/** Where a page of trades ended: (time, trade id) for time ranges, the trade id for id ranges. */
export type Cursor = { kind: 't'; time: string; id: string } | { kind: 'i'; id: string };

export function encodeCursor(c: Cursor): string {
  const text = c.kind === 't' ? `t|${c.time}|${c.id}` : `i|${c.id}`;
  return Buffer.from(text, 'utf8').toString('base64url');
}

export function decodeCursor(s: string, kind: Cursor['kind']): Cursor {
  const parts = Buffer.from(s, 'base64url').toString('utf8').split('|');
  if (kind === 't' && parts.length === 3 && parts[0] === 't') {
    const [, time = '', id = ''] = parts;
    if (parseTimeUs(time) !== undefined && TRADE_ID.test(id)) return { kind, time, id };
  }
  if (kind === 'i' && parts.length === 2 && parts[0] === 'i') {
    const id = parts[1] ?? '';
    if (TRADE_ID.test(id)) return { kind, id };
  }
  throw new QueryError('BAD_CURSOR', 'cursor is not one this query returned');
}
