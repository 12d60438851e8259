/**
 * `ledgerflux sim` configuration in two steps: the environment (LOG_LEVEL, PRODUCTS,
 * SIM_PORT) through one zod schema, then command-line flags, which win.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  ConfigError,
  loadConfig,
  logLevel,
  port,
  productList,
  type Env,
} from '../common/config.js';
import { FaultsUpdateSchema, type FaultsUpdate } from './core/faults.js';
import type { SimulatorOptions } from './server.js';

export const SimEnvSchema = z.object({
  LOG_LEVEL: logLevel,
  COINBASE_FEED: z.enum(['exchange', 'advanced']).default('exchange'),
  PRODUCTS: productList('BTC-USD,ETH-USD,SOL-USD'),
  SIM_PORT: port(9200),
});

export const USAGE = `usage: ledgerflux sim [options]

Coinbase feed simulator (Exchange ws-feed or Advanced Trade) with a control API on the same port.

  --feed exchange|advanced  protocol served (env COINBASE_FEED, default exchange)
  --port N              WebSocket + HTTP port (env SIM_PORT, default 9200)
  --host H              listen address (default 0.0.0.0)
  --products A,B        products (env PRODUCTS, default BTC-USD,ETH-USD,SOL-USD)
  --seed N              seed of the market and of fault decisions (default 1)
  --rate N|max          market frames per second over all products (default 200)
  --depth N|full        book levels per side, all sent in the snapshot (default 50)
  --full-levels N       levels per side for --depth full (default 125000: ~6.5 MB BTC-USD;
                        advanced 23000: ~5 MB)
  --backpressure        with --rate max: pause while a client has > max-buffer/2 unsent
  --replay FILE         replay a recording (raw frames or {"lf":1,"recv_us":…,"frame":"…"})
  --speed N|max         replay pace: 1 = recorded pace, 10 = ten times faster (default 1)
  --retime              rewrite recorded times to the time of sending
  --replay-now          start the replay at once, not on the first subscribe
  --max-buffer BYTES    per-connection send buffer before ErrSlowConsume (default 8388608)
  --subscribe-timeout-ms N  close a connection with no subscribe after N ms (default 5000)
  --ack-style modern|classic  subscriptions ack shape (default modern: level2_50, account_ids)
  --faults JSON         initial faults, same JSON as POST /control/faults
  --drop P|N            drop match frames: probability P (<1) or the next N
  --dup P|N             duplicate frames
  --reorder P|N         hold frames back up to --reorder-k places (default 3)
  --reorder-k K
  --malformed P|N       insert broken (non-JSON) frames
  --stall MS[@AFTER]    one stall of MS ms after AFTER frames
  --close AFTER[:CODE]  close a connection once, after AFTER frames (CODE default 1006 = terminate)
  --seq-skip P|N        advanced: leave holes in sequence_num
  --idle-close-ms N     advanced: close a connection whose channel was silent this long
                        without heartbeats (default 75000)
  --log-level LEVEL     pino level (env LOG_LEVEL, default info)
`;

function budget(flag: string, v: string): { p: number } | { count: number } {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new ConfigError([`--${flag}: a probability in (0,1) or a count ≥ 1 (got ${v})`]);
  if (n < 1) return { p: n };
  if (!Number.isInteger(n))
    throw new ConfigError([`--${flag}: a count must be an integer (got ${v})`]);
  return { count: n };
}

function intFlag(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError([`--${flag}: an integer ≥ ${min} (got ${v})`]);
  return n;
}

function numOrMax(flag: string, v: string, min: number): number | 'max' {
  if (v === 'max' || v === '0') return 'max';
  const n = Number(v);
  if (!Number.isFinite(n) || n < min)
    throw new ConfigError([`--${flag}: a number ≥ ${min} or "max" (got ${v})`]);
  return n;
}

export interface SimCliConfig {
  options: SimulatorOptions;
  logLevel: string;
  help: boolean;
}

/** Parses flags over the environment; throws ConfigError listing what is wrong. */
export function parseSimArgs(argv: string[], env: Env): SimCliConfig {
  const envConfig = loadConfig(SimEnvSchema, env);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        feed: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        products: { type: 'string' },
        seed: { type: 'string' },
        rate: { type: 'string' },
        depth: { type: 'string' },
        'full-levels': { type: 'string' },
        backpressure: { type: 'boolean' },
        replay: { type: 'string' },
        speed: { type: 'string' },
        retime: { type: 'boolean' },
        'replay-now': { type: 'boolean' },
        'max-buffer': { type: 'string' },
        'subscribe-timeout-ms': { type: 'string' },
        'ack-style': { type: 'string' },
        faults: { type: 'string' },
        drop: { type: 'string' },
        dup: { type: 'string' },
        reorder: { type: 'string' },
        'reorder-k': { type: 'string' },
        malformed: { type: 'string' },
        stall: { type: 'string' },
        close: { type: 'string' },
        'seq-skip': { type: 'string' },
        'idle-close-ms': { type: 'string' },
        'log-level': { type: 'string' },
      },
    });
  } catch (err) {
    throw new ConfigError([err instanceof Error ? err.message : String(err)]);
  }
  const v = parsed.values;
  const feed = v.feed ?? envConfig.COINBASE_FEED;
  if (feed !== 'exchange' && feed !== 'advanced')
    throw new ConfigError([`--feed: exchange or advanced (got ${feed})`]);
  const options: SimulatorOptions = {
    feed,
    host: v.host ?? '0.0.0.0',
    port: v.port === undefined ? envConfig.SIM_PORT : intFlag('port', v.port, 0),
    products:
      v.products === undefined
        ? envConfig.PRODUCTS
        : loadConfig(SimEnvSchema.pick({ PRODUCTS: true }), { PRODUCTS: v.products }).PRODUCTS,
    seed: v.seed === undefined ? 1 : intFlag('seed', v.seed, 0),
    rate: v.rate === undefined ? 200 : numOrMax('rate', v.rate, 0),
    depth: v.depth === undefined ? 50 : v.depth === 'full' ? 'full' : intFlag('depth', v.depth, 1),
    backpressure: v.backpressure ?? false,
  };
  if (v['full-levels'] !== undefined)
    options.fullDepthLevels = intFlag('full-levels', v['full-levels'], 1);
  if (v['idle-close-ms'] !== undefined)
    options.idleCloseMs = intFlag('idle-close-ms', v['idle-close-ms'], 1);
  if (v['max-buffer'] !== undefined)
    options.maxBufferBytes = intFlag('max-buffer', v['max-buffer'], 1024);
  if (v['subscribe-timeout-ms'] !== undefined) {
    options.subscribeTimeoutMs = intFlag('subscribe-timeout-ms', v['subscribe-timeout-ms'], 0);
  }
  if (v['ack-style'] !== undefined) {
    if (v['ack-style'] !== 'modern' && v['ack-style'] !== 'classic') {
      throw new ConfigError([`--ack-style: modern or classic (got ${v['ack-style']})`]);
    }
    options.ackStyle = v['ack-style'];
  }
  if (v.replay !== undefined) {
    if (feed === 'advanced')
      throw new ConfigError(['--replay: recordings are replayed as the Exchange feed only']);
    options.replay = {
      file: v.replay,
      speed: v.speed === undefined ? 1 : numOrMax('speed', v.speed, Number.MIN_VALUE),
      retime: v.retime ?? false,
      waitForSubscriber: !(v['replay-now'] ?? false),
    };
    // Replay products come from the recording unless given explicitly.
    if (v.products === undefined) delete options.products;
  }
  options.faults = faultsFromFlags(v);
  const logLevelValue = v['log-level'] ?? envConfig.LOG_LEVEL;
  if (!logLevel.safeParse(logLevelValue).success)
    throw new ConfigError([`--log-level: not a pino level (${logLevelValue})`]);
  return { options, logLevel: logLevelValue, help: v.help ?? false };
}

function faultsFromFlags(v: Record<string, string | boolean | undefined>): FaultsUpdate {
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? v[k] : undefined);
  let base: FaultsUpdate = {};
  const json = str('faults');
  if (json !== undefined) {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      throw new ConfigError([`--faults: not JSON (${json})`]);
    }
    const r = FaultsUpdateSchema.safeParse(raw);
    if (!r.success) throw new ConfigError([`--faults: ${z.prettifyError(r.error)}`]);
    base = r.data;
  }
  const f: FaultsUpdate = { ...base };
  for (const kind of ['drop', 'dup', 'malformed'] as const) {
    const s = str(kind);
    if (s !== undefined) f[kind] = budget(kind, s);
  }
  const seqSkip = str('seq-skip');
  if (seqSkip !== undefined) f.seq_skip = budget('seq-skip', seqSkip);
  const reorder = str('reorder');
  if (reorder !== undefined) {
    const k = str('reorder-k');
    f.reorder = {
      ...budget('reorder', reorder),
      k: k === undefined ? 3 : intFlag('reorder-k', k, 1),
    };
  }
  const stall = str('stall');
  if (stall !== undefined) {
    const [ms = '', after = '0'] = stall.split('@');
    f.stall = { ms: intFlag('stall', ms, 1), after_frames: intFlag('stall', after, 0) };
  }
  const close = str('close');
  if (close !== undefined) {
    const [after = '', code = '1006'] = close.split(':');
    f.close = { after_frames: intFlag('close', after, 0), code: intFlag('close', code, 1000) };
  }
  const checked = FaultsUpdateSchema.safeParse(f);
  if (!checked.success) throw new ConfigError([`faults: ${z.prettifyError(checked.error)}`]);
  return checked.data;
}
