import { createWriteStream, type WriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { configOrReport, loadConfig, logLevel, productList } from '../common/config.js';
import { runService } from '../common/lifecycle.js';
import { createLogger } from '../common/logger.js';
import { feedFields, resolveFeed } from '../ingestor/config.js';
import { feedProtocol } from '../ingestor/core/feed-protocol.js';
import { FeedConnection } from '../ingestor/feeds/ws-connection.js';

/**
 * `ledgerflux record --out FILE`: captures a live feed in the line format that
 * `ledgerflux sim --replay` reads: {"lf":1,"recv_us":…,"frame":"<raw>"} per frame.
 */
const RecordConfigSchema = z
  .object({
    LOG_LEVEL: logLevel,
    PRODUCTS: productList('BTC-USD,ETH-USD,SOL-USD'),
    ...feedFields,
  })
  .transform(resolveFeed);

export async function main(argv: string[]): Promise<number | undefined> {
  const { values } = parseArgs({
    args: argv,
    options: { out: { type: 'string' }, frames: { type: 'string' }, seconds: { type: 'string' } },
  });
  if (values.out === undefined) {
    process.stderr.write('usage: ledgerflux record --out FILE [--frames N] [--seconds S]\n');
    return 2;
  }
  const config = configOrReport('record', () => loadConfig(RecordConfigSchema, process.env));
  if (config === undefined) return 2;
  const maxFrames = values.frames === undefined ? Infinity : Number(values.frames);
  const log = createLogger('record', config.LOG_LEVEL);
  const protocol = feedProtocol(config.COINBASE_FEED, config.COINBASE_CHANNELS);
  const out: WriteStream = createWriteStream(values.out, { flags: 'a' });
  let count = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  const conn = new FeedConnection({
    url: config.COINBASE_WS_URL,
    log,
    backoff: { baseMs: 500, maxMs: 30_000 },
    staleMs: 15_000,
    pingMs: 15_000,
    maxPayload: 64 * 1024 * 1024,
    onOpen: () => {
      for (const msg of protocol.subscribe(config.PRODUCTS)) conn.send(msg);
    },
    onFrame: (data, recvUs) => {
      if (count >= maxFrames) return;
      count++;
      out.write(`${JSON.stringify({ lf: 1, recv_us: recvUs, frame: data.toString('utf8') })}\n`);
      if (count >= maxFrames) done();
    },
    onStale: () => undefined,
    onClose: () => undefined,
  });
  const service = await runService({ name: 'record', log }, (ctx) => {
    conn.start();
    ctx.onStop('output', () => new Promise<void>((r) => out.end(r)));
    ctx.onStop('feed', () => conn.stop());
    ctx.setReady(true);
    return Promise.resolve();
  });
  const timer =
    values.seconds === undefined ? undefined : setTimeout(done, Number(values.seconds) * 1000);
  await Promise.race([finished, service.stopped]);
  if (timer !== undefined) clearTimeout(timer);
  await service.stop('recording finished');
  log.info({ frames: count, out: values.out }, 'recorded');
  return 0;
}
