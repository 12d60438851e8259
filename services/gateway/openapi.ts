import { z } from 'zod';
import type { Route } from './rest/route.js';

/**
 * The OpenAPI 3.1 document of the gateway's port, generated from the route table
 * (rest/routes.ts) and its zod schemas with `z.toJSONSchema` (JSON Schema 2020-12, the
 * dialect of OpenAPI 3.1). Schemas are inlined, so each response's schema stands alone
 * (the tests turn them back into validators with `z.fromJSONSchema`).
 */

export interface OpenApiOptions {
  products: readonly string[];
  version?: string;
}

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'throw',
  });
  return rest;
}

function operation(route: Route, products: readonly string[]): Json {
  const parameters = [
    ...route.pathParams.map((p) => ({
      name: p.name,
      in: 'path',
      required: true,
      description:
        p.name === 'id' ? `${p.description}. Configured: ${products.join(', ')}` : p.description,
      schema: jsonSchema(p.doc, 'input'),
    })),
    ...Object.entries(route.query).map(([name, p]) => ({
      name,
      in: 'query',
      required: p.required,
      description: p.description,
      schema: jsonSchema(p.doc, 'input'),
    })),
  ];
  const responses: Json = {};
  for (const [status, body] of Object.entries(route.responses)) {
    responses[status] =
      status === '101'
        ? { description: body.description }
        : {
            description: body.description,
            content: Object.fromEntries(
              Object.entries(body.content).map(([type, schema]) => [
                type,
                { schema: jsonSchema(schema, 'output') },
              ]),
            ),
          };
  }
  return {
    operationId: route.id,
    summary: route.summary,
    description: route.description,
    tags: [route.tag],
    ...(route.auth ? {} : { security: [] }),
    ...(parameters.length === 0 ? {} : { parameters }),
    responses,
  };
}

export function openApiDocument(routes: readonly Route[], opts: OpenApiOptions): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const item = paths[route.path] ?? {};
    if ('get' in item) throw new Error(`route ${route.path} is defined twice`);
    item.get = operation(route, opts.products);
    paths[route.path] = item;
  }
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'LedgerFlux gateway',
      version: opts.version ?? '1.0.0',
      description:
        'Read side of LedgerFlux: current state from MD_NORM, history from PostgreSQL, and ' +
        'the live web page. Errors are `{ "code", "message" }`. Prices and sizes are ' +
        'decimal strings. Live data: the WebSocket protocol at /ws (docs/protocol.md).',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'current', description: 'Current state, from MD_NORM' },
      { name: 'history', description: 'History, from PostgreSQL (written by the snapshotter)' },
      { name: 'meta', description: 'This document' },
      { name: 'page', description: 'The live web page' },
      { name: 'probes', description: 'Kubernetes probes and Prometheus' },
      { name: 'websocket', description: 'The streaming protocol' },
    ],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key from GATEWAY_API_KEYS; required on REST only when keys are configured',
        },
      },
    },
    security: [{ bearer: [] }],
    paths,
  };
}
