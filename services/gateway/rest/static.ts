import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The web page's files (built by services/gateway/web/build.ts into dist/web/): read per
 * request, so a rebuild needs no restart. Only plain file names are served (no slash, no
 * leading dot), from two fixed places: `index.html` and `assets/<name>`.
 */

/** dist/web of the checkout or package: the same three levels up from src and from dist. */
export const DEFAULT_WEB_DIR = path.resolve(import.meta.dirname, '../../../dist/web');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * The page talks only to its own origin (REST and /ws); no inline script, no third party.
 * `'self'` covers ws(s) to the same host in CSP Level 3.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export interface WebFile {
  body: Buffer;
  contentType: string;
}

export class WebFiles {
  constructor(readonly dir: string = DEFAULT_WEB_DIR) {}

  /** `index.html`, or `assets/<name>`; undefined when absent or not a plain name. */
  async read(name: string, inAssets: boolean): Promise<WebFile | undefined> {
    if (!NAME.test(name)) return undefined;
    const type = TYPES[path.extname(name)];
    if (type === undefined) return undefined;
    const file = inAssets ? path.join(this.dir, 'assets', name) : path.join(this.dir, name);
    try {
      return { body: await readFile(file), contentType: type };
    } catch {
      return undefined;
    }
  }
}
