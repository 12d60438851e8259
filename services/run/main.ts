import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeError } from '../common/errors.js';
import { FEED_URLS } from '../ingestor/config.js';
import type { CoinbaseFeed } from '../ingestor/core/feed-protocol.js';
import { startChild, type Child } from './children.js';
import { pgPlace, startNatsServer, startPostgresServer } from './infra.js';
import { portOr } from './ports.js';
import { CREDENTIAL_VARIABLES, secureRun } from './secure.js';

/**
 * `ledgerflux run [--sim] [--feed exchange|advanced] [--products A,B] [--shards N] [--port P]`: the whole pipeline on
 * this machine. Infrastructure is started when NATS_URL / DATABASE_URL are not given;
 * then `migrate`, then every service as a child process with prefixed logs. Ctrl-C stops
 * everything, services first, and leaves no process or port behind.
 */
const USAGE = `usage: ledgerflux run [--sim] [--secure] [--feed exchange|advanced] [--products BTC-USD,ETH-USD] [--shards N] [--port 8080] [--feed-url URL]
  --sim        use the local Coinbase simulator instead of the live feed (make demo)
  --feed       Coinbase Exchange or Advanced Trade (default: COINBASE_FEED or exchange)
  --products   products to follow (default: PRODUCTS or BTC-USD,ETH-USD,SOL-USD)
  --shards     normalizer shards (default 2)
  --port       gateway port (default 8080, or a free one)
  --feed-url   feed URL (default: the chosen feed's public URL)
  --secure     least privilege: one NATS user per service and database logins for the
               snapshotter and the gateway, with passwords generated for this run; each
               service gets only its own (needs the local nats-server: NATS_URL unset)
`;

/** The feed from --feed, else COINBASE_FEED, else the Exchange; undefined when neither is a feed. */
export function chooseFeed(
  flag: string | undefined,
  env: string | undefined,
): CoinbaseFeed | undefined {
  const v = flag ?? (env === undefined || env.trim() === '' ? 'exchange' : env.trim());
  return v === 'exchange' || v === 'advanced' ? v : undefined;
}
const FEED_CHECK_MS = 10_000;

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Services land one by one; run those this build has. */
function hasService(name: string): boolean {
  return ['main.js', 'main.ts'].some((f) =>
    existsSync(path.join(import.meta.dirname, '..', name, f)),
  );
}

function say(line: string): void {
  process.stdout.write(`ledgerflux run: ${line}\n`);
}

export async function main(argv: string[]): Promise<number | undefined> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        sim: { type: 'boolean' },
        products: { type: 'string' },
        shards: { type: 'string' },
        port: { type: 'string' },
        'feed-url': { type: 'string' },
        feed: { type: 'string' },
        secure: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`${describeError(err)}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const feed = chooseFeed(values.feed, process.env.COINBASE_FEED);
  if (feed === undefined) {
    process.stderr.write(`--feed (or COINBASE_FEED) must be exchange or advanced\n${USAGE}`);
    return 2;
  }
  const products = values.products ?? process.env.PRODUCTS ?? 'BTC-USD,ETH-USD,SOL-USD';
  const shards = Number(values.shards ?? process.env.SHARDS ?? '2');
  if (!Number.isInteger(shards) || shards < 1 || shards > 16) {
    process.stderr.write(`--shards must be 1..16\n${USAGE}`);
    return 2;
  }
  const secure = values.secure === true ? secureRun(shards) : undefined;
  if (secure !== undefined && nonEmpty(process.env.NATS_URL) !== undefined) {
    process.stderr.write(
      `--secure configures the nats-server that run starts: unset NATS_URL\n${USAGE}`,
    );
    return 2;
  }
  const repo = process.cwd();
  const dataDir = path.join(repo, '.ledgerflux');
  mkdirSync(dataDir, { recursive: true });

  const children: Child[] = [];
  let stopping = false;
  const stopAll = async (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`stopping (${why})`);
    for (const c of [...children].reverse()) await c.stop();
    say('stopped; no process left behind');
  };
  const onSignal = (sig: string) => {
    void stopAll(sig).then(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const env: Record<string, string> = {
      PRODUCTS: products,
      SHARDS: String(shards),
      COINBASE_FEED: feed,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    };
    // Infrastructure
    const givenNats = nonEmpty(process.env.NATS_URL);
    const givenDb = nonEmpty(process.env.DATABASE_URL);
    if (givenNats === undefined) {
      const port = await portOr(4222);
      children.push(
        await startNatsServer(
          path.join(dataDir, 'nats'),
          port,
          await portOr(8222),
          secure?.authorization,
        ),
      );
      env.NATS_URL = `nats://127.0.0.1:${String(port)}`;
      say(
        `✓ nats-server on 127.0.0.1:${String(port)} (JetStream data in ${path.join(dataDir, 'nats')})`,
      );
    } else {
      env.NATS_URL = givenNats;
    }
    if (givenDb === undefined) {
      const port = await portOr(5432);
      const place = pgPlace(repo);
      children.push(await startPostgresServer(place, port));
      env.DATABASE_URL = `postgres://ledgerflux@127.0.0.1:${String(port)}/ledgerflux`;
      say(`✓ PostgreSQL on 127.0.0.1:${String(port)} (data in ${place.dataDir})`);
    } else {
      env.DATABASE_URL = givenDb;
    }

    if (secure !== undefined)
      say('✓ one NATS user and one database login per service (passwords made for this run)');
    // Secure: credentials in run's own environment go to no child; each gets its own.
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(
        ([k]) => secure === undefined || !CREDENTIAL_VARIABLES.includes(k),
      ),
    );
    const self = process.argv[1] ?? path.join(import.meta.dirname, '../cli.js');
    const runCommand = (
      name: string,
      command: string,
      extra: Record<string, string> = {},
      args: string[] = [],
    ) => {
      const child = startChild(
        name,
        process.execPath,
        [...process.execArgv, self, command, ...args],
        {
          env: {
            ...inherited,
            ...env,
            ...secure?.envFor(command, env.DATABASE_URL ?? ''),
            ...extra,
          },
        },
      );
      children.push(child);
      void child.exited.then((code) => {
        if (!stopping && command !== 'migrate') say(`${name} exited with ${String(code)}`);
      });
      return child;
    };

    // The privileged step, then the services.
    const migrate = runCommand('migrate', 'migrate');
    const code = await migrate.exited;
    children.splice(children.indexOf(migrate), 1);
    if (code !== 0) throw new Error(`migrate failed with exit code ${String(code)}`);
    say('✓ streams and schema ready');

    let feedUrl = values['feed-url'] ?? process.env.COINBASE_WS_URL ?? FEED_URLS[feed];
    if (values.sim === true) {
      const simPort = await portOr(9200);
      runCommand('sim', 'sim', {}, [
        '--feed',
        feed,
        '--port',
        String(simPort),
        '--products',
        products,
        '--rate',
        '50',
      ]);
      feedUrl = `ws://127.0.0.1:${String(simPort)}`;
      say(
        `✓ simulator (${feed === 'advanced' ? 'Advanced Trade' : 'Exchange'} protocol) on ${feedUrl}`,
      );
    }
    const ingestorMetrics = await portOr(9101);
    runCommand('ingestor', 'ingestor', {
      COINBASE_WS_URL: feedUrl,
      METRICS_PORT: String(ingestorMetrics),
    });
    for (let k = 0; k < shards; k++) {
      runCommand(`normalizer-${String(k)}`, 'normalizer', {
        SHARD: String(k),
        METRICS_PORT: String(await portOr(9110 + k)),
      });
    }
    if (hasService('snapshotter'))
      runCommand('snapshotter', 'snapshotter', { METRICS_PORT: String(await portOr(9102)) });
    const gatewayPort = await portOr(Number(values.port ?? process.env.GATEWAY_PORT ?? '8080'));
    if (hasService('gateway'))
      runCommand('gateway', 'gateway', { GATEWAY_PORT: String(gatewayPort) });

    say('services started:');
    if (hasService('gateway')) {
      say(`  page       http://127.0.0.1:${String(gatewayPort)}/`);
      say(`  WebSocket  ws://127.0.0.1:${String(gatewayPort)}/ws`);
      say(`  REST       http://127.0.0.1:${String(gatewayPort)}/v1/products`);
    }
    say(`  metrics    http://127.0.0.1:${String(ingestorMetrics)}/metrics (ingestor)`);
    say('Ctrl-C stops everything.');
    void watchFeed(ingestorMetrics, feedUrl, values.sim === true);
    await new Promise<void>(() => undefined);
    return 0;
  } catch (err) {
    say(`failed: ${describeError(err)}`);
    await stopAll('start failed');
    return 1;
  }
}

/**
 * Says when the feed is connected; says so when it cannot be reached within FEED_CHECK_MS,
 * and what to do instead, but keeps watching: on a loaded machine the feed may come later
 * (seen in CI: the simulator listening 10 s after its start), and then says that too.
 */
async function watchFeed(metricsPort: number, feedUrl: string, sim: boolean): Promise<void> {
  const started = Date.now();
  let warned = false;
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    try {
      const text = await (await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`)).text();
      if (/^ledgerflux_ingestor_feed_connected 1$/m.test(text)) {
        const late = warned ? ` after ${String(Math.round((Date.now() - started) / 1000))} s` : '';
        say(`✓ feed connected (${feedUrl})${late}`);
        return;
      }
    } catch {
      // the ingestor is still starting
    }
    if (!warned && Date.now() - started >= FEED_CHECK_MS) {
      warned = true;
      say(
        `✗ the feed at ${feedUrl} could not be reached for ${String(FEED_CHECK_MS / 1000)} s (still trying).`,
      );
      if (!sim)
        say('  No internet here? `make demo` runs the whole pipeline against the local simulator.');
    }
  }
}
