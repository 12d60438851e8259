import { configOrReport } from '../common/config.js';
import { ErrorCode, describeError, isLedgerFluxError } from '../common/errors.js';
import { runService, sleep, type ServiceContext } from '../common/lifecycle.js';
import { createLogger, type Logger } from '../common/logger.js';
import { createRegistry, startProbeServer } from '../common/metrics.js';
import { connectFromConfig, trackNatsConnected, type NatsConnection } from '../common/nats.js';
import { loadNormalizerConfig, type NormalizerConfig } from './config.js';
import { createNormalizerMetrics, type NormalizerMetrics, type RestartReason } from './metrics.js';
import { SecondWriterError } from './serialized-publisher.js';
import { ShardRestartError, ShardWorker } from './shard-worker.js';

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
    const sup = new ShardSupervisor(config, nc, log, metrics, ctx);
    // Throws only for a configuration error (mismatched SHARDS): refuse to start.
    await sup.firstStart();
    ctx.onStop('shard worker', () => sup.stop());
    void sup.run();
  });
  return undefined;
}

/**
 * Runs the shard worker and, when it fails, stops it and starts a new one: the new one
 * restores its marks from MD_NORM and re-creates the durable from its ack floor, so a
 * delivery lost in transit, a stall, or a publish error it could not retry costs a
 * restart, not a shard waiting forever.
 *
 * A "second writer" right after a restart is usually this shard's predecessor: a publish
 * whose PubAck timed out can still be stored afterwards (it sat in the old leader's
 * proposals), and it can only land directly after the subject's last message, so a new
 * restore sees it in order. Three within two minutes is a real second writer: the shard
 * stays not-ready for a human.
 */
const LATE_WRITE_LIMIT = 3;
const LATE_WRITE_WINDOW_MS = 120_000;

class ShardSupervisor {
  private worker: ShardWorker | undefined;
  private lateWrites: number[] = [];

  constructor(
    private readonly config: Readonly<NormalizerConfig>,
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly metrics: NormalizerMetrics,
    private readonly ctx: ServiceContext,
  ) {}

  /** Starts a worker, retrying every 2 s until it starts or the service stops. */
  async firstStart(): Promise<void> {
    for (;;) {
      const w = this.newWorker();
      try {
        await w.start();
        this.worker = w;
        this.ctx.setReady(true);
        return;
      } catch (err) {
        await w.stop().catch(() => undefined);
        if (isLedgerFluxError(err, ErrorCode.TOPOLOGY_MISMATCH)) throw err;
        this.ctx.setReady(false, describeError(err));
        this.log.warn({ err: describeError(err) }, 'normalizer not started yet; retrying');
        await sleep(2_000, this.ctx.signal);
        if (this.ctx.signal.aborted) return;
      }
    }
  }

  async run(): Promise<void> {
    while (!this.ctx.signal.aborted && this.worker !== undefined) {
      const err = await Promise.race([
        this.worker.failed,
        new Promise<undefined>((resolve) => {
          this.ctx.signal.addEventListener(
            'abort',
            () => {
              resolve(undefined);
            },
            { once: true },
          );
        }),
      ]);
      if (err === undefined) return;
      let reason: RestartReason = err instanceof ShardRestartError ? err.reason : 'failed';
      if (err instanceof SecondWriterError) {
        const now = Date.now();
        this.lateWrites = [...this.lateWrites.filter((t) => now - t < LATE_WRITE_WINDOW_MS), now];
        if (this.lateWrites.length >= LATE_WRITE_LIMIT) {
          this.log.error({ err: describeError(err) }, 'second writer: the shard stays not ready');
          return;
        }
        reason = 'late_write';
      }
      const old = this.worker;
      this.worker = undefined;
      await old.stop().catch(() => undefined);
      this.metrics.shardRestarts.labels(String(this.config.SHARD), reason).inc();
      this.log.warn({ reason, err: describeError(err) }, 'restarting the shard from its ack floor');
      await this.firstStart();
    }
  }

  async stop(): Promise<void> {
    await this.worker?.stop();
  }

  private newWorker(): ShardWorker {
    return new ShardWorker(this.config, this.nc, this.log, this.metrics, (err) => {
      this.ctx.setReady(false, `shard failed: ${describeError(err)}`);
    });
  }
}
