import { z } from 'zod';
import { CANDLE_INTERVAL_NAMES, type CandleInterval } from '../../snapshotter/core/candles.js';
import { MAX_LIMIT } from '../../snapshotter/core/paging.js';
import { isoFromUs, parseTimeUs } from '../../common/time.js';
import { RestError, type RestErrorCode } from './errors.js';

/**
 * Query parameters (pure): each one has a zod schema for the OpenAPI document and a
 * parser from the raw query string that fails with a stable code and a message naming
 * the parameter (the value is never echoed: it may be long, and it may be a key).
 */

export interface Param<T> {
  /** What OpenAPI shows (JSON Schema of the value, not of its query-string spelling). */
  readonly doc: z.ZodType;
  readonly description: string;
  readonly required: boolean;
  parse(raw: string, name: string): T;
}

export type ParamSpecs = Readonly<Record<string, Param<unknown>>>;

/** The parsed query of a route: required parameters are always there. */
export type QueryOf<Q extends ParamSpecs> = {
  [K in keyof Q]: Q[K] extends Param<infer T>
    ? Q[K]['required'] extends true
      ? T
      : T | undefined
    : never;
};

function fail(code: RestErrorCode, message: string): never {
  throw new RestError(400, code, message);
}

function make<T>(
  doc: z.ZodType,
  description: string,
  parse: (raw: string, name: string) => T,
): Param<T> & { required: true; optional(): Param<T> & { required: false } } {
  const base = { doc, description, parse };
  return {
    ...base,
    required: true as const,
    optional: () => ({ ...base, required: false as const }),
  };
}

/** RFC 3339 with a zone (`Z` or `±hh:mm`), microseconds kept; normalized to UTC µs. */
export const timeParam = (description: string) =>
  make(z.iso.datetime({ offset: true }), description, (raw, name) => {
    const us = parseTimeUs(raw);
    if (us === undefined) {
      fail('BAD_TIME', `${name}: not an RFC 3339 time after 1970 (e.g. 2024-05-01T12:00:00Z)`);
    }
    return isoFromUs(us);
  });

export const intParam = (min: number, max: number, description: string) =>
  make(z.int().min(min).max(max), description, (raw, name) => {
    const n = /^[0-9]{1,16}$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const code = name === 'limit' ? 'BAD_LIMIT' : 'BAD_REQUEST';
      fail(code, `${name}: must be an integer in ${String(min)}..${String(max)}`);
    }
    return n;
  });

export const limitParam = intParam(
  1,
  MAX_LIMIT,
  `Most items to return (1..${String(MAX_LIMIT)}, default 1000)`,
).optional();

export const intervalParam = make(
  z.enum(CANDLE_INTERVAL_NAMES),
  'Candle width',
  (raw, name): CandleInterval => {
    const found = CANDLE_INTERVAL_NAMES.find((i) => i === raw);
    if (found === undefined)
      fail('BAD_INTERVAL', `${name}: one of ${CANDLE_INTERVAL_NAMES.join(', ')}`);
    return found;
  },
);

export const tradeIdParam = (description: string) =>
  make(z.string().regex(/^(0|[1-9][0-9]{0,29})$/), description, (raw, name) => {
    if (!/^(0|[1-9][0-9]{0,29})$/.test(raw)) fail('BAD_RANGE', `${name}: must be a trade id`);
    return raw;
  });

export const cursorParam = make(
  z.string().max(512),
  'The `next_cursor` of the previous page',
  (raw, name) => {
    if (raw.length === 0 || raw.length > 512 || !/^[A-Za-z0-9_-]+$/.test(raw)) {
      fail('BAD_CURSOR', `${name}: not a cursor this endpoint returned`);
    }
    return raw;
  },
).optional();

/**
 * The query of a request against a route's parameters: unknown and repeated parameters
 * are refused (a typo such as `form=` must not silently mean "no lower bound").
 */
export function parseQuery<Q extends ParamSpecs>(search: URLSearchParams, specs: Q): QueryOf<Q> {
  const seen = new Set<string>();
  for (const name of search.keys()) {
    if (!Object.hasOwn(specs, name)) {
      const known = Object.keys(specs);
      fail(
        'BAD_REQUEST',
        known.length === 0
          ? 'this endpoint takes no query parameters'
          : `unknown query parameter (known: ${known.join(', ')})`,
      );
    }
    if (seen.has(name)) fail('BAD_REQUEST', `${name}: given more than once`);
    seen.add(name);
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = search.get(name);
    if (raw === null || raw === '') {
      if (spec.required) fail('BAD_REQUEST', `${name}: required`);
      out[name] = undefined;
    } else {
      out[name] = spec.parse(raw, name);
    }
  }
  return out as QueryOf<Q>;
}

/** Epoch µs of a time parameter that parseQuery already normalized. */
export function usOf(iso: string): number {
  return parseTimeUs(iso) ?? 0;
}
