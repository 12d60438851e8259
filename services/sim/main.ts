/**
 * `ledgerflux sim`: runs the Coinbase feed simulator (Exchange or Advanced Trade) until SIGTERM/SIGINT.
 */
import { ConfigError } from '../common/config.js';
import { runService } from '../common/lifecycle.js';
import { createLogger } from '../common/logger.js';
import { parseSimArgs, USAGE, type SimCliConfig } from './config.js';
import { startSimulator } from './server.js';

export async function main(argv: string[]): Promise<number | undefined> {
  let config: SimCliConfig;
  try {
    config = parseSimArgs(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ledgerflux sim: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (config.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = createLogger('sim', config.logLevel);
  const service = await runService({ name: 'sim', log }, async (ctx) => {
    const sim = await startSimulator({ ...config.options, logger: log });
    ctx.onStop('simulator', () => sim.stop());
    log.info(
      { url: sim.url, http: sim.httpUrl, feed: config.options.feed, products: sim.products },
      'ledgerflux sim ready',
    );
    ctx.setReady(true);
  });
  await service.stopped;
  log.flush();
  return 0;
}
