/**
 * The page's REST calls and its connection settings. URLs are relative to the page, so
 * the gateway also works behind a reverse proxy under a path prefix.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export async function getJson<T>(path: string, apiKey: string | undefined): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (apiKey !== undefined) headers.authorization = `Bearer ${apiKey}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, document.baseURI), { headers, cache: 'no-store' });
  } catch (err) {
    throw new ApiError(0, 'NETWORK', err instanceof Error ? err.message : 'network error');
  }
  const body = (await res.json().catch(() => undefined)) as unknown;
  if (!res.ok) {
    const e = (body ?? {}) as { code?: unknown; message?: unknown };
    throw new ApiError(
      res.status,
      typeof e.code === 'string' ? e.code : 'HTTP',
      typeof e.message === 'string' ? e.message : `HTTP ${String(res.status)}`,
    );
  }
  return body as T;
}

/** ws(s)://<this origin and path>/ws */
export function webSocketUrl(): string {
  const u = new URL('ws', document.baseURI);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.search = '';
  u.hash = '';
  return u.toString();
}

const KEY_STORE = 'ledgerflux.api_key';

/**
 * An API key given as `?api_key=` is kept for this tab (sessionStorage) and removed from
 * the address bar, so it does not stay in screenshots, bookmarks or shared links.
 */
export function takeApiKey(): string | undefined {
  const url = new URL(location.href);
  const given = url.searchParams.get('api_key');
  try {
    if (given !== null && given !== '') {
      sessionStorage.setItem(KEY_STORE, given);
      url.searchParams.delete('api_key');
      history.replaceState(history.state, '', url);
      return given;
    }
    return sessionStorage.getItem(KEY_STORE) ?? undefined;
  } catch {
    // Storage can be disabled; the key then lives as long as the URL has it.
    return given ?? undefined;
  }
}
