import { describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { SnapshotterConfig } from './config.js';
import type { SnapshotterMetrics } from './metrics.js';
import type { Store } from './store.js';

/**
 * Retention on a timer: trades and gaps older than RETENTION_TRADES_DAYS, snapshots older
 * than RETENTION_SNAPSHOTS_DAYS, removed in bounded batches (0 keeps them forever). One
 * run at a time; a failed run is retried by the next.
 */
export class RetentionTimer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly config: Readonly<SnapshotterConfig>,
    private readonly store: Store,
    private readonly metrics: SnapshotterMetrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    const c = this.config;
    if (c.RETENTION_TRADES_DAYS === 0 && c.RETENTION_SNAPSHOTS_DAYS === 0) return;
    this.timer = setInterval(() => void this.run(), c.RETENTION_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      const c = this.config;
      try {
        const n = await this.store.retention({
          tradesDays: c.RETENTION_TRADES_DAYS,
          snapshotsDays: c.RETENTION_SNAPSHOTS_DAYS,
          batch: c.RETENTION_BATCH,
          maxStatements: 100,
        });
        for (const [t, count] of Object.entries(n)) this.metrics.retention.labels(t).inc(count);
        if (n.trades + n.gaps + n.snapshots > 0) this.log.info(n, 'retention removed old rows');
      } catch (err) {
        this.log.warn({ err: describeError(err) }, 'retention failed; the next run retries');
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}
