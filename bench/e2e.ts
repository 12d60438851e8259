import { fork } from 'node:child_process';
import path from 'node:path';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { LedgerFluxClient } from '../services/client/client.js';
import { createLogger } from '../services/common/logger.js';
import { connectNats, type NatsConnection } from '../services/common/nats.js';
import { Publisher } from '../services/common/publisher.js';
import { nowUs } from '../services/common/schemas/headers.js';
import { parseTimeUs } from '../services/common/time.js';
import { ensureTopology } from '../services/common/topology.js';
import { loadIngestorConfig } from '../services/ingestor/config.js';
import { Ingestor } from '../services/ingestor/service.js';
import { startSimulator } from '../services/sim/server.js';
import { freePort } from '../tests/harness/free-port.js';
import { startNats } from '../tests/harness/nats.js';
import { startService, type ServiceProcess } from '../tests/harness/service.js';
import { waitFor } from '../tests/harness/wait.js';
import { measuredLatencyMs, type SinkReport } from './raw-payload.js';
import type { BenchResult, Benchmark } from './types.js';

/**
 * End to end: simulator timestamp → ingestor → normalizer (process) → gateway (process) →
 * WebSocket client (client library), at 1k and 5k frames/s and at full speed, beside the
 * raw two-hop JetStream chain (publish → consume → republish → consume) in the same run,
 * in one process (the targets' baseline) and with its hop and sink as processes. Full speed is measured closed loop (at most IN_FLIGHT frames between source and end, for
 * the pipeline and the raw chain alike) and, for reference, open loop.
 */
const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'];
/**
 * Every chain runs WARMUP_MS before its WINDOW_MS measurement: in their first seconds the
 * pipeline's four processes compile their hot code and size their heaps on two cores, and
 * a one-second warm-up left that in the window (p99 at 1k frames/s 42–119 ms over 10 s
 * after 1 s, 21–24 ms after 5 s).
 */
const WARMUP_MS = 5_000;
const WINDOW_MS = 10_000;
const log = createLogger('bench', 'silent');
const enc = new TextEncoder();

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/**
 * Frames allowed between the source and the end of a chain at full speed, closed loop:
 * the source waits while more are on their way. Open loop (no bound), a source that costs
 * more CPU than it forwards runs ahead and takes the cores from the stages being measured,
 * which is no limit of the pipeline: in production the exchange does not speed up.
 */
const IN_FLIGHT = 1_000;

/** Where the hop and the sink of the raw chain run. */
type Topology = 'one process' | 'processes';

/** The hop and the sink of a raw chain: messages received at the end, and their latencies. */
interface RawEnds {
  received(): number;
  readonly latencies: number[];
  close(): Promise<void>;
}

/** Hop and sink in this process, on the source's connection. */
async function endsInProcess(nc: NatsConnection): Promise<RawEnds> {
  const js = jetstream(nc);
  const hopPub = new Publisher(nc, { window: 256, log });
  const hop = await (
    await js.consumers.get('BENCH_A', { deliver_policy: DeliverPolicy.All })
  ).consume();
  const sink = await (
    await js.consumers.get('BENCH_B', { deliver_policy: DeliverPolicy.All })
  ).consume();
  let n = 0;
  void (async () => {
    for await (const m of hop)
      void hopPub.publish({ subject: 'bench.b', payload: m.data, msgId: `b${String(n++)}` });
  })();
  const latencies: number[] = [];
  let received = 0;
  void (async () => {
    for await (const m of sink) {
      received++;
      const latency = measuredLatencyMs(m.data);
      if (latency !== undefined) latencies.push(latency);
    }
  })();
  return {
    received: () => received,
    latencies,
    close: async () => {
      await hop.close();
      await sink.close();
      await hopPub.close();
    },
  };
}

/** Hop and sink as two processes of their own (bench/raw-stage.ts), each with its connection. */
async function endsInProcesses(url: string): Promise<RawEnds> {
  const stage = (role: string) =>
    fork(path.join(import.meta.dirname, 'raw-stage.ts'), [role, url], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
  const children = [stage('hop'), stage('sink')];
  const [, sinkProc] = children;
  const latencies: number[] = [];
  let received = 0;
  sinkProc?.on('message', (m: SinkReport | 'ready') => {
    if (m === 'ready') return;
    received = m.received;
    for (const l of m.latenciesMs) latencies.push(l);
  });
  const close = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) resolve(undefined);
            c.once('exit', resolve);
            c.kill('SIGKILL');
          }),
      ),
    );
  };
  try {
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
              reject(new Error('a raw chain stage did not start in 30 s'));
            }, 30_000);
            c.once('message', () => {
              clearTimeout(timer);
              resolve(undefined);
            });
            c.once('exit', (code) => {
              clearTimeout(timer);
              reject(new Error(`a raw chain stage exited (${String(code)})`));
            });
          }),
      ),
    );
  } catch (err) {
    await close();
    throw err;
  }
  return { received: () => received, latencies, close };
}

/**
 * Two JetStream hops; `rate` msgs/s, or as fast as the publish window allows (undefined),
 * open loop or with at most IN_FLIGHT messages between source and sink (`closed`). The
 * source publishes from this process; the hop and the sink run here too, or as processes
 * of their own, as the pipeline's stages do.
 */
async function rawChain(
  nc: NatsConnection,
  url: string,
  rate: number | undefined,
  closed = false,
  topology: Topology = 'one process',
): Promise<{ perSec: number; p50: number; p99: number }> {
  const jsm = await jetstreamManager(nc);
  for (const [name, subj] of [
    ['BENCH_A', 'bench.a'],
    ['BENCH_B', 'bench.b'],
  ] as const) {
    await jsm.streams.delete(name).catch(() => undefined);
    await jsm.streams.add({ name, subjects: [subj] });
  }
  const ends = topology === 'one process' ? await endsInProcess(nc) : await endsInProcesses(url);
  const srcPub = new Publisher(nc, { window: 256, log });
  let sent = 0;
  // Payload: the publish time in epoch µs, after `w` during the warm-up and `m` after.
  const publish = (mark: 'w' | 'm') =>
    void srcPub.publish({
      subject: 'bench.a',
      payload: enc.encode(`${mark}${String(nowUs())}`),
      msgId: `a${String(sent++)}`,
    });
  const t0 = performance.now();
  let r0 = 0;
  let t1 = 0;
  for (;;) {
    const now = performance.now();
    if (now - t0 >= WARMUP_MS + WINDOW_MS) break;
    if (t1 === 0 && now - t0 >= WARMUP_MS) {
      t1 = now;
      r0 = ends.received();
    }
    const mark = t1 === 0 ? 'w' : 'm';
    if (rate === undefined) {
      await srcPub.waitForRoom();
      if (closed && sent - ends.received() > IN_FLIGHT) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      publish(mark);
    } else {
      const due = Math.floor(((now - t0) / 1000) * rate);
      while (sent < due) publish(mark);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const perSec = ((ends.received() - r0) * 1000) / (performance.now() - t1);
  // The latencies of the last messages of the window.
  await waitFor('the raw chain to drain', () => ends.received() >= sent, {
    timeoutMs: 60_000,
  }).catch(() => undefined);
  await ends.close();
  await srcPub.close();
  return {
    perSec,
    p50: percentile(ends.latencies, 50),
    p99: percentile(ends.latencies, 99),
  };
}

/** A fresh nats-server per run: trade ids repeat across runs, and dedup would drop them. */
async function pipeline(
  rate: number | 'max',
  closed = false,
): Promise<{ perSec: number; p50: number; p99: number; trades: number }> {
  const server = await startNats();
  const url = server.url;
  const nc = await connectNats({ servers: [url], name: 'bench-e2e', log, publishing: true });
  await ensureTopology(nc, { replicas: 1 });
  const port = await freePort();
  const env = { NATS_URL: url, PRODUCTS: PRODUCTS.join(','), LOG_LEVEL: 'warn' };
  const services: ServiceProcess[] = [
    await startService('normalizer', { ...env, SHARDS: '1', SHARD: '0', METRICS_PORT: '0' }),
    await startService('gateway', {
      ...env,
      GATEWAY_PORT: String(port),
      DATABASE_URL: 'postgres://bench@127.0.0.1:1/none',
    }),
  ];
  // Closed loop: the market holds while more than IN_FLIGHT raw frames wait for the
  // normalizer's ack (not yet delivered, or delivered and their outputs not yet stored in
  // MD_NORM). Not the ack floor: one frame waiting in the reorder window holds it, and
  // the market with it.
  let backlog = 0;
  const sim = await startSimulator({
    rate,
    backpressure: rate === 'max',
    products: PRODUCTS,
    seed: 9,
    ...(closed ? { hold: () => backlog > IN_FLIGHT } : {}),
  });
  const ingestor = new Ingestor(
    loadIngestorConfig({ NATS_URL: url, COINBASE_WS_URL: sim.url, PRODUCTS: PRODUCTS.join(',') }),
    nc,
    log,
    new Registry(),
  );
  await waitFor(
    'the gateway',
    async () =>
      (await fetch(`http://127.0.0.1:${String(port)}/readyz`).catch(() => undefined))?.ok === true,
    { timeoutMs: 30_000 },
  );
  const latencies: number[] = [];
  let measuring = false;
  const client = new LedgerFluxClient({ url: `ws://127.0.0.1:${String(port)}/ws`, WebSocket });
  client.on((e) => {
    if (!measuring || e.type !== 'update' || e.channel !== 'trades') return;
    const t = parseTimeUs(e.data.time);
    if (t !== undefined) latencies.push((nowUs() - t) / 1000);
  });
  client.subscribe({ channels: ['trades'], products: PRODUCTS, snapshot: false });
  await ingestor.start();
  const jsm = await jetstreamManager(nc);
  const shardInfo = () => jsm.consumers.info('MD_RAW', 'normalizer-0').catch(() => undefined);
  const delivered = async () => (await shardInfo())?.delivered.stream_seq ?? 0;
  let polling = closed;
  const poll = (async () => {
    while (polling) {
      const info = await shardInfo();
      if (info !== undefined) backlog = info.num_pending + info.num_ack_pending;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await waitFor('frames through the normalizer', async () => (await delivered()) > 0, {
    timeoutMs: 30_000,
  });
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  measuring = true;
  const a = await delivered();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const perSec = (((await delivered()) - a) * 1000) / (performance.now() - t0);
  measuring = false;
  polling = false;
  await poll;
  client.close();
  await ingestor.stop();
  await sim.stop();
  for (const s of services) await s.stop();
  await nc.close();
  await server.stop();
  return {
    perSec,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    trades: latencies.length,
  };
}

export const e2eBenchmark: Benchmark = {
  description:
    'simulator timestamp → ingestor → normalizer → gateway → client, beside two raw JetStream hops',
  async run() {
    const server = await startNats();
    try {
      const nc = await connectNats({ servers: [server.url], name: 'bench', log, publishing: true });
      await ensureTopology(nc, { replicas: 1 });
      const url = server.url;
      const rawMax = await rawChain(nc, url, undefined, true);
      const rawOpen = await rawChain(nc, url, undefined);
      const raw1k = await rawChain(nc, url, 1000);
      // The same chain with its hop and sink in processes of their own, as the pipeline's
      // stages are: what the process boundaries alone cost on these cores.
      const procMax = await rawChain(nc, url, undefined, true, 'processes');
      const proc1k = await rawChain(nc, url, 1000, false, 'processes');
      const out: BenchResult[] = [];
      const e2eMax = await pipeline('max', true);
      out.push({
        name: 'e2e: frames/s at full speed',
        value: e2eMax.perSec,
        unit: 'frames/s',
        baseline: rawMax.perSec,
        target: '>= 50% of the raw two-hop chain',
        details: {
          trades: e2eMax.trades,
          p50Ms: e2eMax.p50,
          p99Ms: e2eMax.p99,
          inFlight: IN_FLIGHT,
          loop: 'closed',
        },
      });
      out.push({
        name: 'e2e: full speed vs the raw chain across processes',
        value: e2eMax.perSec,
        unit: 'frames/s',
        baseline: procMax.perSec,
        details: { rawP50Ms: procMax.p50, rawP99Ms: procMax.p99, inFlight: IN_FLIGHT },
      });
      const e2eOpen = await pipeline('max');
      out.push({
        name: 'e2e: frames/s, open loop',
        value: e2eOpen.perSec,
        unit: 'frames/s',
        baseline: rawOpen.perSec,
        details: { trades: e2eOpen.trades, loop: 'open: the market never waits' },
      });
      for (const rate of [1000, 5000]) {
        const r = await pipeline(rate);
        out.push({
          name: `e2e: p50 at ${String(rate)} frames/s`,
          value: r.p50,
          unit: 'ms',
          baseline: raw1k.p50,
          details: { trades: r.trades, framesPerSec: Math.round(r.perSec) },
        });
        out.push({
          name: `e2e: p99 at ${String(rate)} frames/s`,
          value: r.p99,
          unit: 'ms',
          baseline: raw1k.p99,
          ...(rate === 1000 ? { target: '<= 2x the raw chain p99 at 1k msgs/s' } : {}),
        });
        if (rate === 1000)
          out.push({
            name: 'e2e: p99 at 1000 frames/s vs the raw chain across processes',
            value: r.p99,
            unit: 'ms',
            baseline: proc1k.p99,
            details: { rawP50Ms: proc1k.p50 },
          });
      }
      await nc.close();
      return out;
    } finally {
      await server.stop();
    }
  },
};
