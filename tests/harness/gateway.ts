import type { NatsConnection } from '@nats-io/nats-core';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { createLogger, type Logger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { ensureTopology } from '../../services/common/topology.js';
import { loadGatewayConfig } from '../../services/gateway/config.js';
import { startGateway, type Gateway } from '../../services/gateway/gateway.js';
import { startNats, type NatsServer } from './nats.js';
import { NormPublisher } from './norm-publisher.js';
import { waitFor } from './wait.js';

/**
 * A gateway in process on port 0 over a private nats-server with the topology created,
 * plus a publisher of MD_NORM messages and a `ws` test client that records every frame.
 */
export interface GatewayEnv {
  server: NatsServer;
  nc: NatsConnection;
  pub: NormPublisher;
  gw: Gateway;
  registry: Registry;
  /** ws://127.0.0.1:<port>/ws */
  url: string;
  /** Prometheus counter/gauge value (summed over labels matching `labels`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  /** Another gateway on the same NATS (stopped by stop()). */
  another(vars?: Record<string, string>): Promise<{ gw: Gateway; url: string }>;
  stop(): Promise<void>;
}

export interface GatewayEnvOptions {
  /** Runs after the topology exists and before the gateway starts. */
  before?: (nc: NatsConnection, pub: NormPublisher) => Promise<void>;
  /** The gateway's logger (silent by default). */
  log?: Logger;
}

export async function startGatewayEnv(
  env: Record<string, string> = {},
  opts: GatewayEnvOptions = {},
): Promise<GatewayEnv> {
  const server = await startNats();
  const quiet = createLogger('test', 'silent');
  const log = opts.log ?? quiet;
  const nc = await connectNats({
    servers: [server.url],
    name: 'test',
    log: quiet,
    publishing: true,
  });
  await ensureTopology(nc, { replicas: 1 });
  const pub = new NormPublisher(nc);
  await opts.before?.(nc, pub);
  const extra: { gw: Gateway; nc: NatsConnection }[] = [];
  const launch = async (vars: Record<string, string>, registry: Registry) => {
    const gwNc = await connectNats({ servers: [server.url], name: 'gateway', log: quiet });
    const config = loadGatewayConfig({
      NATS_URL: server.url,
      PRODUCTS: 'BTC-USD,ETH-USD',
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      ...vars,
    });
    const gw = await startGateway(config, { nc: gwNc, log, registry });
    await waitFor('gateway ready', () => gw.readiness().ready);
    return { gw, nc: gwNc };
  };
  const registry = new Registry();
  const { gw, nc: gwNc } = await launch(env, registry);
  return {
    server,
    nc,
    pub,
    gw,
    registry,
    url: `ws://127.0.0.1:${gw.port}/ws`,
    metric: async (name, labels = {}) => {
      const m = await registry.getSingleMetric(name)?.get();
      return (m?.values ?? [])
        .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
        .filter((v) => !('le' in v.labels))
        .reduce((a, v) => a + v.value, 0);
    },
    another: async (vars = env) => {
      const g = await launch(vars, new Registry());
      extra.push(g);
      return { gw: g.gw, url: `ws://127.0.0.1:${g.gw.port}/ws` };
    },
    stop: async () => {
      for (const g of extra) {
        await g.gw.stop();
        await g.nc.close();
      }
      await gw.stop();
      await gwNc.close();
      await nc.close();
      await server.stop();
    },
  };
}

export type Frame = Record<string, unknown> & { op: string };

/** A `ws` client that keeps every frame it got, parsed. */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  closeCode: number | undefined;

  /** `slim`: drop the `data` of updates and snapshots (tests that count many frames). */
  constructor(url: string, opts: WebSocket.ClientOptions & { slim?: boolean } = {}) {
    const { slim = false, ...wsOpts } = opts;
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...wsOpts });
    this.ws.on('message', (data: Buffer) => {
      const f = JSON.parse(data.toString('utf8')) as Frame;
      if (slim) delete f.data;
      this.frames.push(f);
    });
    this.ws.on('error', () => undefined);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        resolve();
      });
      this.ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`upgrade refused: ${String(res.statusCode)}`));
      });
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code: number, reason: Buffer) => {
        this.closeCode = code;
        resolve({ code, reason: reason.toString() });
      });
    });
  }

  static async open(
    url: string,
    opts?: WebSocket.ClientOptions & { slim?: boolean },
  ): Promise<TestClient> {
    const c = new TestClient(url, opts);
    await c.opened;
    return c;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Frames other than heartbeats. */
  data(): Frame[] {
    return this.frames.filter((f) => f.op !== 'heartbeat');
  }

  /** Waits for a frame after index `from` matching `pred`. */
  async next(pred: (f: Frame) => boolean, what = 'a frame', timeoutMs = 10_000): Promise<Frame> {
    return waitFor(what, () => this.frames.find(pred), { timeoutMs, intervalMs: 10 });
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close();
    return this.closed;
  }
}

/** Offsets of update/gap/status frames for a product, in arrival order. */
export function offsetsOf(frames: readonly Frame[], product: string, ops = ['update']): number[] {
  return frames
    .filter((f) => ops.includes(f.op) && f.product === product)
    .map((f) => f.offset as number);
}
