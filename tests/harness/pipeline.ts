import type { NatsConnection } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import type { Sql } from 'postgres';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { ensureTopology } from '../../services/common/topology.js';
import { loadIngestorConfig } from '../../services/ingestor/config.js';
import { Ingestor } from '../../services/ingestor/service.js';
import {
  startSimulator,
  type Simulator,
  type SimulatorOptions,
} from '../../services/sim/server.js';
import { testDatabase } from './db.js';
import { startNats, type NatsServer } from './nats.js';
import { builtWebDir, startRestGateway, type RestGateway } from './rest-gateway.js';
import { startService, type ServiceProcess } from './service.js';
import { migratedDatabase } from './snapshot-db.js';

/**
 * The whole pipeline on one machine, for tests of what a user sees: the simulator and
 * the ingestor in process (either feed: `simOpts.feed`), one normalizer and the snapshotter as real processes, and
 * the gateway (WebSocket + REST + page) in process, restartable on its port.
 */

export interface Pipeline {
  server: NatsServer;
  nc: NatsConnection;
  sql: Sql;
  dbUrl: string;
  /** The built page the gateways serve. */
  webDir: string;
  sim: Simulator;
  ingestor: Ingestor;
  services: ServiceProcess[];
  gateway: RestGateway;
  /** Stops the gateway and starts a new one on the same port. */
  restartGateway(between?: () => Promise<void>): Promise<RestGateway>;
  stop(): Promise<void>;
}

export async function startPipeline(
  products: readonly string[],
  simOpts: SimulatorOptions = {},
): Promise<Pipeline> {
  const log = createLogger('test', 'silent');
  const server = await startNats();
  const nc = await connectNats({ servers: [server.url], name: 'test', log, publishing: true });
  await ensureTopology(nc, { replicas: 1 });
  const dbUrl = await testDatabase();
  const [sql, webDir, services] = await Promise.all([
    migratedDatabase(dbUrl),
    builtWebDir(),
    Promise.all([
      startService('normalizer', {
        NATS_URL: server.url,
        PRODUCTS: products.join(','),
        SHARDS: '1',
        SHARD: '0',
        METRICS_PORT: '0',
        REORDER_WINDOW_MS: TEST_REORDER_WINDOW_MS,
      }),
      startService('snapshotter', {
        NATS_URL: server.url,
        DATABASE_URL: dbUrl,
        METRICS_PORT: '0',
        BATCH_MS: '100',
      }),
    ]),
  ]);
  const sim = await startSimulator({ seed: 7, products, ...simOpts });
  const ingestor = new Ingestor(
    loadIngestorConfig({
      NATS_URL: server.url,
      COINBASE_FEED: simOpts.feed ?? 'exchange',
      COINBASE_WS_URL: sim.url,
      PRODUCTS: products.join(','),
      SHARDS: '1',
    }),
    nc,
    log,
    new Registry(),
  );
  await ingestor.start();
  const gatewayOpts = { natsUrl: server.url, databaseUrl: dbUrl, products, webDir };
  let gateway = await startRestGateway(gatewayOpts);
  const p: Pipeline = {
    server,
    nc,
    sql,
    dbUrl,
    webDir,
    sim,
    ingestor,
    services,
    gateway,
    restartGateway: async (between) => {
      const port = gateway.port;
      await gateway.stop();
      await between?.();
      gateway = await startRestGateway({ ...gatewayOpts, port });
      p.gateway = gateway;
      return gateway;
    },
    stop: async () => {
      await p.gateway.stop().catch(() => undefined);
      await ingestor.stop().catch(() => undefined);
      await sim.stop().catch(() => undefined);
      await Promise.all(services.map((s) => s.stop().catch(() => undefined)));
      await sql.end({ timeout: 1 }).catch(() => undefined);
      await nc.close().catch(() => undefined);
      await server.stop().catch(() => undefined);
    },
  };
  return p;
}

/**
 * The normalizers' reorder window in tests whose oracle is "gaps = the simulator's
 * drops": the window bounds how long a reordered trade may lag, and on a loaded CI
 * machine the test process that runs the simulator and the ingestor can stall for longer
 * than the 250 ms default, which turns a reordered trade into an announced gap.
 */
export const TEST_REORDER_WINDOW_MS = '2000';
