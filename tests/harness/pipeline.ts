import type { NatsConnection } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import type { Sql } from 'postgres';
import { readFile } from 'node:fs/promises';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { randomSecret } from '../../services/common/secrets.js';
import { ensureDbLogins } from '../../services/migrate/db-logins.js';
import { ensureTopology } from '../../services/common/topology.js';
import { loadIngestorConfig } from '../../services/ingestor/config.js';
import { Ingestor } from '../../services/ingestor/service.js';
import {
  startSimulator,
  type Simulator,
  type SimulatorOptions,
} from '../../services/sim/server.js';
import { secureNats, type SecureNats } from './credentials.js';
import { testDatabase } from './db.js';
import { captureLogger } from './log-capture.js';
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
  /** With `secure`: the NATS users and the database logins the services were given. */
  secure?: SecurePipeline;
  /** Every log line of the run so far: the service processes' and the in-process ones'. */
  logs(): Promise<string[]>;
  /** Stops the gateway and starts a new one on the same port. */
  restartGateway(between?: () => Promise<void>): Promise<RestGateway>;
  stop(): Promise<void>;
}

export interface SecurePipeline {
  nats: SecureNats;
  /** The snapshotter's and the gateway's database URLs (their own logins). */
  snapshotterDbUrl: string;
  gatewayDbUrl: string;
  /** Every configured secret (NATS and database passwords). */
  secrets(): string[];
}

export interface PipelineOptions {
  /**
   * Least privilege (issue 15): nats-server with one user per service, the topology
   * created by the `migrate` user, each service given only its own NATS credentials and
   * database login; the test's own connection and database session stay unrestricted.
   */
  secure?: boolean;
}

/** Database logins with unique names: roles are shared by the whole test cluster. */
async function secureDatabase(sql: Sql, dbUrl: string, nats: SecureNats): Promise<SecurePipeline> {
  const tag = randomSecret()
    .slice(0, 8)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x');
  const snap = {
    service: 'snapshotter',
    user: `lf_snap_${tag}`,
    password: randomSecret(),
  } as const;
  const gw = { service: 'gateway', user: `lf_gw_${tag}`, password: randomSecret() } as const;
  await ensureDbLogins(sql, [snap, gw], createLogger('test', 'silent'));
  const urlFor = (l: { user: string; password: string }) => {
    const u = new URL(dbUrl);
    u.username = l.user;
    u.password = l.password;
    return u.toString();
  };
  return {
    nats,
    snapshotterDbUrl: urlFor(snap),
    gatewayDbUrl: urlFor(gw),
    secrets: () => [...nats.secrets(), snap.password, gw.password],
  };
}

export async function startPipeline(
  products: readonly string[],
  simOpts: SimulatorOptions = {},
  opts: PipelineOptions = {},
): Promise<Pipeline> {
  const log = createLogger('test', 'silent');
  const creds = opts.secure === true ? secureNats(1) : undefined;
  const server = await startNats(creds === undefined ? {} : { authorization: creds.authorization });
  const login = (u: { user: string; password: string } | undefined) =>
    u === undefined ? {} : { user: u.user, pass: u.password };
  const nc = await connectNats({
    servers: [server.url],
    name: 'test',
    log,
    publishing: true,
    ...login(creds?.admin),
  });
  if (creds === undefined) {
    await ensureTopology(nc, { replicas: 1 });
  } else {
    const mc = await connectNats({
      servers: [server.url],
      name: 'migrate',
      log,
      ...login(creds.users.migrate),
    });
    await ensureTopology(mc, { replicas: 1 }).finally(() => mc.close());
  }
  const dbUrl = await testDatabase();
  const sql = await migratedDatabase(dbUrl);
  const secure = creds === undefined ? undefined : await secureDatabase(sql, dbUrl, creds);
  const natsEnv = (u: 'normalizer' | 'snapshotter'): Record<string, string> =>
    creds === undefined ? {} : creds.env(u);
  const [webDir, services] = await Promise.all([
    builtWebDir(),
    Promise.all([
      startService('normalizer', {
        ...natsEnv('normalizer'),
        NATS_URL: server.url,
        PRODUCTS: products.join(','),
        SHARDS: '1',
        SHARD: '0',
        METRICS_PORT: '0',
        REORDER_WINDOW_MS: TEST_REORDER_WINDOW_MS,
      }),
      startService('snapshotter', {
        ...natsEnv('snapshotter'),
        NATS_URL: server.url,
        DATABASE_URL: secure?.snapshotterDbUrl ?? dbUrl,
        METRICS_PORT: '0',
        BATCH_MS: '100',
      }),
    ]),
  ]);
  const sim = await startSimulator({ seed: 7, products, ...simOpts });
  // Secure: the in-process ingestor and gateway get their own connections and loggers
  // whose lines logs() returns.
  const ingestorLog = captureLogger('ingestor');
  const gatewayLog = captureLogger('gateway');
  const ingestorNc =
    creds === undefined
      ? nc
      : await connectNats({
          servers: [server.url],
          name: 'ingestor',
          log: ingestorLog.log,
          publishing: true,
          ...login(creds.users.ingestor),
        });
  const ingestor = new Ingestor(
    loadIngestorConfig({
      NATS_URL: server.url,
      COINBASE_FEED: simOpts.feed ?? 'exchange',
      COINBASE_WS_URL: sim.url,
      PRODUCTS: products.join(','),
      SHARDS: '1',
    }),
    ingestorNc,
    creds === undefined ? log : ingestorLog.log,
    new Registry(),
  );
  await ingestor.start();
  const gatewayOpts = {
    natsUrl: server.url,
    databaseUrl: secure?.gatewayDbUrl ?? dbUrl,
    products,
    webDir,
    ...(creds === undefined ? {} : { env: creds.env('gateway'), log: gatewayLog.log }),
  };
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
    ...(secure === undefined ? {} : { secure }),
    logs: async () => {
      const files = await Promise.all(services.map((s) => readFile(s.logFile, 'utf8')));
      const inProcess = [...ingestorLog.lines(), ...gatewayLog.lines()].map((l) =>
        JSON.stringify(l),
      );
      return [...files.flatMap((f) => f.split('\n')), ...inProcess].filter((l) => l !== '');
    },
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
      if (ingestorNc !== nc) await ingestorNc.close().catch(() => undefined);
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
