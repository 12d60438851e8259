import type { z } from 'zod';
import type { SnapshotQueries } from '../../snapshotter/queries.js';
import type { CurrentState } from './current.js';
import { ERROR_STATUSES, type ErrorStatus } from './errors.js';
import type { ParamSpecs, QueryOf } from './params.js';
import { ErrorSchema } from './schemas.js';
import type { WebFiles } from './static.js';

/**
 * What a route is: its metadata (what openapi.ts documents) and its handler (what
 * http-api.ts calls). Routes served by ws-server.ts (probes, /ws) are listed too, with
 * no handler, so that the document covers every path of the port.
 */

export interface Services {
  readonly products: readonly string[];
  readonly current: CurrentState;
  readonly history: SnapshotQueries;
  readonly web: WebFiles;
  /** The OpenAPI document, serialized once. */
  readonly openapi: () => string;
}

export interface Reply {
  status: number;
  contentType: string;
  body: string | Buffer;
  headers?: Readonly<Record<string, string>>;
}

export interface Body {
  readonly description: string;
  /** Media type (without parameters) → schema of the body; the reply's type is one of them. */
  readonly content: Readonly<Record<string, z.ZodType>>;
}

export interface PathParam {
  readonly name: string;
  readonly description: string;
  readonly doc: z.ZodType;
}

export interface Args {
  readonly query: Readonly<Record<string, unknown>>;
  /** `{id}`: a configured product (checked before the handler runs). */
  readonly product: string;
  readonly params: Readonly<Record<string, string>>;
}

export interface Route {
  readonly id: string;
  readonly method: 'GET';
  /** OpenAPI path template, e.g. /v1/products/{id}/candles. */
  readonly path: string;
  readonly tag: string;
  readonly summary: string;
  readonly description: string;
  /** Needs `Authorization: Bearer` when GATEWAY_API_KEYS is set. */
  readonly auth: boolean;
  readonly query: ParamSpecs;
  /** Unknown or repeated query parameters are a 400 (JSON routes); the page ignores them. */
  readonly strictQuery: boolean;
  readonly pathParams: readonly PathParam[];
  readonly responses: Readonly<Record<number, Body>>;
  readonly servedBy: 'http-api' | 'ws-server';
  readonly handle?: (s: Services, a: Args) => Promise<Reply>;
}

interface Meta {
  id: string;
  path: string;
  tag: string;
  summary: string;
  description: string;
  auth?: boolean;
  pathParams?: readonly PathParam[];
}

function errorBodies(statuses: readonly ErrorStatus[], auth: boolean): Record<number, Body> {
  const out: Record<number, Body> = {};
  for (const s of auth ? [...statuses, 401 as const] : statuses) {
    out[s] = { description: ERROR_STATUSES[s], content: { 'application/json': ErrorSchema } };
  }
  return out;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

/** A JSON route whose handler is typed by its query parameters and its 200 schema. */
export function jsonRoute<Q extends ParamSpecs, S extends z.ZodType>(
  meta: Meta & {
    query: Q;
    ok: S;
    okDescription: string;
    errors: readonly ErrorStatus[];
    handle: (s: Services, a: Args & { query: QueryOf<Q> }) => Promise<z.output<S>>;
  },
): Route {
  const auth = meta.auth ?? true;
  return {
    id: meta.id,
    method: 'GET',
    path: meta.path,
    tag: meta.tag,
    summary: meta.summary,
    description: meta.description,
    auth,
    query: meta.query,
    strictQuery: true,
    pathParams: meta.pathParams ?? [],
    responses: {
      200: { description: meta.okDescription, content: { 'application/json': meta.ok } },
      ...errorBodies(meta.errors, auth),
    },
    servedBy: 'http-api',
    handle: async (s, a) => {
      const body = await meta.handle(s, { ...a, query: a.query as QueryOf<Q> });
      return { status: 200, contentType: JSON_TYPE, body: JSON.stringify(body) };
    },
  };
}

/** A route with its own replies (the page, assets) or served by ws-server.ts (no handler). */
export function rawRoute(
  meta: Meta & {
    responses: Record<number, Body>;
    query?: ParamSpecs;
    errors?: readonly ErrorStatus[];
    servedBy?: Route['servedBy'];
    handle?: (s: Services, a: Args) => Promise<Reply>;
  },
): Route {
  const auth = meta.auth ?? false;
  return {
    id: meta.id,
    method: 'GET',
    path: meta.path,
    tag: meta.tag,
    summary: meta.summary,
    description: meta.description,
    auth,
    query: meta.query ?? {},
    strictQuery: false,
    pathParams: meta.pathParams ?? [],
    responses: { ...meta.responses, ...errorBodies(meta.errors ?? [], auth) },
    servedBy: meta.servedBy ?? 'http-api',
    ...(meta.handle === undefined ? {} : { handle: meta.handle }),
  };
}
