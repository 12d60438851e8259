/**
 * The simulator's shell: one HTTP server whose upgrade requests become Coinbase
 * Exchange or Advanced Trade feed sessions (package `ws`) and whose plain requests are the control,
 * health and metrics routes. `startSimulator` is what tests, demos and benchmarks use.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { createLogger, type Logger } from '../common/logger.js';
import { closeServer, createRegistry, listen } from '../common/metrics.js';
import { SimConnection } from './connection.js';
import { handleControl } from './control-http.js';
import { ControlLog, type ControlLogJson } from './core/control-log.js';
import {
  FaultState,
  FaultsUpdateSchema,
  type FaultsView,
  type FaultsUpdate,
} from './core/faults.js';
import { Hub, type FeedSource } from './hub.js';
import { SimMetrics } from './metrics.js';
import { ReplaySource, scanProducts, type ReplayOptions } from './replay-source.js';
import { nowUs, SyntheticSource } from './synthetic.js';

export interface SimulatorOptions {
  /** The protocol served: Coinbase Exchange (`ws-feed`, default) or Advanced Trade. */
  feed?: 'exchange' | 'advanced';
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Port for WebSocket and HTTP (default 0: any free port). */
  port?: number;
  /** Products to simulate (default BTC-USD, ETH-USD, SOL-USD; in replay: those in the file). */
  products?: readonly string[];
  /** Seed of the market and of fault decisions (default 1). */
  seed?: number;
  /** Market frames per second over all products, or 'max' (default 200). */
  rate?: number | 'max';
  /** Book levels per side, which the snapshot sends in full; 'full' = fullDepthLevels (default 50). */
  depth?: number | 'full';
  /**
   * Levels per side for depth 'full' (default 125,000: a BTC-USD Exchange snapshot of about
   * 6.5 MB; Advanced Trade 23,000: about 5 MB, as recorded).
   */
  fullDepthLevels?: number;
  /** Replay a recording instead of the synthetic market. */
  replay?: Partial<ReplayOptions> & { file: string };
  /** Send-buffer cap per connection before the slow-consumer error (default 8 MiB). */
  maxBufferBytes?: number;
  /** How long a closing connection may take to answer the close before it is terminated (default 5000). */
  slowConsumerGraceMs?: number;
  /** Close connections that send no subscribe within this time (default 5000; 0 disables). */
  subscribeTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  statusIntervalMs?: number;
  l2BatchMs?: number;
  l2MaxChanges?: number;
  /** `modern` (2026: level2_50, account_ids) or `classic` subscriptions acks (default modern). */
  ackStyle?: 'modern' | 'classic';
  /** Probability that a deleted level's size is spelled "0", "0.0", … instead of "0.00000000" (default 0.05). */
  zeroVariety?: number;
  /** With rate 'max': pause the market while a subscribed client has more than maxBufferBytes/2 unsent. */
  backpressure?: boolean;
  /**
   * With rate 'max', in process: pause the market while this returns true (a benchmark
   * closes the loop: no new frames while its pipeline is too far behind).
   */
  hold?: () => boolean;
  /** Faults in force from the start. */
  faults?: FaultsUpdate;
  /**
   * Advanced Trade: a connection without `heartbeats` whose channel carried nothing for
   * this long is closed (default 75,000; the docs say 60-90 s).
   */
  idleCloseMs?: number;
  logger?: Logger;
  registry?: Registry;
}

export interface MarketView {
  bestBid: number | undefined;
  bestAsk: number | undefined;
  lastTradeId: number;
  sequence: number;
}

export interface Simulator {
  /** ws://host:port */
  readonly url: string;
  /** http://host:port, for /control/*, /healthz and /metrics. */
  readonly httpUrl: string;
  readonly port: number;
  readonly products: readonly string[];
  readonly registry: Registry;
  /** Merges a fault update (a key replaces that fault, null clears it, reset clears all). */
  setFaults(update: FaultsUpdate): FaultsView;
  faults(): FaultsView;
  /** The trade oracle: per product, trade ids delivered per connection, missed with a reason. */
  log(): ControlLogJson;
  connections(): number;
  connectionIds(): string[];
  /** Market frames generated so far (synthetic or replayed). */
  framesGenerated(): number;
  /** Synthetic mode: the market's top of book and counters, in ticks. */
  market(product: string): MarketView | undefined;
  /** Synthetic mode: the best `depth` levels per side as sent on the wire (after `pause`, the book subscribers have). */
  book(
    product: string,
    depth: number,
  ): { bids: [string, string][]; asks: [string, string][] } | undefined;
  /** Synthetic mode: the market stops making events and flushes its pending book changes. */
  pause(): void;
  /** Resolves when a replay has sent its whole recording (at once in synthetic mode). */
  replayDone(): Promise<void>;
  stop(): Promise<void>;
}

const DEFAULT_PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'];

function rawToText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  return Buffer.from(new Uint8Array(data)).toString('utf8');
}
export const DEFAULT_FULL_DEPTH_LEVELS = 125_000;
/** About 46,000 levels in all: the recorded ~5 MB Advanced Trade BTC-USD snapshot (PROTOCOL.md §0.10). */
export const DEFAULT_FULL_DEPTH_LEVELS_AT = 23_000;

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const logger = opts.logger ?? createLogger('sim', 'silent');
  const registry = opts.registry ?? createRegistry('sim');
  const metrics = new SimMetrics(registry);
  const controlLog = new ControlLog();
  const faultState = new FaultState();
  const seed = opts.seed ?? 1;
  const maxBufferBytes = opts.maxBufferBytes ?? 8 * 1024 * 1024;
  const feed = opts.feed ?? 'exchange';
  if (feed === 'advanced' && opts.replay !== undefined)
    throw new Error('replay serves recorded Exchange frames: not with feed "advanced"');

  let source: FeedSource;
  let synthetic: SyntheticSource | undefined;
  let replay: ReplaySource | undefined;
  if (opts.replay !== undefined) {
    const products = opts.products ?? (await scanProducts(opts.replay.file));
    replay = new ReplaySource(
      products,
      {
        file: opts.replay.file,
        speed: opts.replay.speed ?? 1,
        retime: opts.replay.retime ?? false,
        waitForSubscriber: opts.replay.waitForSubscriber ?? true,
      },
      metrics,
      logger,
    );
    source = replay;
  } else {
    const depth = opts.depth ?? 50;
    synthetic = new SyntheticSource(
      {
        products: opts.products ?? DEFAULT_PRODUCTS,
        seed,
        rate: opts.rate ?? 200,
        levels:
          depth === 'full'
            ? (opts.fullDepthLevels ??
              (feed === 'advanced' ? DEFAULT_FULL_DEPTH_LEVELS_AT : DEFAULT_FULL_DEPTH_LEVELS))
            : depth,
        heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 1000,
        statusIntervalMs: opts.statusIntervalMs ?? 10_000,
        l2BatchMs: opts.l2BatchMs ?? 50,
        l2MaxChanges: opts.l2MaxChanges ?? 16,
        zeroVariety: opts.zeroVariety ?? 0.05,
        backpressureBytes: opts.backpressure === true ? maxBufferBytes / 2 : undefined,
        hold: opts.hold,
      },
      metrics,
    );
    source = synthetic;
  }

  const hub = new Hub(source, controlLog, metrics, opts.ackStyle ?? 'modern', feed);
  synthetic?.attach(hub);
  replay?.attach(hub);
  if (opts.faults !== undefined) faultState.apply(FaultsUpdateSchema.parse(opts.faults));

  let nextConn = 1;
  let stopping = false;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, clientTracking: false });
  const onConnection = (ws: WebSocket, socket: Duplex, req: IncomingMessage): void => {
    const id = `c${nextConn++}`;
    const conn = new SimConnection(id, ws, socket, {
      log: controlLog,
      metrics,
      faults: faultState,
      logger,
      seed,
      maxBufferBytes,
      slowConsumerGraceMs: opts.slowConsumerGraceMs ?? 5000,
      subscribeTimeoutMs: opts.subscribeTimeoutMs ?? 5000,
      feed,
      onClosed: (c) => {
        hub.remove(c);
        metrics.connectionsOpen.dec();
      },
    });
    hub.add(conn);
    metrics.connectionsOpen.inc();
    controlLog.connectionOpened(
      id,
      `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`,
      new Date().toISOString(),
    );
    logger.info({ conn: id, remote: req.socket.remoteAddress }, 'connection opened');
    ws.on('message', (data) => {
      hub.handleMessage(conn, rawToText(data));
    });
    ws.on('error', (err) => {
      logger.debug({ conn: id, err: err.message }, 'socket error');
    });
  };

  const server = createServer((req, res) => {
    void handleControl(req, res, {
      registry,
      ready: () => !stopping,
      setFaults,
      faults: () => faultState.active(),
      log: () => controlLog.toJSON(),
      stats: () => ({
        connections: hub.size,
        frames_generated: (synthetic ?? replay)?.framesGenerated ?? 0,
        products: source.products,
        mode: replay === undefined ? 'synthetic' : 'replay',
        feed,
      }),
    }).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          code: 'INTERNAL',
          message: err instanceof Error ? err.message : String(err),
        }),
      );
    });
  });
  server.on('upgrade', (req, socket, head) => {
    if (stopping) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      onConnection(ws, socket, req);
    });
  });

  function setFaults(update: FaultsUpdate): FaultsView {
    const active = faultState.apply(FaultsUpdateSchema.parse(update));
    logger.info({ faults: active }, 'faults updated');
    hub.pollFaults();
    return active;
  }

  const host = opts.host ?? '127.0.0.1';
  await listen(server, opts.port ?? 0, host);
  const port = (server.address() as AddressInfo).port;
  source.start();
  let atTimer: NodeJS.Timeout | undefined;
  if (feed === 'advanced') {
    const startedUs = nowUs() - Math.floor(process.uptime() * 1e6);
    const idleUs = (opts.idleCloseMs ?? 75_000) * 1000;
    atTimer = setInterval(() => {
      const now = nowUs();
      hub.atTick(now, now - startedUs, idleUs);
    }, opts.heartbeatIntervalMs ?? 1000);
  }
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  logger.info(
    { port, feed, products: source.products, mode: replay === undefined ? 'synthetic' : 'replay' },
    'simulator listening',
  );

  let stopped: Promise<void> | undefined;
  return {
    url: `ws://${shownHost}:${port}`,
    httpUrl: `http://${shownHost}:${port}`,
    port,
    products: source.products,
    registry,
    setFaults,
    faults: () => faultState.active(),
    log: () => controlLog.toJSON(),
    connections: () => hub.size,
    connectionIds: () => hub.ids(),
    framesGenerated: () => (synthetic ?? replay)?.framesGenerated ?? 0,
    market: (product) => {
      const m = synthetic?.market(product);
      return m === undefined
        ? undefined
        : {
            bestBid: m.bestBid(),
            bestAsk: m.bestAsk(),
            lastTradeId: m.lastTrade.tradeId,
            sequence: m.sequence,
          };
    },
    book: (product, depth) => synthetic?.market(product)?.topLevels(depth),
    pause: () => {
      synthetic?.pause();
    },
    replayDone: () => replay?.done ?? Promise.resolve(),
    stop: () => {
      stopped ??= (async () => {
        stopping = true;
        clearInterval(atTimer);
        await source.stop();
        const closing = [...hub.all()].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (!c.isOpen) {
                resolve();
                return;
              }
              c.onceClosed(resolve);
              c.close('server_stop', 1001, 'simulator stopping');
            }),
        );
        await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, 1000).unref())]);
        for (const c of hub.all()) c.terminate();
        wss.close();
        await closeServer(server);
        logger.info('simulator stopped');
      })();
      return stopped;
    },
  };
}
