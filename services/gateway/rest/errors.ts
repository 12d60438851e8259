import { QueryError } from '../../snapshotter/queries.js';

/**
 * The REST error catalogue: every error body is `{ "code", "message" }` with one of these
 * codes; clients branch on the code, never on the message. The 400 codes are the read
 * queries' own (snapshotter/core/paging.ts) plus BAD_REQUEST.
 */
export const REST_ERROR_CODES = [
  'BAD_REQUEST',
  'BAD_TIME',
  'BAD_RANGE',
  'BAD_CURSOR',
  'BAD_INTERVAL',
  'BAD_LIMIT',
  'UNAUTHORIZED',
  'UNKNOWN_PRODUCT',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;
export type RestErrorCode = (typeof REST_ERROR_CODES)[number];

/** Statuses with an error body, and what each means (for the OpenAPI document). */
export const ERROR_STATUSES = {
  400: 'Bad parameters (BAD_REQUEST, BAD_TIME, BAD_RANGE, BAD_CURSOR, BAD_INTERVAL, BAD_LIMIT)',
  401: 'GATEWAY_API_KEYS is set and no valid `Authorization: Bearer` key was given',
  404: 'Unknown product (UNKNOWN_PRODUCT) or no such route (NOT_FOUND)',
  503: 'History (PostgreSQL) or current state (MD_NORM) is unavailable right now',
} as const;
export type ErrorStatus = keyof typeof ERROR_STATUSES;

export class RestError extends Error {
  constructor(
    readonly status: number,
    readonly code: RestErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RestError';
  }
}

/**
 * An error of a history read as a RestError: the query's argument checks are 400s;
 * anything that carries an infrastructure code (PostgreSQL's SQLSTATE, a socket error,
 * postgres.js's CONNECT_TIMEOUT …) is a 503; the rest is a bug and propagates (500).
 */
export function historyError(err: unknown): unknown {
  if (err instanceof RestError) return err;
  if (err instanceof QueryError) return new RestError(400, err.code, err.message);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const message =
      code === '57014' ? 'the history query took too long' : 'history is unavailable right now';
    return new RestError(503, 'UNAVAILABLE', message, { cause: err });
  }
  return err;
}
