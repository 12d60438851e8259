import { z } from 'zod';
import { CANDLE_INTERVALS } from '../../snapshotter/core/candles.js';
import { MAX_LIMIT } from '../../snapshotter/core/paging.js';
import { RestError, historyError } from './errors.js';
import {
  cursorParam,
  intParam,
  intervalParam,
  limitParam,
  timeParam,
  tradeIdParam,
  usOf,
} from './params.js';
import { JSON_TYPE, jsonRoute, rawRoute, type Body, type PathParam, type Route } from './route.js';
import {
  CandlesSchema,
  CurrentSchema,
  ErrorSchema,
  GapsSchema,
  HealthSchema,
  NotReadySchema,
  OpenApiSchema,
  ProductsSchema,
  ReadySchema,
  StateAtSchema,
  TradesSchema,
} from './schemas.js';
import { PAGE_HEADERS } from './static.js';

/**
 * Every route of the gateway's port, in one table: the router (http-api.ts) and the
 * OpenAPI document (openapi.ts) are both made from it, so neither can miss a route.
 */

const productParam: PathParam = {
  name: 'id',
  description: 'A configured product id, e.g. BTC-USD (case-insensitive)',
  doc: z.string().regex(/^[A-Za-z0-9]{1,15}-[A-Za-z0-9]{1,15}$/),
};
const depthParam = intParam(1, 1_000, 'Book levels per side (default 10)').optional();
const DEFAULT_DEPTH = 10;

async function history<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    throw historyError(err);
  }
}

function text(description: string, mediaType: string): Body {
  return { description, content: { [mediaType]: z.string() } };
}

function json(description: string, schema: z.ZodType): Body {
  return { description, content: { 'application/json': schema } };
}

export const ROUTES: readonly Route[] = [
  jsonRoute({
    id: 'listProducts',
    path: '/v1/products',
    tag: 'current',
    summary: 'The configured products with their current state',
    description: 'Current state as in `GET /v1/products/{id}`, for every configured product.',
    query: { depth: depthParam },
    ok: ProductsSchema,
    okDescription: 'Products',
    errors: [400, 503],
    handle: async (s, { query }) => ({
      products: await Promise.all(
        s.products.map((p) => s.current.of(p, query.depth ?? DEFAULT_DEPTH)),
      ),
    }),
  }),
  jsonRoute({
    id: 'getProduct',
    path: '/v1/products/{id}',
    tag: 'current',
    summary: 'Current ticker, top-N book, last trade, latest status and their offsets',
    description:
      'Read from MD_NORM (direct get of the last message per subject). The objects are the ' +
      'normalized messages the WebSocket sends, each with its `offset`; subscribe with ' +
      '`from` set to an offset to continue live from there.',
    pathParams: [productParam],
    query: { depth: depthParam },
    ok: CurrentSchema,
    okDescription: 'Current state',
    errors: [400, 404, 503],
    handle: (s, { product, query }) => s.current.of(product, query.depth ?? DEFAULT_DEPTH),
  }),
  jsonRoute({
    id: 'getStateAt',
    path: '/v1/products/{id}/state',
    tag: 'history',
    summary: 'Point-in-time state: book and ticker (each with `as_of`), last trade, 24 h stats',
    description:
      'From the latest snapshot at or before `at` (snapshots follow exchange time) and the ' +
      'trades up to `at`.',
    pathParams: [productParam],
    query: { at: timeParam('The point in time (RFC 3339)') },
    ok: StateAtSchema,
    okDescription: 'State at `at`',
    errors: [400, 404, 503],
    handle: (s, { product, query }) => history(() => s.history.stateAt(product, query.at)),
  }),
  jsonRoute({
    id: 'getCandles',
    path: '/v1/products/{id}/candles',
    tag: 'history',
    summary: 'OHLCV candles (1m, 5m, 15m, 1h, 1d)',
    description:
      'Whole buckets (aligned to the epoch) that overlap [from, to), oldest first, at most ' +
      `\`limit\`; a range may span at most ${String(MAX_LIMIT)} buckets.`,
    pathParams: [productParam],
    query: {
      from: timeParam('Start of the range (inclusive)'),
      to: timeParam('End of the range (exclusive)'),
      interval: intervalParam,
      limit: limitParam,
    },
    ok: CandlesSchema,
    okDescription: 'Candles',
    errors: [400, 404, 503],
    handle: async (s, { product, query }) => {
      const { from, to, interval } = query;
      const width = CANDLE_INTERVALS[interval];
      const fromUs = usOf(from);
      const toUs = usOf(to);
      if (fromUs >= toUs) throw new RestError(400, 'BAD_RANGE', 'from must be before to');
      const buckets = Math.floor((toUs - 1) / width) - Math.floor(fromUs / width) + 1;
      if (buckets > MAX_LIMIT) {
        throw new RestError(
          400,
          'BAD_RANGE',
          `the range spans more than ${String(MAX_LIMIT)} ${interval} candles; narrow it or use a wider interval`,
        );
      }
      const opts = query.limit === undefined ? {} : { limit: query.limit };
      const candles = await history(() => s.history.candles(product, interval, from, to, opts));
      return { product, interval, from, to, candles };
    },
  }),
  jsonRoute({
    id: 'getTrades',
    path: '/v1/products/{id}/trades',
    tag: 'history',
    summary: 'Trades in a time range or a trade-id range, paged, with the gaps they overlap',
    description:
      'Either `from` and `to` (times; [from, to), ordered by exchange time then trade id) or ' +
      '`from_id` and `to_id` (inclusive trade ids, ordered by id: how a client fetches the ' +
      'trades of a `slow_client` gap). Each page lists the announced gaps within its span ' +
      'of trade ids. Follow `next_cursor` with the same range until it is null.',
    pathParams: [productParam],
    query: {
      from: timeParam('Start of the time range (inclusive)').optional(),
      to: timeParam('End of the time range (exclusive)').optional(),
      from_id: tradeIdParam('First trade id (inclusive)').optional(),
      to_id: tradeIdParam('Last trade id (inclusive)').optional(),
      limit: limitParam,
      cursor: cursorParam,
    },
    ok: TradesSchema,
    okDescription: 'A page of trades',
    errors: [400, 404, 503],
    handle: async (s, { product, query }) => {
      const { from, to, from_id: fromId, to_id: toId } = query;
      const byTime = from !== undefined || to !== undefined;
      const byId = fromId !== undefined || toId !== undefined;
      let range;
      if (byTime && !byId && from !== undefined && to !== undefined) range = { from, to };
      else if (byId && !byTime && fromId !== undefined && toId !== undefined)
        range = { fromId, toId };
      else {
        throw new RestError(
          400,
          'BAD_REQUEST',
          'give either from and to (times) or from_id and to_id (trade ids)',
        );
      }
      const opts = {
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      };
      const page = await history(() => s.history.trades(product, range, opts));
      return { product, ...page };
    },
  }),
  jsonRoute({
    id: 'getGaps',
    path: '/v1/products/{id}/gaps',
    tag: 'history',
    summary: 'Trade-id gaps announced in a time range',
    description: 'Gaps the normalizer announced in [from, to) (by exchange time), oldest first.',
    pathParams: [productParam],
    query: {
      from: timeParam('Start of the range (inclusive)'),
      to: timeParam('End of the range (exclusive)'),
      limit: limitParam,
    },
    ok: GapsSchema,
    okDescription: 'Gaps',
    errors: [400, 404, 503],
    handle: async (s, { product, query }) => {
      const { from, to } = query;
      const opts = query.limit === undefined ? {} : { limit: query.limit };
      const gaps = await history(() => s.history.gaps(product, from, to, opts));
      return { product, from, to, gaps };
    },
  }),
  rawRoute({
    id: 'getOpenApi',
    path: '/v1/openapi.json',
    tag: 'meta',
    summary: 'This OpenAPI 3.1 document',
    description: 'Generated from the same zod schemas the gateway is typed by. Open to all.',
    responses: {
      200: json('The document', OpenApiSchema),
    },
    handle: (s) => Promise.resolve({ status: 200, contentType: JSON_TYPE, body: s.openapi() }),
  }),
  rawRoute({
    id: 'getPage',
    path: '/',
    tag: 'page',
    summary: 'The live web page',
    description:
      'Products table, live price chart, candles, connection state, gaps and status events. ' +
      'With `?api_key=`, the page uses that key for /ws and REST.',
    query: { api_key: { ...cursorParam, description: 'An API key for the page to use' } },
    responses: { 200: text('The page', 'text/html') },
    errors: [404],
    handle: async (s) => {
      const f = await s.web.read('index.html', false);
      if (f === undefined)
        throw new RestError(404, 'NOT_FOUND', 'the web page is not built (npm run build)');
      return { status: 200, contentType: f.contentType, body: f.body, headers: PAGE_HEADERS };
    },
  }),
  rawRoute({
    id: 'getAsset',
    path: '/assets/{file}',
    tag: 'page',
    summary: "The page's script, style sheet and source map",
    description: 'Bundled at build time (esbuild); nothing is loaded from elsewhere.',
    pathParams: [{ name: 'file', description: 'File name, e.g. app.js', doc: z.string() }],
    responses: {
      200: {
        description: 'The file',
        content: {
          'text/javascript': z.string(),
          'text/css': z.string(),
          'application/json': z.looseObject({ version: z.literal(3) }).meta({ title: 'SourceMap' }),
        },
      },
    },
    errors: [404],
    handle: async (s, { params }) => {
      const f = await s.web.read(params.file ?? '', true);
      if (f === undefined) throw new RestError(404, 'NOT_FOUND', 'no such asset');
      return { status: 200, contentType: f.contentType, body: f.body, headers: PAGE_HEADERS };
    },
  }),
  rawRoute({
    id: 'getHealth',
    path: '/healthz',
    tag: 'probes',
    summary: 'Liveness',
    description: 'Answers while the process runs. Open to all.',
    servedBy: 'ws-server',
    responses: {
      200: json('Alive', HealthSchema),
    },
  }),
  rawRoute({
    id: 'getReady',
    path: '/readyz',
    tag: 'probes',
    summary: 'Readiness',
    description: 'Ready once the shared MD_NORM consumer has caught up; 503 with the reason.',
    servedBy: 'ws-server',
    responses: {
      200: json('Ready', ReadySchema),
      503: json('Not ready', NotReadySchema),
    },
  }),
  rawRoute({
    id: 'getMetrics',
    path: '/metrics',
    tag: 'probes',
    summary: 'Prometheus metrics',
    description: 'Text exposition format.',
    servedBy: 'ws-server',
    responses: { 200: text('Metrics', 'text/plain') },
  }),
  rawRoute({
    id: 'getWebSocket',
    path: '/ws',
    tag: 'websocket',
    summary: 'The WebSocket protocol (upgrade)',
    description:
      'See docs/protocol.md. Browsers pass an API key as `?api_key=`; Node clients may use ' +
      '`Authorization: Bearer`. A plain GET gets 426.',
    servedBy: 'ws-server',
    query: { api_key: { ...cursorParam, description: 'An API key (when keys are configured)' } },
    responses: {
      101: text('Switching to the WebSocket protocol', 'text/plain'),
      426: json('Not an upgrade request', ErrorSchema),
    },
  }),
];
