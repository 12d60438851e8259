import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * API keys (GATEWAY_API_KEYS; none configured = open). Keys are kept only as SHA-256
 * digests and compared with crypto.timingSafeEqual against every configured digest, so
 * neither the comparison nor the key count leaks through timing. Keys are never logged:
 * the request URL that may carry `?api_key=` is not logged anywhere in the gateway.
 */
export class ApiKeys {
  private readonly digests: readonly Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get open(): boolean {
    return this.digests.length === 0;
  }

  check(key: string | undefined): boolean {
    if (this.open) return true;
    if (key === undefined || key === '') return false;
    const given = digest(key);
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, given) || ok;
    return ok;
  }

  /**
   * `Authorization: Bearer <key>`, or on the WebSocket endpoint also `?api_key=`
   * (browsers cannot set headers on a WebSocket).
   */
  authorize(req: IncomingMessage, allowQuery: boolean): boolean {
    if (this.open) return true;
    return this.check(keyOf(req, allowQuery));
  }
}

export function keyOf(req: IncomingMessage, allowQuery: boolean): string | undefined {
  const header = req.headers.authorization;
  const bearer = header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
  if (bearer !== undefined) return bearer;
  if (!allowQuery) return undefined;
  const query = (req.url ?? '').split('?')[1];
  return query === undefined ? undefined : (new URLSearchParams(query).get('api_key') ?? undefined);
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}
