import path from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../../services/common/logger.js';
import { connectFromConfig } from '../../services/common/nats.js';
import { loadGatewayConfig } from '../../services/gateway/config.js';
import { startGateway, type Gateway } from '../../services/gateway/gateway.js';
import { createHttpApi, type HttpApi } from '../../services/gateway/http-api.js';
import { connectReadPool } from '../../services/gateway/rest/db.js';
import { buildWeb } from '../../services/gateway/web/build.js';
import { makeTempDir } from './processes.js';
import { waitFor } from './wait.js';

/**
 * The gateway as main.ts wires it (WebSocket + REST + page), in process: its own NATS
 * connection, a read pool on DATABASE_URL, the routes from http-api.ts. Port 0 unless
 * given (a restart reuses the port, as a browser reconnecting to the same URL needs).
 */

export interface RestGateway {
  gw: Gateway;
  api: HttpApi;
  nc: NatsConnection;
  registry: Registry;
  port: number;
  /** http://127.0.0.1:<port> */
  base: string;
  stop(): Promise<void>;
}

export interface RestGatewayOptions {
  natsUrl: string;
  databaseUrl: string;
  products: readonly string[];
  port?: number;
  /** Extra GATEWAY_* variables. */
  env?: Record<string, string>;
  webDir?: string;
  log?: Logger;
  /** Wait until /readyz would say ready (default true). */
  waitReady?: boolean;
}

export async function startRestGateway(opts: RestGatewayOptions): Promise<RestGateway> {
  const log = opts.log ?? createLogger('gateway', 'silent');
  const config = loadGatewayConfig({
    NATS_URL: opts.natsUrl,
    DATABASE_URL: opts.databaseUrl,
    PRODUCTS: opts.products.join(','),
    GATEWAY_PORT: String(opts.port ?? 0),
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_CLOSE_GRACE_MS: '200',
    ...opts.env,
  });
  const nc = await connectFromConfig(config, { name: 'gateway', log });
  const sql = connectReadPool(config.DATABASE_URL, {
    max: config.GATEWAY_DB_POOL_MAX,
    statementTimeoutMs: config.GATEWAY_DB_STATEMENT_TIMEOUT_MS,
  });
  const registry = new Registry();
  const api = createHttpApi({
    products: config.PRODUCTS,
    sql,
    nc,
    log,
    registry,
    webDir: opts.webDir ?? config.GATEWAY_WEB_DIR,
  });
  const gw = await startGateway(config, { nc, log, registry, routes: api.routes });
  if (opts.waitReady ?? true) {
    await waitFor('gateway ready', () => gw.readiness().ready, { timeoutMs: 30_000 });
  }
  return {
    gw,
    api,
    nc,
    registry,
    port: gw.port,
    base: `http://127.0.0.1:${String(gw.port)}`,
    stop: async () => {
      await gw.stop();
      await sql.end({ timeout: 1 });
      await nc.close();
    },
  };
}

let built: Promise<string> | undefined;

/** The page, built once per test file into a temp dir (removed with the file's processes). */
export function builtWebDir(): Promise<string> {
  built ??= (async () => {
    const out = path.join(await makeTempDir('lf-web-'), 'web');
    await buildWeb(out, { minify: false });
    return out;
  })();
  return built;
}
