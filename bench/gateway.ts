/**
 * Gateway fan-out: 1,000 WebSocket clients in a child process (its own core), one
 * product, trades published to MD_NORM; deliveries/s at saturation and publish-to-client
 * latency at a steady rate, beside a raw corked `ws` broadcast of frames of the same
 * size measured in the same run (same clients, same machine).
 *
 * Run: `npm run bench -- gateway`. The child side is this same file with `--clients`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import WebSocket, { WebSocketServer } from 'ws';
import { createLogger } from '../services/common/logger.js';
import { connectNats } from '../services/common/nats.js';
import { nowUs } from '../services/common/schemas/headers.js';
import { ensureTopology } from '../services/common/topology.js';
import { loadGatewayConfig } from '../services/gateway/config.js';
import { startGateway } from '../services/gateway/gateway.js';
import { startNats } from '../tests/harness/nats.js';
import { NormPublisher } from '../tests/harness/norm-publisher.js';
import type { BenchResult, Benchmark } from './types.js';

const CLIENTS = 1_000;
const BURST = 3_000;
const STEADY_RATE = 100;
const STEADY_MS = 3_000;
const SAMPLE_EVERY = 25;
const ROUNDS = 3;
const log = createLogger('bench', 'silent');

type ToChild =
  | { cmd: 'connect'; url: string; n: number; subscribe?: string }
  | { cmd: 'measure' }
  | { cmd: 'report'; expected: number; timeoutMs: number }
  | { cmd: 'close' };
type FromChild =
  | { ev: 'connected' }
  | { ev: 'report'; count: number; firstUs: number; lastUs: number; latUs: number[] };

// Child: the clients.

function clientsMain(): void {
  const sockets: WebSocket[] = [];
  let count = 0;
  let firstUs = 0;
  let lastUs = 0;
  let latUs: number[] = [];
  const send = (m: FromChild) => process.send?.(m);
  process.on('message', (m: ToChild) => {
    void (async () => {
      if (m.cmd === 'connect') {
        for (let i = 0; i < m.n; i++) {
          const ws = new WebSocket(m.url, { perMessageDeflate: false, skipUTF8Validation: true });
          let seen = 0;
          ws.on('message', (data: Buffer) => {
            // Heartbeats (`{"op":"heartbeat"`) are not deliveries.
            if (data[7] === 0x68) return;
            const now = nowUs();
            if (count++ === 0) firstUs = now;
            lastUs = now;
            if (++seen % SAMPLE_EVERY !== 0) return;
            const text = data.toString('latin1');
            const at = text.indexOf('"recv_us":');
            if (at >= 0) latUs.push(now - Number.parseInt(text.slice(at + 10, at + 26), 10));
          });
          await new Promise<void>((resolve, reject) => {
            ws.once('open', () => {
              resolve();
            });
            ws.once('error', reject);
          });
          if (m.subscribe !== undefined) ws.send(m.subscribe);
          sockets.push(ws);
        }
        send({ ev: 'connected' });
      } else if (m.cmd === 'measure') {
        count = 0;
        latUs = [];
      } else if (m.cmd === 'report') {
        const deadline = Date.now() + m.timeoutMs;
        while (count < m.expected && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 5));
        send({ ev: 'report', count, firstUs, lastUs, latUs });
      } else {
        for (const ws of sockets) ws.terminate();
        process.exit(0);
      }
    })();
  });
}

// Parent.

class Clients {
  private constructor(private readonly child: ChildProcess) {}

  static start(): Clients {
    const child = fork(fileURLToPath(import.meta.url), ['--clients'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Clients(child);
  }

  private ask<E extends FromChild['ev']>(
    m: ToChild,
    ev: E,
  ): Promise<Extract<FromChild, { ev: E }>> {
    return new Promise((resolve) => {
      const on = (r: FromChild) => {
        if (r.ev !== ev) return;
        this.child.off('message', on);
        resolve(r as Extract<FromChild, { ev: E }>);
      };
      this.child.on('message', on);
      this.child.send(m);
    });
  }

  connect(url: string, n: number, subscribe?: string) {
    return this.ask(
      { cmd: 'connect', url, n, ...(subscribe === undefined ? {} : { subscribe }) },
      'connected',
    );
  }

  measure(): void {
    this.child.send({ cmd: 'measure' } satisfies ToChild);
  }

  report(expected: number, timeoutMs = 60_000) {
    return this.ask({ cmd: 'report', expected, timeoutMs }, 'report');
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'close' } satisfies ToChild);
    await exited;
  }
}

interface Run {
  deliveriesPerS: number;
  received: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of this (server) process per 1,000 deliveries, in µs. */
  serverCpuUsPerK: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN) / 1000;
}

function summarize(r: Extract<FromChild, { ev: 'report' }>): Omit<Run, 'serverCpuUsPerK'> {
  const lat = [...r.latUs].sort((a, b) => a - b);
  const seconds = (r.lastUs - r.firstUs) / 1e6;
  return {
    deliveriesPerS: seconds > 0 ? r.count / seconds : 0,
    received: r.count,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
  };
}

/** Sends `n` messages at `ratePerS` (Infinity = as fast as backpressure allows). */
async function pace(
  n: number,
  ratePerS: number,
  send: (i: number) => Promise<void> | void,
): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    if (Number.isFinite(ratePerS)) {
      const due = start + (i * 1000) / ratePerS;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
    await send(i);
  }
}

/** The frame a gateway sends for a trade, with the publish time in recv_us. */
function tradeFrame(offset: number, tradeId: number): Buffer {
  const data = {
    v: 1,
    venue: 'coinbase',
    product: 'BTC-USD',
    seq: tradeId,
    time: new Date().toISOString(),
    recv_us: nowUs(),
    flags: [],
    type: 'trade',
    trade_id: String(tradeId),
    price: '64123.45',
    size: '0.0123',
    side: 'buy',
  };
  return Buffer.from(
    `{"op":"update","channel":"trades","product":"BTC-USD","offset":${offset},"seq":${tradeId},"data":${JSON.stringify(data)}}`,
  );
}

interface Side {
  burst(): Promise<Run>;
  steady(): Promise<Run>;
  /** Frames per socket write so far (batching). */
  framesPerWrite(): Promise<number>;
  stop(): Promise<void>;
}

/** Runs `send` n times and measures deliveries at the clients and this process's CPU. */
async function measured(
  clients: Clients,
  n: number,
  rate: number,
  send: (i: number) => Promise<void> | void,
): Promise<Run> {
  clients.measure();
  const cpu = process.cpuUsage();
  await pace(n, rate, send);
  const run = summarize(await clients.report(n * CLIENTS));
  const used = process.cpuUsage(cpu);
  return {
    ...run,
    serverCpuUsPerK: ((used.user + used.system) * 1000) / Math.max(1, run.received),
  };
}

/** Raw limit: a plain ws server broadcasting pre-serialized frames, corked per client per tick. */
async function startRaw(clients: Clients): Promise<Side> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((r) => wss.once('listening', r));
  const peers: { ws: WebSocket; socket: Duplex }[] = [];
  wss.on('connection', (ws, req) => peers.push({ ws, socket: req.socket }));
  await clients.connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, CLIENTS);
  let queue: Buffer[] = [];
  let scheduled = false;
  let batches = 0;
  let framesSent = 0;
  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    batches++;
    framesSent += batch.length;
    for (const p of peers) {
      p.socket.cork();
      for (const f of batch) p.ws.send(f, { binary: false });
      p.socket.uncork();
    }
  };
  const broadcast = async (f: Buffer) => {
    queue.push(f);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
    // Backpressure as the gateway has it: wait while any client is behind.
    if (queue.length >= 64) {
      await new Promise((r) => setImmediate(r));
      while (peers.some((p) => p.socket.writableLength > 256 * 1024)) {
        await new Promise((r) => setTimeout(r, 1));
      }
    }
  };
  let offset = 0;
  const run = (n: number, rate: number) =>
    measured(clients, n, rate, () => broadcast(tradeFrame(++offset, offset)));
  return {
    burst: () => run(BURST, Infinity),
    steady: () => run((STEADY_RATE * STEADY_MS) / 1000, STEADY_RATE),
    framesPerWrite: () => Promise.resolve(framesSent / Math.max(1, batches)),
    stop: async () => {
      for (const p of peers) p.ws.terminate();
      await new Promise<void>((resolve) => {
        wss.close(() => {
          resolve();
        });
      });
    },
  };
}

async function startGw(
  clients: Clients,
  natsUrl: string,
): Promise<Side & { slow(): Promise<Record<string, number>> }> {
  const nc = await connectNats({ servers: [natsUrl], name: 'bench-pub', log, publishing: true });
  const gwNc = await connectNats({ servers: [natsUrl], name: 'bench-gateway', log });
  await ensureTopology(nc, { replicas: 1 });
  const registry = new Registry();
  const gw = await startGateway(
    loadGatewayConfig({
      NATS_URL: natsUrl,
      PRODUCTS: 'BTC-USD',
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_MAX_CONNECTIONS: String(CLIENTS * 2),
    }),
    { nc: gwNc, log, registry },
  );
  while (!gw.readiness().ready) await new Promise((r) => setTimeout(r, 20));
  const subscribe = JSON.stringify({
    op: 'subscribe',
    channels: ['trades'],
    products: ['BTC-USD'],
    snapshot: false,
  });
  await clients.connect(`ws://127.0.0.1:${gw.port}/ws`, CLIENTS, subscribe);
  while (gw.stats().subscriptions < CLIENTS) await new Promise((r) => setTimeout(r, 20));
  const pub = new NormPublisher(nc);
  const inflight = new Set<Promise<unknown>>();
  const run = (n: number, rate: number) =>
    measured(clients, n, rate, async () => {
      const p = pub.publish({ ...pub.trade('BTC-USD'), recv_us: nowUs() });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      if (inflight.size >= 256) await Promise.race(inflight);
    });
  const metric = async (name: string) =>
    ((await registry.getSingleMetric(name)?.get())?.values ?? []).reduce((a, v) => a + v.value, 0);
  return {
    burst: () => run(BURST, Infinity),
    steady: () => run((STEADY_RATE * STEADY_MS) / 1000, STEADY_RATE),
    framesPerWrite: async () =>
      (await metric('ledgerflux_gateway_deliveries_total')) /
      Math.max(1, await metric('ledgerflux_gateway_socket_writes_total')),
    slow: async () => ({
      slowGaps: await metric('ledgerflux_gateway_slow_client_gaps_total'),
      conflated: await metric('ledgerflux_gateway_conflated_updates_total'),
    }),
    stop: async () => {
      await gw.stop();
      await gwNc.close();
      await nc.close();
    },
  };
}

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export const gatewayBenchmark: Benchmark = {
  description:
    `${String(CLIENTS)} WebSocket clients (child processes) on one product: gateway fan-out from ` +
    `MD_NORM beside a raw corked ws broadcast, ${String(ROUNDS)} alternating rounds, medians`,
  async run(): Promise<BenchResult[]> {
    const server = await startNats();
    const rawClients = Clients.start();
    const gwClients = Clients.start();
    try {
      const raw = await startRaw(rawClients);
      const gw = await startGw(gwClients, server.url);
      const rawBursts: Run[] = [];
      const gwBursts: Run[] = [];
      // Alternating rounds: a noisy neighbour hurts both sides alike.
      for (let round = 0; round < ROUNDS; round++) {
        rawBursts.push(await raw.burst());
        gwBursts.push(await gw.burst());
      }
      const rawSteady = await raw.steady();
      const gwSteady = await gw.steady();
      const slow = await gw.slow();
      const batching = {
        framesPerWrite: await gw.framesPerWrite(),
        rawFramesPerWrite: await raw.framesPerWrite(),
      };
      await gw.stop();
      await raw.stop();
      const rate = (runs: Run[]) => median(runs.map((r) => r.deliveriesPerS));
      const cpu = (runs: Run[]) => median(runs.map((r) => r.serverCpuUsPerK));
      return [
        {
          name: 'gateway: deliveries to 1,000 clients',
          value: rate(gwBursts),
          unit: 'deliveries/s',
          baseline: rate(rawBursts),
          target: '>= 60% of baseline',
          details: {
            clients: CLIENTS,
            burstMessages: BURST,
            rounds: gwBursts
              .map(
                (r, i) =>
                  `${r.deliveriesPerS.toFixed(0)}/${(rawBursts[i]?.deliveriesPerS ?? 0).toFixed(0)}`,
              )
              .join(' '),
            serverCpuUsPer1000Deliveries: cpu(gwBursts),
            rawServerCpuUsPer1000Deliveries: cpu(rawBursts),
            burstP50Ms: median(gwBursts.map((r) => r.p50Ms)),
            burstP99Ms: median(gwBursts.map((r) => r.p99Ms)),
            ...slow,
            ...batching,
          },
        },
        {
          name: 'gateway: publish-to-client p50',
          value: gwSteady.p50Ms,
          unit: 'ms',
          baseline: rawSteady.p50Ms,
          details: { clients: CLIENTS, ratePerS: STEADY_RATE, received: gwSteady.received },
        },
        {
          name: 'gateway: publish-to-client p99',
          value: gwSteady.p99Ms,
          unit: 'ms',
          baseline: rawSteady.p99Ms,
          details: { clients: CLIENTS, ratePerS: STEADY_RATE, received: gwSteady.received },
        },
      ];
    } finally {
      await rawClients.close();
      await gwClients.close();
      await server.stop();
    }
  },
};

if (process.argv.includes('--clients')) clientsMain();
