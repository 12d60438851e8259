/**
 * REST contract: bad parameters get a 4xx with a stable code and a message naming the
 * parameter; API keys (401 before anything else); PostgreSQL or NATS unavailable (503,
 * the other side still serving); the page, assets and probes; and the OpenAPI document:
 * every route of the table documented, and every documented response produced here and
 * valid against its documented schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { ensureTopology } from '../../services/common/topology.js';
import { ROUTES } from '../../services/gateway/rest/routes.js';
import { isoFromUs } from '../../services/common/time.js';
import { freePort } from '../harness/free-port.js';
import { startNats } from '../harness/nats.js';
import { fetchChecked } from '../harness/openapi-check.js';
import { makeTempDir } from '../harness/processes.js';
import { START_US, startRestEnv, type RestEnv } from '../harness/rest-env.js';
import { startRestGateway } from '../harness/rest-gateway.js';
import { waitFor } from '../harness/wait.js';

let env: RestEnv;
beforeAll(async () => {
  env = await startRestEnv({ count: 600, seed: 3 });
}, 120_000);
afterAll(() => env.stop());

type ErrorBody = { code: string; message: string };
const FROM = isoFromUs(START_US);
const TO = isoFromUs(START_US + 3_600_000_000);
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

/** A valid request of every http-api route (for the 401 and 503 sweeps). */
const VALID: Record<string, string> = {
  listProducts: '/v1/products',
  getProduct: '/v1/products/BTC-USD',
  getStateAt: `/v1/products/BTC-USD/state?${q({ at: TO })}`,
  getCandles: `/v1/products/BTC-USD/candles?${q({ from: FROM, to: TO, interval: '1m' })}`,
  getTrades: `/v1/products/BTC-USD/trades?${q({ from: FROM, to: TO })}`,
  getGaps: `/v1/products/BTC-USD/gaps?${q({ from: FROM, to: TO })}`,
  getOpenApi: '/v1/openapi.json',
  getPage: '/',
  getAsset: '/assets/app.js',
};

describe('bad parameters', () => {
  const CASES: [string, number, string, RegExp][] = [
    ...['', '/state', '/candles', '/trades', '/gaps'].map(
      (sub): [string, number, string, RegExp] => [
        `/v1/products/DOGE-USD${sub}`,
        404,
        'UNKNOWN_PRODUCT',
        /^unknown product; configured: BTC-USD, ETH-USD, SOL-USD$/,
      ],
    ),
    ['/v1/products?depth=0', 400, 'BAD_REQUEST', /^depth: must be an integer in 1\.\.1000/],
    ['/v1/products/BTC-USD?depth=ten', 400, 'BAD_REQUEST', /^depth/],
    ['/v1/products?form=2024-01-01T00:00:00Z', 400, 'BAD_REQUEST', /unknown query parameter/],
    ['/v1/products/BTC-USD/state', 400, 'BAD_REQUEST', /^at: required/],
    ['/v1/products/BTC-USD/state?at=noon', 400, 'BAD_TIME', /^at: not an RFC 3339 time/],
    ['/v1/products/BTC-USD/state?at=2024-02-30T00:00:00Z', 400, 'BAD_TIME', /^at:/],
    [`/v1/products/BTC-USD/state?at=${'9'.repeat(5000)}`, 400, 'BAD_TIME', /^at:.{0,100}$/],
    [
      `/v1/products/BTC-USD/candles?${q({ from: FROM, to: TO })}`,
      400,
      'BAD_REQUEST',
      /^interval: required/,
    ],
    [
      `/v1/products/BTC-USD/candles?${q({ from: FROM, to: TO, interval: '2m' })}`,
      400,
      'BAD_INTERVAL',
      /1m, 5m, 15m, 1h, 1d/,
    ],
    [
      `/v1/products/BTC-USD/candles?${q({ from: FROM, to: TO, interval: 'toString' })}`,
      400,
      'BAD_INTERVAL',
      /^interval/,
    ],
    [
      `/v1/products/BTC-USD/candles?${q({ from: TO, to: FROM, interval: '1m' })}`,
      400,
      'BAD_RANGE',
      /from must be before to/,
    ],
    [
      `/v1/products/BTC-USD/candles?${q({ from: FROM, to: FROM, interval: '1m' })}`,
      400,
      'BAD_RANGE',
      /before/,
    ],
    [
      `/v1/products/BTC-USD/candles?${q({ from: '2000-01-01T00:00:00Z', to: TO, interval: '1m' })}`,
      400,
      'BAD_RANGE',
      /more than 10000 1m candles/,
    ],
    [
      `/v1/products/BTC-USD/candles?${q({ from: FROM, to: TO, interval: '1m', limit: '100000' })}`,
      400,
      'BAD_LIMIT',
      /^limit: must be an integer in 1\.\.10000/,
    ],
    [
      `/v1/products/BTC-USD/candles?${q({ from: FROM, to: TO, interval: '1m', limit: '1.5' })}`,
      400,
      'BAD_LIMIT',
      /^limit/,
    ],
    [
      `/v1/products/BTC-USD/candles?interval=1m&interval=5m&${q({ from: FROM, to: TO })}`,
      400,
      'BAD_REQUEST',
      /^interval: given more than once/,
    ],
    ['/v1/products/BTC-USD/trades', 400, 'BAD_REQUEST', /from and to .* or from_id and to_id/],
    [`/v1/products/BTC-USD/trades?${q({ from: FROM })}`, 400, 'BAD_REQUEST', /either/],
    [
      `/v1/products/BTC-USD/trades?${q({ from: FROM, to: TO, from_id: '1', to_id: '2' })}`,
      400,
      'BAD_REQUEST',
      /either/,
    ],
    [
      `/v1/products/BTC-USD/trades?${q({ from_id: '20', to_id: '10' })}`,
      400,
      'BAD_RANGE',
      /fromId > toId/,
    ],
    [
      `/v1/products/BTC-USD/trades?${q({ from_id: 'abc', to_id: '10' })}`,
      400,
      'BAD_RANGE',
      /^from_id: must be a trade id/,
    ],
    [
      `/v1/products/BTC-USD/trades?${q({ from: FROM, to: TO, cursor: 'x!y' })}`,
      400,
      'BAD_CURSOR',
      /^cursor/,
    ],
    [
      `/v1/products/BTC-USD/trades?${q({ from: FROM, to: TO, cursor: 'aXwxMjM' })}`,
      400,
      'BAD_CURSOR',
      /cursor/,
    ],
    [
      `/v1/products/BTC-USD/trades?${q({ from: FROM, to: TO, limit: '10001' })}`,
      400,
      'BAD_LIMIT',
      /^limit/,
    ],
    [`/v1/products/BTC-USD/gaps?${q({ from: TO, to: FROM })}`, 400, 'BAD_RANGE', /before/],
    [
      `/v1/products/BTC-USD/gaps?${q({ from: FROM, to: TO, limit: '0' })}`,
      400,
      'BAD_LIMIT',
      /^limit/,
    ],
  ];

  it.each(CASES)('%s → %i %s', async (path, status, code, message) => {
    const res = await env.get<ErrorBody>(path);
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    expect(res.body.message).toMatch(message);
  });

  it('answers an unknown path 404, another method 405, HEAD like GET without a body', async () => {
    const base = env.gateway.base;
    for (const path of ['/v1/nope', '/v1/products/', '/assets']) {
      const res = await fetch(`${base}${path}`);
      expect([res.status, ((await res.json()) as ErrorBody).code], path).toEqual([
        404,
        'NOT_FOUND',
      ]);
    }
    const post = await env.get<ErrorBody>('/v1/products', { method: 'POST', body: '{}' });
    expect([post.status, post.body.code, post.headers.get('allow')]).toEqual([
      405,
      'METHOD_NOT_ALLOWED',
      'GET, HEAD',
    ]);
    const head = await env.get<string>('/v1/products/BTC-USD', { method: 'HEAD' });
    expect([head.status, head.body]).toEqual([200, '']);
  });
});

describe('API keys (GATEWAY_API_KEYS)', () => {
  it('REST needs Authorization: Bearer before anything else; the page, probes and document stay open', async () => {
    const g = await env.another({ env: { GATEWAY_API_KEYS: 'k-one,k-two' } });
    const get = <T = ErrorBody>(path: string, key?: string) =>
      fetchChecked<T>(
        env.checker,
        g.base,
        path,
        key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } },
      );
    for (const route of ROUTES.filter((r) => r.servedBy === 'http-api')) {
      const path = VALID[route.id] ?? '';
      expect(path, route.id).not.toBe('');
      if (!route.auth) {
        expect((await get(path)).status, route.id).toBe(200);
        continue;
      }
      const none = await get(path);
      expect([none.status, none.body.code], route.id).toEqual([401, 'UNAUTHORIZED']);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await get(path, 'k-three')).status, `${route.id} wrong key`).toBe(401);
      expect((await get(path, 'k-two')).status, `${route.id} right key`).toBe(200);
    }
    // No information before the key: an unknown product is still a 401.
    expect((await get('/v1/products/DOGE-USD')).status).toBe(401);
    expect((await get('/healthz')).status).toBe(200);
  });
});

describe('unavailable dependencies', () => {
  it('PostgreSQL down: history answers 503 UNAVAILABLE, current state still 200', async () => {
    const g = await env.another({
      databaseUrl: `postgres://nobody@127.0.0.1:${String(await freePort())}/none`,
      webDir: await makeTempDir('lf-no-web-'),
    });
    const get = (path: string) => fetchChecked<ErrorBody>(env.checker, g.base, path);
    for (const id of ['getStateAt', 'getCandles', 'getTrades', 'getGaps']) {
      const res = await get(VALID[id] ?? '');
      expect([res.status, res.body.code], id).toEqual([503, 'UNAVAILABLE']);
      expect(res.headers.get('retry-after')).toBe('1');
    }
    expect((await get('/v1/products/BTC-USD')).status).toBe(200);
    const page = await get('/');
    expect([page.status, page.body.code, page.body.message]).toEqual([
      404,
      'NOT_FOUND',
      'the web page is not built (npm run build)',
    ]);
  });

  it('NATS down: current state answers 503 and /readyz says why, history still 200', async () => {
    const server = await startNats();
    try {
      const nc = await connectNats({
        servers: [server.url],
        name: 't',
        log: createLogger('t', 'silent'),
      });
      await ensureTopology(nc, { replicas: 1 });
      await nc.close();
      const g = await startRestGateway({
        natsUrl: server.url,
        databaseUrl: env.dbUrl,
        products: ['BTC-USD'],
      });
      try {
        const get = (path: string) => fetchChecked<ErrorBody>(env.checker, g.base, path);
        expect((await get('/v1/products')).status).toBe(200);
        await server.kill();
        const started = Date.now();
        const ids = ['listProducts', 'getProduct'];
        const answers = await Promise.all(ids.map((id) => get(VALID[id] ?? '')));
        answers.forEach((res, i) => {
          expect([res.status, res.body.code], ids[i]).toEqual([503, 'UNAVAILABLE']);
        });
        console.log(`503 while NATS is down after ${String(Date.now() - started)} ms`);
        await waitFor('readyz 503', async () => (await get('/readyz')).status === 503);
        expect((await get(VALID.getGaps ?? '')).status).toBe(200);
      } finally {
        await g.stop();
      }
    } finally {
      await server.stop();
    }
  });
});

describe('the page, assets and probes', () => {
  it('serves the built page and its bundle with a strict CSP, and nothing outside them', async () => {
    const page = await env.get<string>('/?api_key=ignored-here');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    expect(page.body).toContain('<script type="module" src="assets/app.js"></script>');
    const types = {
      'app.js': 'text/javascript',
      'app.css': 'text/css',
      'app.js.map': 'application/json',
    };
    for (const [file, type] of Object.entries(types)) {
      const res = await env.get<string>(`/assets/${file}`);
      expect([res.status, res.headers.get('content-type')?.split(';')[0]], file).toEqual([
        200,
        type,
      ]);
    }
    for (const bad of [
      '..%2F..%2Fpackage.json',
      '.env',
      'index.html',
      'nope.js',
      '..%2Findex.html',
    ]) {
      expect((await env.get(`/assets/${bad}`)).status, bad).toBe(404);
    }
  });

  it('keeps the probes of ws-server.ts, documented: /healthz, /readyz, /metrics, /ws', async () => {
    expect((await env.get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await env.get('/readyz')).body).toEqual({ status: 'ready' });
    expect((await env.get('/v1/products')).status).toBe(200);
    const metrics = await env.get<string>('/metrics');
    expect(metrics.body).toMatch(
      /ledgerflux_gateway_http_requests_total\{route="listProducts",status="200"\} [1-9]/,
    );
    expect(metrics.body).toMatch(
      /ledgerflux_gateway_http_request_duration_seconds_bucket\{le="0\.005",route="getCandles"\}/,
    );
    expect((await env.get<ErrorBody>('/ws')).status).toBe(426);
  });
});

describe('/v1/openapi.json', () => {
  it('documents every route of the table, exactly, with its parameters and security', async () => {
    const res = await env.get<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(
      '/v1/openapi.json',
    );
    expect(res.body.openapi).toBe('3.1.0');
    const paths = res.body.paths;
    expect(Object.keys(paths).sort()).toEqual(ROUTES.map((r) => r.path).sort());
    const ids = new Set<string>();
    for (const route of ROUTES) {
      const op = paths[route.path]?.get as {
        operationId: string;
        security?: unknown[];
        parameters?: { name: string; in: string; required: boolean }[];
      };
      expect(Object.keys(paths[route.path] ?? {}), route.path).toEqual(['get']);
      expect(op.operationId).toBe(route.id);
      ids.add(op.operationId);
      expect(op.security, route.id).toEqual(route.auth ? undefined : []);
      const inPath = [...route.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]);
      expect(
        op.parameters?.filter((p) => p.in === 'path').map((p) => p.name) ?? [],
        route.id,
      ).toEqual(inPath);
      expect(
        op.parameters?.filter((p) => p.in === 'query').map((p) => [p.name, p.required]) ?? [],
      ).toEqual(Object.entries(route.query).map(([n, p]) => [n, p.required]));
    }
    expect(ids.size).toBe(ROUTES.length);
  });

  // Runs last in this file (vitest keeps the order): the tests above produced every response.
  it('every documented response was produced by a test here and matched its schema', () => {
    const missing = env.checker
      .documented()
      .filter((r) => !env.checker.exercised.has(r) && r !== 'getWebSocket 101');
    expect(missing).toEqual([]);
    console.log(`documented responses checked: ${String(env.checker.exercised.size)}`);
  });
});
