import type { NatsConnection } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import type { Normalized } from '../../services/common/schemas/normalized.js';
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
import { startNats, type NatsServer } from './nats.js';
import { TEST_REORDER_WINDOW_MS } from './pipeline.js';
import { startService, type ServiceProcess } from './service.js';

/**
 * The pipeline below the gateway, for tests of ordering and books: a nats-server of its
 * own, the simulator and the ingestor in process (either feed: `simOpts.feed`), and
 * `shards` normalizers as real processes.
 */
export interface ShardRig {
  server: NatsServer;
  nc: NatsConnection;
  sim: Simulator;
  ingestor: Ingestor;
  /** The ingestor's metrics. */
  registry: Registry;
  shards: ServiceProcess[];
  /** Starts normalizer k again (after a kill). */
  normalizer(shard: number): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export interface ShardRigOptions {
  products: readonly string[];
  shards?: number;
  sim: SimulatorOptions;
  ingestorEnv?: Record<string, string>;
  normalizerEnv?: Record<string, string>;
}

const log = createLogger('test', 'silent');

export async function startShardRig(opts: ShardRigOptions): Promise<ShardRig> {
  const shardCount = opts.shards ?? 2;
  const server = await startNats();
  const nc = await connectNats({ servers: [server.url], name: 'test', log, publishing: true });
  await ensureTopology(nc, { replicas: 1 });
  const normalizer = (shard: number) =>
    startService('normalizer', {
      NATS_URL: server.url,
      PRODUCTS: opts.products.join(','),
      SHARDS: String(shardCount),
      SHARD: String(shard),
      METRICS_PORT: '0',
      REORDER_WINDOW_MS: TEST_REORDER_WINDOW_MS,
      ...opts.normalizerEnv,
    });
  const shards: ServiceProcess[] = [];
  for (let k = 0; k < shardCount; k++) shards.push(await normalizer(k));
  const sim = await startSimulator({ products: opts.products, ...opts.sim });
  const registry = new Registry();
  const ingestor = new Ingestor(
    loadIngestorConfig({
      NATS_URL: server.url,
      COINBASE_FEED: opts.sim.feed ?? 'exchange',
      COINBASE_WS_URL: sim.url,
      PRODUCTS: opts.products.join(','),
      SHARDS: String(shardCount),
      ...opts.ingestorEnv,
    }),
    nc,
    log,
    registry,
  );
  await ingestor.start();
  const rig: ShardRig = {
    server,
    nc,
    sim,
    ingestor,
    registry,
    shards,
    normalizer,
    stop: async () => {
      await Promise.all(rig.shards.map((s) => s.stop().catch(() => undefined)));
      await ingestor.stop().catch(() => undefined);
      await sim.stop().catch(() => undefined);
      await nc.close().catch(() => undefined);
      await server.stop().catch(() => undefined);
    },
  };
  return rig;
}

/** The sum of a prom-client metric's values whose labels match. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((n, v) => n + v.value, 0);
}

/** The MD_NORM messages of one type and product, in stream order. */
export function messagesOf<T extends Normalized['type']>(
  msgs: Normalized[],
  type: T,
  product: string,
): Extract<Normalized, { type: T }>[] {
  return msgs.filter(
    (m): m is Extract<Normalized, { type: T }> => m.type === type && m.product === product,
  );
}
