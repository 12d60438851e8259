/**
 * One stage of the raw two-hop JetStream chain run as its own process, as the pipeline's
 * stages are (bench/e2e.ts forks it): `hop <url>` consumes BENCH_A and republishes every
 * message to bench.b through the windowed Publisher; `sink <url>` consumes BENCH_B and
 * reports to its parent, every 20 ms, how many messages arrived and the latencies of those
 * sent in the measured window (raw-payload.ts).
 */
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { createLogger } from '../services/common/logger.js';
import { connectNats } from '../services/common/nats.js';
import { Publisher } from '../services/common/publisher.js';
import { measuredLatencyMs, type SinkReport } from './raw-payload.js';

const log = createLogger('bench', 'silent');

async function hop(url: string): Promise<void> {
  const nc = await connectNats({ servers: [url], name: 'bench-hop', log, publishing: true });
  const pub = new Publisher(nc, { window: 256, log });
  const js = jetstream(nc);
  const messages = await (
    await js.consumers.get('BENCH_A', { deliver_policy: DeliverPolicy.All })
  ).consume();
  process.send?.('ready');
  let n = 0;
  for await (const m of messages)
    void pub.publish({ subject: 'bench.b', payload: m.data, msgId: `b${String(n++)}` });
}

async function sink(url: string): Promise<void> {
  const nc = await connectNats({ servers: [url], name: 'bench-sink', log });
  const js = jetstream(nc);
  const messages = await (
    await js.consumers.get('BENCH_B', { deliver_policy: DeliverPolicy.All })
  ).consume();
  let received = 0;
  let latenciesMs: number[] = [];
  setInterval(() => {
    const report: SinkReport = { received, latenciesMs };
    latenciesMs = [];
    process.send?.(report);
  }, 20);
  process.send?.('ready');
  for await (const m of messages) {
    received++;
    const latency = measuredLatencyMs(m.data);
    if (latency !== undefined) latenciesMs.push(latency);
  }
}

// The bench going away (killed, crashed) takes its stages with it.
process.on('disconnect', () => process.exit(0));
const [role, url] = process.argv.slice(2);
if (url === undefined || (role !== 'hop' && role !== 'sink')) {
  console.error('usage: raw-stage.ts hop|sink <nats url>');
  process.exit(2);
}
await (role === 'hop' ? hop(url) : sink(url));
