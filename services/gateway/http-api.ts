import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/nats-core';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Sql } from 'postgres';
import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { SnapshotQueries } from '../snapshotter/queries.js';
import { openApiDocument } from './openapi.js';
import { CurrentState } from './rest/current.js';
import { RestError } from './rest/errors.js';
import { parseQuery } from './rest/params.js';
import { JSON_TYPE, type Reply, type Route, type Services } from './rest/route.js';
import { Router } from './rest/router.js';
import { ROUTES } from './rest/routes.js';
import { DEFAULT_WEB_DIR, WebFiles } from './rest/static.js';
import type { ExtraRoutes, RouteContext } from './ws-server.js';

/**
 * The REST API and the web page on the gateway's port, as the `routes` hook of
 * ws-server.ts (which answers /ws and the probes first). Current state comes from
 * MD_NORM (rest/current.ts), history from PostgreSQL through the snapshotter's read
 * queries, the page from dist/web. The route table (rest/routes.ts) drives both the
 * router and /v1/openapi.json. Order of checks: route → method → API key → product →
 * query, so an unauthorized caller learns nothing about products or parameters.
 */

export interface HttpApiOptions {
  products: readonly string[];
  /** PostgreSQL, read-only use (the snapshotter's tables). */
  sql: Sql;
  nc: NatsConnection;
  log: Logger;
  registry: Registry;
  /** Where the built page is (default: dist/web of this checkout or package). */
  webDir?: string | undefined;
}

export interface HttpApi {
  readonly routes: ExtraRoutes;
  readonly openapi: Record<string, unknown>;
}

export function createHttpApi(opts: HttpApiOptions): HttpApi {
  const log = opts.log.child({ component: 'http-api' });
  const document = openApiDocument(ROUTES, { products: opts.products });
  const documentText = JSON.stringify(document);
  const services: Services = {
    products: opts.products,
    current: new CurrentState(opts.nc, log),
    history: new SnapshotQueries(opts.sql),
    web: new WebFiles(opts.webDir ?? DEFAULT_WEB_DIR),
    openapi: () => documentText,
  };
  const router = new Router(ROUTES.filter((r) => r.servedBy === 'http-api'));
  const registers = [opts.registry];
  const requests = new Counter({
    name: 'ledgerflux_gateway_http_requests_total',
    help: 'REST and page requests by route (operation id) and status',
    labelNames: ['route', 'status'] as const,
    registers,
  });
  const duration = new Histogram({
    name: 'ledgerflux_gateway_http_request_duration_seconds',
    help: 'REST and page request handling time by route',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });

  const routes: ExtraRoutes = async (req, res, ctx) => {
    const url = parseUrl(req);
    const match = router.match(url.pathname);
    if (match === undefined) return false;
    const started = process.hrtime.bigint();
    let reply: Reply;
    try {
      reply = await handle(match.route, match.params, url.searchParams, req, ctx, services);
    } catch (err) {
      reply = errorReply(err, match.route, log);
    }
    send(res, reply);
    requests.labels(match.route.id, String(reply.status)).inc();
    duration.labels(match.route.id).observe(Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };
  return { routes, openapi: document };
}

async function handle(
  route: Route,
  params: Record<string, string>,
  search: URLSearchParams,
  req: IncomingMessage,
  ctx: RouteContext,
  s: Services,
): Promise<Reply> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new RestError(405, 'METHOD_NOT_ALLOWED', 'only GET and HEAD are served');
  }
  if (route.auth && !ctx.authorized) {
    throw new RestError(401, 'UNAUTHORIZED', 'a valid API key is required (Authorization: Bearer)');
  }
  let product = '';
  if (params.id !== undefined) {
    const wanted = params.id.toUpperCase();
    const found = s.products.find((p) => p === wanted);
    if (found === undefined) {
      throw new RestError(
        404,
        'UNKNOWN_PRODUCT',
        `unknown product; configured: ${s.products.join(', ')}`,
      );
    }
    product = found;
  }
  const query = route.strictQuery ? parseQuery(search, route.query) : {};
  if (route.handle === undefined) throw new RestError(404, 'NOT_FOUND', 'no such route');
  return route.handle(s, { query, product, params });
}

function errorReply(err: unknown, route: Route, log: Logger): Reply {
  if (err instanceof RestError) {
    const headers: Record<string, string> = {};
    if (err.status === 401) headers['www-authenticate'] = 'Bearer realm="ledgerflux"';
    if (err.status === 405) headers.allow = 'GET, HEAD';
    if (err.status === 503) headers['retry-after'] = '1';
    return jsonError(err.status, err.code, err.message, headers);
  }
  log.error({ err: describeError(err), route: route.id }, 'REST handler failed');
  return jsonError(500, 'INTERNAL', 'internal error');
}

function jsonError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Reply {
  return { status, contentType: JSON_TYPE, body: JSON.stringify({ code, message }), headers };
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(reply.status, {
    'content-type': reply.contentType,
    'content-length': Buffer.byteLength(reply.body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...reply.headers,
  });
  res.end(reply.body);
}

/** Path and query of the request target (not `new URL`: `//host/x` would move the host). */
function parseUrl(req: IncomingMessage): { pathname: string; searchParams: URLSearchParams } {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  return {
    pathname: q < 0 ? target : target.slice(0, q),
    searchParams: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
  };
}
