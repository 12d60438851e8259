import { configOrReport } from '../common/config.js';
import { describeError } from '../common/errors.js';
import { runService, sleep } from '../common/lifecycle.js';
import { createLogger } from '../common/logger.js';
import { createRegistry, startProbeServer } from '../common/metrics.js';
import { connectFromConfig, trackNatsConnected } from '../common/nats.js';
import { ErrorCode, isLedgerFluxError } from '../common/errors.js';
import { loadNormalizerConfig } from './config.js';
import { createNormalizerMetrics } from './metrics.js';
import { ShardWorker } from './shard-worker.js';

export async function main(_argv: string[]): Promise<number | undefined> {
  const config = configOrReport('normalizer', () => loadNormalizerConfig(process.env));
  if (config === undefined) return 2;
  const log = createLogger('normalizer', config.LOG_LEVEL).child({ shard: config.SHARD });
  const registry = createRegistry('normalizer');
  const metrics = createNormalizerMetrics(registry, config.SHARD);
  await runService({ name: 'normalizer', log }, async (ctx) => {
    const probes = await startProbeServer({
      port: config.METRICS_PORT,
      registry,
      readiness: ctx.readiness,
    });
    ctx.onStop('probe server', () => probes.close());
    const nc = await connectFromConfig(config, {
      name: `ledgerflux-normalizer-${String(config.SHARD)}`,
      log,
      publishing: true,
    });
    ctx.onStop('nats', () => nc.drain());
    trackNatsConnected(nc, metrics.natsConnected.labels(String(config.SHARD)));
    const worker = new ShardWorker(config, nc, log, metrics, (err) => {
      ctx.setReady(false, `shard failed: ${describeError(err)}`);
    });
    for (;;) {
      try {
        await worker.start();
        break;
      } catch (err) {
        // A mismatched SHARDS is a configuration error: refuse to start.
        if (isLedgerFluxError(err, ErrorCode.TOPOLOGY_MISMATCH)) throw err;
        ctx.setReady(false, describeError(err));
        log.warn({ err: describeError(err) }, 'normalizer not started yet; retrying');
        await sleep(2_000, ctx.signal);
        if (ctx.signal.aborted) return;
      }
    }
    ctx.onStop('shard worker', () => worker.stop());
    ctx.setReady(true);
  });
  return undefined;
}
