import { ConfigError } from '../common/config.js';
import { describeError } from '../common/errors.js';
import { runService, sleep } from '../common/lifecycle.js';
import { createLogger } from '../common/logger.js';
import { createRegistry, startProbeServer } from '../common/metrics.js';
import { connectFromConfig } from '../common/nats.js';
import { loadSnapshotterConfig, type SnapshotterConfig } from './config.js';
import { createSnapshotterMetrics } from './metrics.js';
import { CONSUMER_NAME } from './config.js';
import { Store, connectPostgres, connectWriter } from './store.js';
import { STREAMS } from '../common/topology.js';
import { SnapshotWorker } from './worker.js';

/**
 * `ledgerflux snapshotter`: MD_NORM → PostgreSQL point-in-time state. Stays not ready,
 * with the reason, until the streams and the SQL schema exist; shutdown order: not
 * ready → stop pulling → commit the batch in hand → ack → drain NATS → close PostgreSQL.
 */
export async function main(_argv: string[]): Promise<number | undefined> {
  let config: Readonly<SnapshotterConfig>;
  try {
    config = loadSnapshotterConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ledgerflux snapshotter: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger('snapshotter', config.LOG_LEVEL);
  const registry = createRegistry('snapshotter');
  const metrics = createSnapshotterMetrics(registry);
  await runService({ name: 'snapshotter', log }, async (ctx) => {
    const probes = await startProbeServer({
      port: config.METRICS_PORT,
      registry,
      readiness: ctx.readiness,
    });
    ctx.onStop('probe server', () => probes.close());
    log.info({ metricsPort: probes.port }, 'probe server listening');
    const sql = connectPostgres(config.DATABASE_URL, {
      max: config.DB_POOL_MAX,
      applicationName: 'ledgerflux-snapshotter',
    });
    ctx.onStop('postgres', () => sql.end({ timeout: 5 }));
    const writer = connectWriter(config.DATABASE_URL, 'ledgerflux-snapshotter');
    ctx.onStop('postgres writer', () => writer.end({ timeout: 5 }));
    const nc = await connectFromConfig(config, {
      name: 'ledgerflux-snapshotter',
      log,
    });
    ctx.onStop('nats', () => nc.drain());
    const store = new Store(sql, CONSUMER_NAME, STREAMS.norm, writer);
    const worker = new SnapshotWorker(config, nc, store, log, metrics, ctx.setReady);
    for (;;) {
      try {
        await worker.start();
        break;
      } catch (err) {
        ctx.setReady(false, describeError(err));
        metrics.retries.labels('start').inc();
        log.warn({ err: describeError(err) }, 'snapshotter not started yet; retrying');
        await sleep(2_000, ctx.signal);
        if (ctx.signal.aborted) return;
      }
    }
    ctx.onStop('snapshotter', () => worker.stop());
    ctx.setReady(true);
  });
  return undefined;
}
