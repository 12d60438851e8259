import { ConfigError } from '../common/config.js';
import { runService } from '../common/lifecycle.js';
import { createLogger } from '../common/logger.js';
import { createRegistry } from '../common/metrics.js';
import { connectFromConfig } from '../common/nats.js';
import { loadGatewayConfig, type GatewayConfig } from './config.js';
import { startGateway } from './gateway.js';
import { createHttpApi } from './http-api.js';
import { connectReadPool } from './rest/db.js';

/**
 * `ledgerflux gateway`: WebSocket and REST access to MD_NORM and PostgreSQL, and the web
 * page. Shutdown order: readiness 503, clients closed with 1001, shared consumer stopped,
 * PostgreSQL pool closed, NATS drained.
 */
export async function main(_argv: string[]): Promise<number | undefined> {
  let config: Readonly<GatewayConfig>;
  try {
    config = loadGatewayConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ledgerflux gateway: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = createLogger('gateway', config.LOG_LEVEL);
  const registry = createRegistry('gateway');
  await runService({ name: 'gateway', log }, async (ctx) => {
    const nc = await connectFromConfig(config, {
      name: 'ledgerflux-gateway',
      log,
      signal: ctx.signal,
    });
    ctx.onStop('nats', () => nc.drain());
    // --- REST read side: history pool (closed after the gateway stops), routes ---
    const sql = connectReadPool(config.DATABASE_URL, {
      max: config.GATEWAY_DB_POOL_MAX,
      statementTimeoutMs: config.GATEWAY_DB_STATEMENT_TIMEOUT_MS,
    });
    ctx.onStop('postgres', () => sql.end({ timeout: 5 }));
    const api = createHttpApi({
      products: config.PRODUCTS,
      sql,
      nc,
      log,
      registry,
      webDir: config.GATEWAY_WEB_DIR,
    });
    // --- end REST read side ---
    const gateway = await startGateway(config, {
      nc,
      log,
      registry,
      routes: api.routes,
      onReadiness: (ready, reason) => {
        ctx.setReady(ready, reason);
      },
    });
    ctx.onStop('gateway', () => gateway.stop());
  });
  return undefined;
}
