import { jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { createLogger } from '../services/common/logger.js';
import { connectNats } from '../services/common/nats.js';
import { Publisher } from '../services/common/publisher.js';
import { nowUs } from '../services/common/schemas/headers.js';
import { rawMsgId, rawSubject } from '../services/common/subjects.js';
import { ensureTopology } from '../services/common/topology.js';
import { loadIngestorConfig } from '../services/ingestor/config.js';
import { subscribeMessage } from '../services/ingestor/core/subscribe.js';
import { Ingestor } from '../services/ingestor/service.js';
import { startSimulator } from '../services/sim/server.js';
import { startNats } from '../tests/harness/nats.js';
import type { Benchmark } from './types.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'];
const CHANNELS = ['heartbeat', 'ticker', 'matches', 'level2_batch'] as const;
const WINDOW = 256;
const WARMUP_MS = 1_500;
const MEASURE_MS = 8_000;
const log = createLogger('bench', 'silent');
const CONN_ID = '0123456789abcdef0123456789abcdef';

/** Frames stored per second between warmup and the end, from a counter read twice. */
async function measure(count: () => Promise<number> | number): Promise<number> {
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const a = await count();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, MEASURE_MS));
  const b = await count();
  return ((b - a) * 1000) / (performance.now() - t0);
}

/** Simulator at full speed → a plain `ws` client → the same publisher, same window. */
/**
 * `withHeaders`: publish with the four headers every MD_RAW frame must carry (DESIGN.md
 * "Raw frames"), so the comparison isolates what the ingestor adds (classification,
 * routing, dedup, markers, metrics) from what any contract-conforming publisher pays.
 */
async function baseline(natsUrl: string, withHeaders: boolean): Promise<number> {
  const nc = await connectNats({
    servers: [natsUrl],
    name: 'bench-baseline',
    log,
    publishing: true,
  });
  const sim = await startSimulator({
    rate: 'max',
    backpressure: true,
    products: PRODUCTS,
    seed: 3,
  });
  const pub = new Publisher(nc, { window: WINDOW, log });
  let stored = 0;
  let seq = 0;
  const ws = new WebSocket(sim.url, { maxPayload: 64 * 1024 * 1024, perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  ws.send(JSON.stringify(subscribeMessage('subscribe', CHANNELS, PRODUCTS)));
  let paused = false;
  ws.on('message', (data: Buffer) => {
    const product =
      /"product_id":"([A-Z]+-[A-Z]+)"/.exec(data.toString('latin1', 0, 200))?.[1] ?? 'BTC-USD';
    seq++;
    void pub
      .publish({
        subject: rawSubject('coinbase', 0, product),
        payload: data,
        msgId: rawMsgId.connScoped('coinbase', product, 'bench', 'baseline', seq),
        ...(withHeaders
          ? {
              headers: {
                'Lf-Recv-Us': String(nowUs()),
                'Lf-Conn-Id': CONN_ID,
                'Lf-Conn-Seq': String(seq),
                'Lf-Type': 'bench',
              },
            }
          : {}),
      })
      .then((o) => {
        if (o.kind === 'stored') stored++;
      });
    if (!pub.hasRoom() && !paused) {
      paused = true;
      ws.pause();
      void pub.waitForRoom().then(() => {
        paused = false;
        ws.resume();
      });
    }
  });
  const rate = await measure(() => stored);
  ws.terminate();
  await pub.close();
  await sim.stop();
  await nc.close();
  return rate;
}

async function throughIngestor(natsUrl: string): Promise<{ rate: number; p99PublishMs: number }> {
  const nc = await connectNats({
    servers: [natsUrl],
    name: 'bench-ingestor',
    log,
    publishing: true,
  });
  const sim = await startSimulator({
    rate: 'max',
    backpressure: true,
    products: PRODUCTS,
    seed: 4,
  });
  const registry = new Registry();
  const config = loadIngestorConfig({
    NATS_URL: natsUrl,
    COINBASE_WS_URL: sim.url,
    PRODUCTS: PRODUCTS.join(','),
    PUBLISH_WINDOW: String(WINDOW),
  });
  const ingestor = new Ingestor(config, nc, log, registry);
  await ingestor.start();
  const stored = async () => {
    const m = await registry.getSingleMetric('ledgerflux_ingestor_published_total')?.get();
    return m?.values.find((v) => v.labels.outcome === 'stored')?.value ?? 0;
  };
  const rate = await measure(stored);
  const hist = await registry.getSingleMetric('ledgerflux_ingestor_publish_latency_seconds')?.get();
  const buckets = (hist?.values ?? []).filter((v) => v.labels.le !== undefined);
  const total = buckets.find((b) => b.labels.le === '+Inf')?.value ?? 0;
  const p99 = buckets.find((b) => b.value >= total * 0.99)?.labels.le;
  await ingestor.stop();
  await sim.stop();
  await nc.close();
  return { rate, p99PublishMs: p99 === undefined || p99 === '+Inf' ? NaN : Number(p99) * 1000 };
}

export const ingestBenchmark: Benchmark = {
  description:
    'simulator at full speed → ingestor → MD_RAW, beside simulator → plain ws client → same publisher (with and without the MD_RAW headers)',
  async run() {
    const server = await startNats();
    try {
      const setup = await connectNats({ servers: [server.url], name: 'bench-setup', log });
      await ensureTopology(setup, { replicas: 1 });
      const jsm = await jetstreamManager(setup);
      const bare = await baseline(server.url, false);
      await jsm.streams.purge('MD_RAW');
      const withHeaders = await baseline(server.url, true);
      await jsm.streams.purge('MD_RAW');
      const ing = await throughIngestor(server.url);
      await setup.close();
      return [
        {
          name: 'ingest: frames into MD_RAW',
          value: ing.rate,
          unit: 'frames/s',
          baseline: withHeaders,
          target: '>= 80% of baseline (publisher with the MD_RAW headers)',
          details: { window: WINDOW, publishP99BucketMs: ing.p99PublishMs },
        },
        {
          name: 'ingest: same, against a header-less publisher',
          value: ing.rate,
          unit: 'frames/s',
          baseline: bare,
        },
      ];
    } finally {
      await server.stop();
    }
  },
};
