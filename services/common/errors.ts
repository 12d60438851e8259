/**
 * One catalogue of stable error codes. Retries and handlers branch on `code`,
 * never on message text.
 */
export const ErrorCode = {
  CONFIG_INVALID: 'CONFIG_INVALID',
  NATS_MAX_PAYLOAD: 'NATS_MAX_PAYLOAD',
  NATS_CONNECT: 'NATS_CONNECT',
  TOPOLOGY_MISSING: 'TOPOLOGY_MISSING',
  TOPOLOGY_MISMATCH: 'TOPOLOGY_MISMATCH',
  PUBLISH_FAILED: 'PUBLISH_FAILED',
  PUBLISH_DISCONTINUITY: 'PUBLISH_DISCONTINUITY',
  PUBLISHER_CLOSED: 'PUBLISHER_CLOSED',
  CONSUMER_LOST: 'CONSUMER_LOST',
  SUBJECT_INVALID: 'SUBJECT_INVALID',
  SHUTDOWN_TIMEOUT: 'SHUTDOWN_TIMEOUT',
  UNKNOWN_COMMAND: 'UNKNOWN_COMMAND',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class LedgerFluxError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LedgerFluxError';
    this.code = code;
  }
}

export function isLedgerFluxError(err: unknown, code?: ErrorCode): err is LedgerFluxError {
  return err instanceof LedgerFluxError && (code === undefined || err.code === code);
}

/** A readable one-liner for logs, with the cause chain. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    if (cur instanceof Error) {
      const code = (cur as { code?: unknown }).code;
      const shown = typeof code === 'string' || typeof code === 'number' ? `${String(code)}: ` : '';
      parts.push(`${shown}${cur.message}`);
      cur = cur.cause;
    } else {
      parts.push(typeof cur === 'string' ? cur : JSON.stringify(cur));
      break;
    }
  }
  return parts.join(' <- ');
}
