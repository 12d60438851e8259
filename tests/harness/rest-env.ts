import type { NatsConnection } from '@nats-io/nats-core';
import type { Sql } from 'postgres';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import type { Normalized } from '../../services/common/schemas/normalized.js';
import { ensureTopology } from '../../services/common/topology.js';
import { testDatabase } from './db.js';
import { startNats, type NatsServer } from './nats.js';
import { generateNormalized, publishNormalized } from './norm-stream.js';
import { fetchChecked, OpenApiChecker, type ApiResponse } from './openapi-check.js';
import {
  builtWebDir,
  startRestGateway,
  type RestGateway,
  type RestGatewayOptions,
} from './rest-gateway.js';
import { startService, type ServiceProcess } from './service.js';
import { migratedDatabase, waitForCheckpoint } from './snapshot-db.js';

/**
 * The REST tests' world: a private nats-server with the topology, a database of its own
 * filled by the real snapshotter (a process) from a generated MD_NORM stream, and the
 * gateway with REST and the page in process. SOL-USD is configured but has no data.
 * `get` validates every response against the served OpenAPI document.
 */

export const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'] as const;
export const WITH_DATA = ['BTC-USD', 'ETH-USD'];
export const START_US = Date.UTC(2024, 0, 1, 6) * 1000;

export interface Published {
  msg: Normalized;
  offset: number;
}

export interface RestEnv {
  server: NatsServer;
  nc: NatsConnection;
  /** The test's own pool on the snapshotter's database. */
  sql: Sql;
  dbUrl: string;
  /** In stream order. */
  published: Published[];
  gateway: RestGateway;
  checker: OpenApiChecker;
  /** GET (or `init`) against the gateway; GET responses are checked against the document. */
  get<T = Record<string, unknown>>(path: string, init?: RequestInit): Promise<ApiResponse<T>>;
  /** Another gateway on the same NATS (stopped by stop()). */
  another(opts: Partial<RestGatewayOptions>): Promise<RestGateway>;
  stop(): Promise<void>;
}

export async function startRestEnv(opts: { count: number; seed: number }): Promise<RestEnv> {
  const log = createLogger('test', 'silent');
  const server = await startNats();
  const nc = await connectNats({ servers: [server.url], name: 'test', log, publishing: true });
  await ensureTopology(nc, { replicas: 1 });
  const dbUrl = await testDatabase();
  const sql = await migratedDatabase(dbUrl);
  const msgs = generateNormalized({
    products: WITH_DATA,
    count: opts.count,
    seed: opts.seed,
    startUs: START_US,
    stepUs: 3_000_000,
  });
  const seqs = await publishNormalized(nc, msgs);
  const published = msgs
    .map((msg, i) => ({ msg, offset: seqs[i] ?? 0 }))
    .sort((a, b) => a.offset - b.offset);
  const services: ServiceProcess[] = [];
  services.push(
    await startService('snapshotter', {
      NATS_URL: server.url,
      DATABASE_URL: dbUrl,
      METRICS_PORT: '0',
      SNAPSHOT_INTERVAL_MS: '10000',
      BATCH_MS: '50',
    }),
  );
  const webDir = await builtWebDir();
  const base: RestGatewayOptions = {
    natsUrl: server.url,
    databaseUrl: dbUrl,
    products: PRODUCTS,
    webDir,
  };
  const gateways: RestGateway[] = [];
  const gateway = await startRestGateway(base);
  gateways.push(gateway);
  await waitForCheckpoint(sql, published.at(-1)?.offset ?? 0, 60_000);
  const doc = (await (await fetch(`${gateway.base}/v1/openapi.json`)).json()) as unknown;
  const checker = new OpenApiChecker(doc);
  return {
    server,
    nc,
    sql,
    dbUrl,
    published,
    gateway,
    checker,
    get: (path, init) => fetchChecked(checker, gateway.base, path, init),
    another: async (o) => {
      const g = await startRestGateway({ ...base, ...o });
      gateways.push(g);
      return g;
    },
    stop: async () => {
      for (const g of gateways.reverse()) await g.stop().catch(() => undefined);
      await Promise.all(services.map((s) => s.stop().catch(() => undefined)));
      await sql.end({ timeout: 1 }).catch(() => undefined);
      await nc.close().catch(() => undefined);
      await server.stop().catch(() => undefined);
    },
  };
}
