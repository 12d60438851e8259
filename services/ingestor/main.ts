import { configOrReport } from '../common/config.js';
import { describeError } from '../common/errors.js';
import { runService, sleep } from '../common/lifecycle.js';
import { createLogger } from '../common/logger.js';
import { createRegistry, startProbeServer } from '../common/metrics.js';
import { connectFromConfig } from '../common/nats.js';
import { verifyTopology } from '../common/topology.js';
import { loadIngestorConfig } from './config.js';
import { Ingestor } from './service.js';

export async function main(_argv: string[]): Promise<number | undefined> {
  const config = configOrReport('ingestor', () => loadIngestorConfig(process.env));
  if (config === undefined) return 2;
  const log = createLogger('ingestor', config.LOG_LEVEL);
  const registry = createRegistry('ingestor');
  await runService({ name: 'ingestor', log }, async (ctx) => {
    const probes = await startProbeServer({
      port: config.METRICS_PORT,
      registry,
      readiness: ctx.readiness,
    });
    ctx.onStop('probe server', () => probes.close());
    const nc = await connectFromConfig(config, {
      name: 'ledgerflux-ingestor',
      log,
      publishing: true,
    });
    ctx.onStop('nats', () => nc.drain());
    // Stay not ready, with the reason, until `ledgerflux migrate` has created the streams.
    for (;;) {
      try {
        await verifyTopology(nc, ['MD_RAW', 'MD_DLQ']);
        break;
      } catch (err) {
        ctx.setReady(false, describeError(err));
        log.warn({ err: describeError(err) }, 'waiting for the JetStream topology');
        await sleep(2_000, ctx.signal);
        if (ctx.signal.aborted) return;
      }
    }
    const ingestor = new Ingestor(config, nc, log, registry);
    await ingestor.start();
    ctx.onStop('ingestor', () => ingestor.stop());
    ctx.setReady(true);
  });
  return undefined;
}
