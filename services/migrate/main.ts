import { ConfigError } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { connectNats } from '../common/nats.js';
import { ensureTopology, streamConfigs } from '../common/topology.js';
import { loadMigrateConfig, type MigrateConfig } from './config.js';
import type { Logger } from '../common/logger.js';

/** Creates (or updates) the JetStream topology. Idempotent; safe to run on every deploy. */
export async function migrate(config: MigrateConfig, log: Logger): Promise<void> {
  const nc = await connectNats({
    servers: config.NATS_URL,
    name: 'ledgerflux-migrate',
    log,
    user: config.NATS_USER,
    pass: config.NATS_PASSWORD,
  });
  try {
    await ensureTopology(nc, { replicas: config.JS_REPLICAS });
    log.info(
      {
        streams: streamConfigs({ replicas: config.JS_REPLICAS }).map((s) => s.name),
        replicas: config.JS_REPLICAS,
      },
      'jetstream topology ready',
    );
  } finally {
    await nc.close();
  }
}

export async function main(_argv: string[]): Promise<number> {
  let config: MigrateConfig;
  try {
    config = loadMigrateConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ledgerflux migrate: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger('migrate', config.LOG_LEVEL);
  await migrate(config, log);
  log.flush();
  return 0;
}
