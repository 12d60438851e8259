import { parseArgs } from 'node:util';
import { ConfigError } from '../common/config.js';
import { describeError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { connectFromConfig } from '../common/nats.js';
import { ensureTopology, streamConfigs } from '../common/topology.js';
import { applyMigrations } from '../snapshotter/migrate-sql.js';
import { connectPostgres } from '../snapshotter/store.js';
import { dbLoginsOf, loadMigrateConfig, type MigrateConfig } from './config.js';
import { ensureDbLogins } from './db-logins.js';
import type { Logger } from '../common/logger.js';

const USAGE = `usage: ledgerflux migrate [--nats-only | --sql-only]
  Creates or updates the JetStream streams and the KV bucket (NATS_URL), then applies the
  numbered SQL migrations (DATABASE_URL) under an advisory lock, and the services' database
  logins whose passwords are set (SNAPSHOTTER_DB_PASSWORD, GATEWAY_DB_PASSWORD,
  GRAFANA_DB_PASSWORD). Idempotent.
  --nats-only   only the JetStream topology
  --sql-only    only the SQL schema
`;

export interface MigrateParts {
  nats: boolean;
  sql: boolean;
}

/** Creates (or updates) the JetStream topology. Idempotent; safe to run on every deploy. */
export async function migrate(config: MigrateConfig, log: Logger): Promise<void> {
  const nc = await connectFromConfig(config, {
    name: 'ledgerflux-migrate',
    log,
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

/** Applies the SQL migrations to DATABASE_URL. */
export async function migrateSql(config: MigrateConfig, log: Logger): Promise<void> {
  const sql = connectPostgres(config.DATABASE_URL, {
    max: 1,
    applicationName: 'ledgerflux-migrate',
  });
  try {
    const r = await applyMigrations(sql, log);
    log.info({ version: r.version, applied: r.applied }, 'sql schema ready');
    await ensureDbLogins(sql, dbLoginsOf(config), log);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function main(argv: string[]): Promise<number> {
  let parts: MigrateParts;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        'nats-only': { type: 'boolean' },
        'sql-only': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help === true) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (values['nats-only'] === true && values['sql-only'] === true)
      throw new Error('--nats-only and --sql-only exclude each other');
    parts = { nats: values['sql-only'] !== true, sql: values['nats-only'] !== true };
  } catch (err) {
    process.stderr.write(`ledgerflux migrate: ${describeError(err)}\n${USAGE}`);
    return 2;
  }
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
  if (parts.nats) await migrate(config, log);
  if (parts.sql) await migrateSql(config, log);
  log.flush();
  return 0;
}
