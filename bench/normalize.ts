import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { createLogger } from '../services/common/logger.js';
import { connectNats, type NatsConnection } from '../services/common/nats.js';
import { ensureTopology } from '../services/common/topology.js';
import { loadIngestorConfig } from '../services/ingestor/config.js';
import { Ingestor } from '../services/ingestor/service.js';
import { loadNormalizerConfig } from '../services/normalizer/config.js';
import { createNormalizerMetrics } from '../services/normalizer/metrics.js';
import { SerializedPublisher } from '../services/normalizer/serialized-publisher.js';
import { ShardWorker } from '../services/normalizer/shard-worker.js';
import { startSimulator } from '../services/sim/server.js';
import { startNats } from '../tests/harness/nats.js';
import { waitFor } from '../tests/harness/wait.js';
import type { Benchmark } from './types.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'];
const FRAMES = 40_000;
const log = createLogger('bench', 'silent');

/** MD_RAW filled with FRAMES real frames: simulator at full speed through the ingestor. */
async function prefill(url: string, nc: NatsConnection, jsm: JetStreamManager): Promise<number> {
  const sim = await startSimulator({
    rate: 'max',
    backpressure: true,
    products: PRODUCTS,
    seed: 5,
  });
  const ingestor = new Ingestor(
    loadIngestorConfig({ NATS_URL: url, COINBASE_WS_URL: sim.url, PRODUCTS: PRODUCTS.join(',') }),
    nc,
    log,
    new Registry(),
  );
  await ingestor.start();
  await waitFor(
    'MD_RAW prefilled',
    async () => (await jsm.streams.info('MD_RAW')).state.messages >= FRAMES,
    { timeoutMs: 120_000, intervalMs: 200 },
  );
  await ingestor.stop();
  await sim.stop();
  return (await jsm.streams.info('MD_RAW')).state.messages;
}

async function drained(jsm: JetStreamManager, durable: string): Promise<void> {
  await waitFor(
    `${durable} drained`,
    async () => {
      const c = await jsm.consumers.info('MD_RAW', durable);
      return c.num_pending === 0 && c.num_ack_pending === 0;
    },
    { timeoutMs: 300_000, intervalMs: 20 },
  );
}

/** The raw chain: consume → publish (serialized per subject, like the normalizer) → ack. */
async function rawChain(nc: NatsConnection, jsm: JetStreamManager, total: number): Promise<number> {
  await jsm.consumers.add('MD_RAW', {
    durable_name: 'bench-raw',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 2000,
  });
  const consumer = await jetstream(nc).consumers.get('MD_RAW', 'bench-raw');
  const pub = new SerializedPublisher(nc, jsm, 'MD_NORM', log);
  const t0 = performance.now();
  const messages = await consumer.consume({ max_messages: 500, expires: 2000 });
  let seen = 0;
  const done = (async () => {
    for await (const m of messages) {
      const product = m.subject.split('.')[4] ?? 'X';
      const seq = m.seq;
      void pub
        .publish(`md.norm.coinbase.${product}.bench`, m.data, `bench:${String(seq)}`, {
          'Lf-Src': String(seq),
        })
        .then(() => {
          m.ack();
        });
      if (++seen >= total) break;
    }
  })();
  await drained(jsm, 'bench-raw');
  const rate = (total * 1000) / (performance.now() - t0);
  await messages.close();
  await done;
  pub.stop();
  return rate;
}

async function throughShard(
  url: string,
  nc: NatsConnection,
  jsm: JetStreamManager,
  total: number,
): Promise<number> {
  const config = loadNormalizerConfig({
    NATS_URL: url,
    PRODUCTS: PRODUCTS.join(','),
    SHARDS: '1',
    SHARD: '0',
    METRICS_PORT: '0',
  });
  const worker = new ShardWorker(config, nc, log, createNormalizerMetrics(new Registry(), 0));
  const t0 = performance.now();
  await worker.start();
  await drained(jsm, 'normalizer-0');
  const rate = (total * 1000) / (performance.now() - t0);
  await worker.stop();
  return rate;
}

export const normalizeBenchmark: Benchmark = {
  description: `one normalizer shard draining ${String(FRAMES)} prefilled MD_RAW frames, beside consume → serialized publish → ack`,
  async run() {
    const server = await startNats();
    try {
      const nc = await connectNats({ servers: [server.url], name: 'bench', log, publishing: true });
      await ensureTopology(nc, { replicas: 1 });
      const jsm = await jetstreamManager(nc);
      const total = await prefill(server.url, nc, jsm);
      const base = await rawChain(nc, jsm, total);
      await jsm.streams.purge('MD_NORM');
      const shard = await throughShard(server.url, nc, jsm, total);
      await nc.close();
      return [
        {
          name: 'normalize: frames through one shard',
          value: shard,
          unit: 'frames/s',
          baseline: base,
          target: '>= 70% of baseline',
          details: { frames: total },
        },
      ];
    } finally {
      await server.stop();
    }
  },
};
