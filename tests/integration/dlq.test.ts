/**
 * A schema-breaking raw frame goes to MD_DLQ with its reason and the raw headers; the
 * `ledgerflux dlq` command lists, shows and replays it.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats, type NatsConnection } from '../../services/common/nats.js';
import { ensureTopology } from '../../services/common/topology.js';
import { loadNormalizerConfig } from '../../services/normalizer/config.js';
import { createNormalizerMetrics } from '../../services/normalizer/metrics.js';
import { ShardWorker } from '../../services/normalizer/shard-worker.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { readStream } from '../harness/streams.js';
import { waitFor } from '../harness/wait.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const log = createLogger('test', 'silent');
const CONN = 'ab'.repeat(16);

describe('MD_DLQ and ledgerflux dlq', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let worker: ShardWorker;

  beforeAll(async () => {
    server = await startNats();
    nc = await connectNats({ servers: [server.url], name: 'test', log, publishing: true });
    await ensureTopology(nc, { replicas: 1 });
    const config = loadNormalizerConfig({
      NATS_URL: server.url,
      PRODUCTS: 'BTC-USD',
      SHARDS: '1',
      SHARD: '0',
      METRICS_PORT: '0',
    });
    worker = new ShardWorker(config, nc, log, createNormalizerMetrics(new Registry(), 0));
    await worker.start();
  });
  afterAll(async () => {
    await worker.stop();
    await nc.close();
    await server.stop();
  });

  const cli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'services/cli.ts'), 'dlq', ...args], {
      cwd: ROOT,
      env: { ...process.env, NATS_URL: server.url },
    });

  it('keeps a rejected frame with its reason and headers, and replays it once', async () => {
    const h = natsHeaders();
    h.set('Lf-Recv-Us', '1700000000000000');
    h.set('Lf-Conn-Id', CONN);
    h.set('Lf-Conn-Seq', '0');
    h.set('Lf-Type', 'match');
    const bad = JSON.stringify({
      type: 'match',
      trade_id: 7,
      product_id: 'BTC-USD',
      side: 'buy',
      price: 'abc',
      size: '1',
      time: '2024-01-01T00:00:00Z',
    });
    await jetstream(nc).publish('md.raw.coinbase.0.BTC-USD', bad, {
      msgID: 'coinbase:BTC-USD:trade:7',
      headers: h,
    });
    const [entry] = await waitFor('the DLQ entry', async () => {
      const m = await readStream(nc, 'MD_DLQ');
      return m.length > 0 ? m : undefined;
    });
    expect(entry?.subject).toBe('md.dlq.coinbase.schema');
    expect(entry?.text()).toBe(bad);
    expect(entry?.headers).toMatchObject({
      'Lf-Reason': 'schema',
      'Lf-Src-Subject': 'md.raw.coinbase.0.BTC-USD',
      'Lf-Conn-Id': CONN,
      'Lf-Type': 'match',
    });
    expect(entry?.msgId).toBe(`dlq:${entry?.headers['Lf-Src-Seq'] ?? ''}`);

    const list = await cli('list');
    expect(list.stdout).toMatch(/^1\t\S+\tschema\tmd\.raw\.coinbase\.0\.BTC-USD#1\t/m);
    expect(list.stdout).toMatch(/1 entries/);
    const show = await cli('show', '1');
    expect(show.stdout).toContain(bad);

    const dry = await cli('replay', '1');
    expect(dry.stdout).toMatch(/would replay to md\.raw\.coinbase\.0\.BTC-USD/);
    const before = (await readStream(nc, 'MD_RAW')).length;
    expect((await cli('replay', '1', '--yes')).stdout).toMatch(/1 replayed/);
    expect((await cli('replay', '1', '--yes')).stdout).toMatch(/already replayed/);
    const raw = await readStream(nc, 'MD_RAW');
    expect(raw.length).toBe(before + 1);
    expect(raw.at(-1)?.msgId).toBe('replay:1');
    expect(raw.at(-1)?.headers['Lf-Conn-Id']).toBe(CONN);
  });

  it('rejects an unknown verb with the usage', async () => {
    await expect(cli('purge')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/usage: ledgerflux dlq/) as unknown,
    });
  });
});

// Regression (hostile-input fuzzing): a frame sent to MD_DLQ dropped the outputs its
// processing released for earlier frames, e.g. a held trade whose reorder window had
// just expired: the trade never reached MD_NORM and `seq` got a hole.
describe('a rejected frame that releases held trades', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let worker: ShardWorker | undefined;
  beforeAll(async () => {
    server = await startNats();
    nc = await connectNats({ servers: [server.url], name: 'test', log, publishing: true });
    await ensureTopology(nc, { replicas: 1 });
  });
  afterAll(async () => {
    await worker?.stop();
    await nc.close();
    await server.stop();
  });

  it('still publishes the released trades and their gap', async () => {
    const js = jetstream(nc);
    let n = 0;
    const publish = async (frame: object) => {
      const h = natsHeaders();
      h.set('Lf-Recv-Us', '1700000000000000');
      h.set('Lf-Conn-Id', CONN);
      h.set('Lf-Conn-Seq', '0');
      h.set('Lf-Type', 'match');
      await js.publish('md.raw.coinbase.0.BTC-USD', JSON.stringify(frame), {
        msgID: `r:${String(++n)}`,
        headers: h,
      });
    };
    const match = (id: number, price = '100') => ({
      type: 'match',
      trade_id: id,
      product_id: 'BTC-USD',
      side: 'buy',
      price,
      size: '1',
      time: '2024-01-01T00:00:00Z',
    });
    // 101 is missing, so 102 waits; the rejected frames behind it are processed in one
    // go, after its 1 ms window: one of them releases it.
    await publish(match(100));
    await publish(match(102));
    for (let i = 0; i < 300; i++) await publish(match(1_000 + i, 'abc'));
    const config = loadNormalizerConfig({
      NATS_URL: server.url,
      PRODUCTS: 'BTC-USD',
      SHARDS: '1',
      SHARD: '0',
      METRICS_PORT: '0',
      REORDER_WINDOW_MS: '1',
      ACK_WAIT_MS: '120000',
    });
    worker = new ShardWorker(config, nc, log, createNormalizerMetrics(new Registry(), 0));
    await worker.start();
    const trades = await waitFor(
      'trades 100 and 102 in MD_NORM',
      async () => {
        const norm = (await readStream(nc, 'MD_NORM', 'md.norm.coinbase.BTC-USD.*')).map(
          (m) => JSON.parse(m.text()) as { type: string; trade_id?: string; from?: string },
        );
        const t = norm.filter((m) => m.type === 'trade').map((m) => m.trade_id);
        return t.length >= 2 ? { t, norm } : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(trades.t).toEqual(['100', '102']);
    expect(trades.norm.some((m) => m.type === 'status' && m.from === '101')).toBe(true);
    expect((await readStream(nc, 'MD_DLQ')).length).toBe(300);
  });
});
