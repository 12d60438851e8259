import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Registry } from 'prom-client';
import type { RawData, WebSocket } from 'ws';
import { describeError } from '../common/errors.js';
import { sleep } from '../common/lifecycle.js';
import type { Logger } from '../common/logger.js';
import { ApiKeys } from './auth.js';
import type { GatewayConfig } from './config.js';
import { heartbeatFrame } from './core/frames.js';
import { CLOSE } from './core/protocol.js';
import { Feed, HistoryPool } from './feed.js';
import { Hub } from './hub.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { startResume } from './resume.js';
import { Session, type SessionLimits } from './session.js';
import { startWsServer, type ExtraRoutes } from './ws-server.js';

/**
 * The gateway as a unit that main.ts (and the tests, in process on port 0) start and
 * stop: HTTP + WebSocket server, the shared feed, the hub, the timers. The HTTP port
 * comes up first so /readyz can say why the gateway is not ready (topology missing,
 * catching up, NATS down).
 */

export interface GatewayDeps {
  nc: NatsConnection;
  log: Logger;
  registry: Registry;
  /** REST endpoints and the web page (http-api.ts), after the probes. */
  routes?: ExtraRoutes;
  /** Told of every readiness change (main.ts forwards it to the service lifecycle). */
  onReadiness?: (ready: boolean, reason?: string) => void;
}

export interface GatewayStats {
  connections: number;
  subscriptions: number;
  head: number;
  bufferedBytes: number;
  maxClientBufferedBytes: number;
  history: { active: number; queued: number };
}

export interface Gateway {
  readonly port: number;
  readonly metrics: GatewayMetrics;
  readiness(): { ready: boolean; reason?: string };
  stats(): GatewayStats;
  /** Readiness 503, no new connections, every client closed with 1001, feed stopped. */
  stop(): Promise<void>;
}

export async function startGateway(
  config: Readonly<GatewayConfig>,
  deps: GatewayDeps,
): Promise<Gateway> {
  const { nc, log } = deps;
  const metrics = createGatewayMetrics(deps.registry, { feedLag: () => feed.pending });
  const hub = new Hub({
    products: config.PRODUCTS,
    ringCapacity: config.RESUME_BUFFER,
    ringMaxAgeMs: config.RESUME_MAX_AGE_MS,
    snapshotTrades: config.GATEWAY_SNAPSHOT_TRADES,
    maxSubscriptions: config.GATEWAY_MAX_SUBSCRIPTIONS,
    metrics,
    log,
  });
  const feed = new Feed(nc, {
    products: config.PRODUCTS,
    windowMs: config.RESUME_MAX_AGE_MS,
    log,
    metrics,
  });
  const pool = new HistoryPool(config.RESUME_MAX_CONCURRENT, (active, queued) => {
    metrics.historyReaders.labels('active').set(active);
    metrics.historyReaders.labels('queued').set(queued);
  });
  hub.resume = (s, sub) => {
    startResume({ hub, feed, pool, metrics }, s, sub);
  };
  const limits: SessionLimits = {
    maxFrameBytes: config.GATEWAY_MAX_FRAME_BYTES,
    slowBytes: config.GATEWAY_SLOW_BYTES,
    maxBufferBytes: config.GATEWAY_MAX_BUFFER_BYTES,
    slowMaxMs: config.GATEWAY_SLOW_MAX_MS,
    rateLimitPerS: config.GATEWAY_RATE_LIMIT_PER_S,
    rateLimitBurst: config.GATEWAY_RATE_LIMIT_BURST,
    abuseLimit: config.GATEWAY_ABUSE_LIMIT,
    closeGraceMs: config.GATEWAY_CLOSE_GRACE_MS,
  };

  let started = false;
  let natsUp = true;
  let stopping = false;
  let startProblem = 'starting';
  let lastReady: boolean | undefined;
  const readiness = (): { ready: boolean; reason?: string } => {
    if (stopping) return { ready: false, reason: 'shutting down' };
    if (!started) return { ready: false, reason: startProblem };
    if (!natsUp) return { ready: false, reason: 'NATS disconnected' };
    if (!hub.caughtUp) return { ready: false, reason: 'catching up with MD_NORM' };
    return { ready: true };
  };
  const readinessChanged = () => {
    const r = readiness();
    if (r.ready === lastReady) return;
    lastReady = r.ready;
    deps.onReadiness?.(r.ready, r.reason);
  };

  let connIds = 0;
  const onConnection = (ws: WebSocket, socket: Duplex, _req: IncomingMessage) => {
    const s = new Session(ws, socket, hub, limits, log.child({ conn: ++connIds }));
    hub.add(s);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      s.onFrame(toBuffer(data), isBinary);
    });
    ws.on('pong', () => {
      s.alive = true;
    });
    ws.on('error', (err) => {
      s.log.debug({ err: describeError(err) }, 'websocket error');
    });
    ws.on('close', (code: number) => {
      if (!s.closed) hub.countClose(code);
      hub.remove(s);
    });
    socket.on('drain', () => {
      hub.markDirty(s);
    });
  };

  const http = await startWsServer({
    host: config.GATEWAY_HOST,
    port: config.GATEWAY_PORT,
    registry: deps.registry,
    readiness,
    apiKeys: new ApiKeys(config.GATEWAY_API_KEYS),
    maxPayload: config.GATEWAY_MAX_FRAME_BYTES * 64,
    refuse: () => {
      if (!started) return 'not started';
      if (hub.sessions.size >= config.GATEWAY_MAX_CONNECTIONS) return 'too many connections';
      return undefined;
    },
    onConnection,
    routes: deps.routes,
    metrics,
    log,
  });
  log.info({ port: http.port, products: config.PRODUCTS }, 'gateway listening');

  const abort = new AbortController();
  metrics.natsConnected.set(nc.isClosed() ? 0 : 1);
  void watchNats(nc, (up) => {
    natsUp = up;
    metrics.natsConnected.set(up ? 1 : 0);
    readinessChanged();
  });
  const starting = (async () => {
    for (;;) {
      try {
        await feed.start({
          seed: (m) => {
            hub.seed(m);
          },
          setFloor: (f) => {
            hub.setFloor(f);
          },
          onMessage: (m) => {
            hub.onMessage(m);
          },
          onCaughtUp: () => {
            hub.onCaughtUp();
            readinessChanged();
          },
        });
        started = true;
        readinessChanged();
        return;
      } catch (err) {
        startProblem = describeError(err);
        readinessChanged();
        log.warn({ err: startProblem }, 'feed not started yet; retrying');
        await sleep(2_000, abort.signal);
        if (abort.signal.aborted) return;
      }
    }
  })();

  const timers = [
    setInterval(() => {
      const frame = heartbeatFrame(Date.now());
      for (const s of hub.sessions) s.send(frame);
    }, config.GATEWAY_HEARTBEAT_MS),
    setInterval(() => {
      for (const s of hub.sessions) {
        if (!s.alive) s.terminate('dead_peer');
        else {
          s.alive = false;
          s.ws.ping();
        }
      }
    }, config.GATEWAY_PING_MS),
    setInterval(() => {
      hub.evictOld(Date.now());
      metrics.bufferedBytes.set(hub.buffered().total);
    }, 1_000),
  ];
  for (const t of timers) t.unref();

  return {
    port: http.port,
    metrics,
    readiness,
    stats: () => {
      const b = hub.buffered();
      return {
        connections: hub.sessions.size,
        subscriptions: hub.registry.size,
        head: hub.head,
        bufferedBytes: b.total,
        maxClientBufferedBytes: b.max,
        history: pool.stats,
      };
    },
    stop: async () => {
      if (stopping) return;
      stopping = true;
      readinessChanged();
      abort.abort();
      for (const t of timers) clearInterval(t);
      http.stopAccepting();
      const now = Date.now();
      for (const s of [...hub.sessions]) {
        s.flush(now);
        s.close(CLOSE.shutdown, 'shutdown');
      }
      const deadline = Date.now() + config.GATEWAY_CLOSE_GRACE_MS + 1_000;
      while (hub.sessions.size > 0 && Date.now() < deadline) await sleep(20);
      await starting;
      await feed.stop();
      await http.close();
      log.info('gateway stopped');
    },
  };
}

async function watchNats(nc: NatsConnection, onChange: (up: boolean) => void): Promise<void> {
  for await (const s of nc.status()) {
    if (s.type === 'disconnect') onChange(false);
    else if (s.type === 'reconnect') onChange(true);
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
