/**
 * Hostile clients (issue 14): 1,000 WebSocket connections against a real gateway process
 * under load (real nats-server, MD_NORM fed by a publisher), mixing slow readers,
 * never-readers, garbage floods, oversized and trickled frames, subscribe/unsubscribe
 * churn and connection churn (tests/hostile/swarm.ts, a child process), while one
 * well-behaved client (the client library) receives every message once and in order.
 *
 * Stated bounds, asserted and reported:
 * - the gateway's RSS stays under rssBoundBytes() (sampled from /proc every 100 ms);
 * - its event-loop delay p99 over the load phase (prom-client's histogram, read from
 *   /metrics before and after it) stays under LAG_P99_CEILING_S;
 * - every misbehaving client got the documented error frame or close code
 *   (docs/architecture.md "Gateway protocol"), and the counters agree.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LedgerFluxClient } from '../../services/client/client.js';
import type { ClientEvent } from '../../services/client/types.js';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import type { Normalized } from '../../services/common/schemas/normalized.js';
import { ensureTopology } from '../../services/common/topology.js';
import { freePort } from '../harness/free-port.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { NormPublisher } from '../harness/norm-publisher.js';
import { startService, type ServiceProcess } from '../harness/service.js';
import { waitFor } from '../harness/wait.js';
import type { FromSwarm, SwarmPlan, ToSwarm } from './swarm.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const PRODUCTS = ['BTC-USD', 'ETH-USD'];
const MAX_FRAME_BYTES = 4 * KIB;
const SLOW_BYTES = 64 * KIB;
const MAX_BUFFER_BYTES = 256 * KIB;

/** 999 misbehaving or churning connections; the well-behaved client makes 1,000. */
const GROUPS = {
  slowReaders: 100,
  neverReaders: 100,
  flooders: 150,
  oversized: 50,
  tricklers: 50,
  subChurners: 200,
  connChurners: 100,
  idle: 236,
  // As many as the gateway has history readers: without a bound on a stalled replay
  // they would hold them all, and no other resume from history would start.
  stalledResumers: 8,
  historyResumers: 5,
};
const PLAN: Omit<SwarmPlan, 'url'> = {
  ...GROUPS,
  maxFrameBytes: MAX_FRAME_BYTES,
  // Mid-load: by then the stream holds more than the ring (RESUME_BUFFER below).
  resumeAfterMs: 6_000,
};
const CLIENTS = 1 + Object.values(GROUPS).reduce((a, n) => a + n, 0);
/** The swarm's clients that keep one connection open from the start to the drain. */
const HOLDERS = GROUPS.neverReaders + GROUPS.slowReaders + GROUPS.idle + GROUPS.subChurners;

/** Publishing lasts this long, at 300 messages/s (below). */
const LOAD_MS = 20_000;

/**
 * The memory bound, above the gateway's RSS before any client connects (measured):
 * - 64 KiB per connection for its sockets, `ws` state and session (1,000 connections);
 * - per slow or never-reading client, what the gateway lets it pin: its socket buffer (the
 *   gateway stops writing at GATEWAY_SLOW_BYTES) and its outbox (past
 *   GATEWAY_MAX_BUFFER_BYTES it is closed with 4000);
 * - the tricklers' partial frames (60 KB each, under `ws`'s maxPayload);
 * - 128 MiB for V8's heap to grow and collect late (the resume rings hold every message
 *   of this test: ~6,000, a third of them 8 KB books).
 * Buffering the never-readers' backlog instead would add ~100 x 9 MB: far past it.
 */
function rssBoundBytes(baseline: number): number {
  const slow = GROUPS.neverReaders + GROUPS.slowReaders;
  return (
    baseline +
    CLIENTS * 64 * KIB +
    slow * (SLOW_BYTES + MAX_BUFFER_BYTES) +
    GROUPS.tricklers * 64 * KIB +
    128 * MIB
  );
}
/**
 * Generous: the two cores are shared (on the machine this was written on, with other
 * engineers' test runs: load averages of 5 to 20), and a starved process shows delay
 * too: measured p99s under load were 30 ms to 1.6 s, following the machine's load (which
 * the test prints). A gateway that stalled on its clients (a synchronous backlog, a huge
 * frame) would show that at every run, whatever the load.
 */
const LAG_P99_CEILING_S = 3;

let server: NatsServer;
let nc: NatsConnection;
let gateway: ServiceProcess;
let swarm: ChildProcess | undefined;
let port: number;

beforeAll(async () => {
  server = await startNats();
  nc = await connectNats({
    servers: [server.url],
    name: 'test',
    log: createLogger('test', 'silent'),
    publishing: true,
  });
  await ensureTopology(nc, { replicas: 1 });
  port = await freePort();
  gateway = await startService('gateway', {
    NATS_URL: server.url,
    PRODUCTS: PRODUCTS.join(','),
    GATEWAY_PORT: String(port),
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_MAX_CONNECTIONS: '2000',
    GATEWAY_MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
    GATEWAY_SLOW_BYTES: String(SLOW_BYTES),
    GATEWAY_MAX_BUFFER_BYTES: String(MAX_BUFFER_BYTES),
    GATEWAY_SLOW_MAX_MS: '3000',
    GATEWAY_HEARTBEAT_MS: '1000',
    // Offset 1 is older than the ring mid-load: resumes from it take a history reader.
    RESUME_BUFFER: '1000',
    RESUME_MAX_CONCURRENT: '8',
    // Dead-peer pings would race the never-readers' 4000 (gateway.test.ts covers them).
    GATEWAY_PING_MS: '60000',
    // The never-readers read their close frame only at the drain.
    GATEWAY_CLOSE_GRACE_MS: '30000',
    LOG_LEVEL: 'warn',
  });
  await waitFor(
    'gateway ready',
    async () =>
      (await fetch(`http://127.0.0.1:${String(port)}/readyz`).catch(() => undefined))?.status ===
      200,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  ensureNofile(gateway.proc.child.pid, 4_096);
});

afterAll(async () => {
  swarm?.kill('SIGKILL');
  await gateway.stop();
  await nc.close();
  await server.stop();
});

it('1,000 hostile connections: memory bounded, event loop keeps up, documented errors, the good client gets everything', async () => {
  const started = Date.now();
  const pid = gateway.proc.child.pid ?? 0;
  const rssBaseline = rssOf(pid);
  const rssBound = rssBoundBytes(rssBaseline);
  const pub = new NormPublisher(nc);
  const url = `ws://127.0.0.1:${String(port)}/ws`;

  // The well-behaved client: everything of both products, from the client library.
  const events: ClientEvent[] = [];
  const good = new LedgerFluxClient({ url, WebSocket, reconnect: false });
  good.on((e) => events.push(e));
  good.subscribe({ channels: ['trades', 'ticker', 'book'], products: PRODUCTS });
  await waitFor('the good client snapshots', () =>
    events.filter((e) => e.type === 'snapshot').length === 6 ? true : undefined,
  );

  // The swarm.
  const child = fork(path.join(import.meta.dirname, 'swarm.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  swarm = child;
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`swarm exited with ${String(code)}`));
    });
  });
  exited.catch(() => undefined);
  const ask = <E extends FromSwarm['ev']>(m: ToSwarm, ev: E) =>
    Promise.race([
      exited,
      new Promise<Extract<FromSwarm, { ev: E }>>((resolve) => {
        child.on('message', (r: FromSwarm) => {
          if (r.ev === ev) resolve(r as Extract<FromSwarm, { ev: E }>);
        });
        child.send(m);
      }),
    ]);
  const ready = await ask({ cmd: 'start', plan: { url, ...PLAN } }, 'ready');
  expect(ready.nofile, 'the swarm needs a file descriptor per socket').toBeGreaterThanOrEqual(
    2_048,
  );
  const rampedMs = Date.now() - started;

  const rss = new RssSampler(pid);
  await scrape(); // starts the gateway's event-loop delay histogram afresh (read resets it)
  let loadLag: Lag | undefined;
  let connectionsUnderLoad: number | undefined;
  const published: { product: string; type: Normalized['type']; offset: number }[] = [];
  let loadMs: number;
  let report: Extract<FromSwarm, { ev: 'report' }>;
  try {
    // Load, per 100 ms: BTC-USD 5 trades, 5 tickers, 5 books of 30 levels (~1.2 KB);
    // ETH-USD 3 trades, 2 tickers, 10 books of 200 levels (~8 KB). The large books fill
    // a never-reader's kernel socket buffers (up to tcp_wmem's 4 MiB here) in seconds.
    const loadStart = Date.now();
    for (let tick = 0; Date.now() - loadStart < LOAD_MS; tick++) {
      const due = loadStart + tick * 100;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      const batch: Normalized[] = [];
      for (let i = 0; i < 5; i++)
        batch.push(pub.trade('BTC-USD'), pub.ticker('BTC-USD'), pub.book('BTC-USD', 30));
      for (let i = 0; i < 10; i++) {
        if (i < 3) batch.push(pub.trade('ETH-USD'));
        if (i < 2) batch.push(pub.ticker('ETH-USD'));
        batch.push(pub.book('ETH-USD', 200));
      }
      const offsets = await pub.publishAll(batch, 64);
      batch.forEach((m, i) =>
        published.push({ product: m.product, type: m.type, offset: offsets[i] ?? -1 }),
      );
    }
    loadMs = Date.now() - loadStart;
    const underLoad = await scrape();
    loadLag = lagOf(underLoad);
    connectionsUnderLoad = underLoad.get('ledgerflux_gateway_connections') ?? 0;

    // Drain: the swarm reads its mail and reports; the good client catches up.
    const lastOffset: Record<string, number> = {};
    for (const p of published)
      lastOffset[p.product] = Math.max(lastOffset[p.product] ?? 0, p.offset);
    const trades = Object.fromEntries(
      PRODUCTS.map((product) => [
        product,
        published.filter((p) => p.product === product && p.type === 'trade').map((p) => p.offset),
      ]),
    );
    report = await ask({ cmd: 'drain', lastOffset, trades }, 'report');
    const last = Math.max(...published.map((p) => p.offset));
    await waitFor(
      'the good client at the last offset',
      () => events.some((e) => e.type === 'update' && e.offset === last),
      { timeoutMs: 30_000 },
    );
  } finally {
    rss.stop();
    good.close();
  }
  const final = await scrape();
  const drainLag = lagOf(final);

  // --- report ---
  const counter = (name: string, label: string) => final.get(`${name}{${label}}`) ?? 0;
  const lines = [
    `hostile clients: ${String(CLIENTS)} clients, ` +
      `${String(Object.values(report.groups).reduce((a, x) => a + x.connections, 1))} connections ` +
      `(swarm peak ${String(report.peakOpen)} + 1 open at ` +
      `once; ${String(connectionsUnderLoad)} on the gateway at the end of the load), ` +
      `${String(published.length)} messages in ${String(loadMs)} ms ` +
      `(${String(Math.round((published.length * 1000) / loadMs))}/s), ramp ${String(rampedMs)} ms, ` +
      `total ${String(Date.now() - started)} ms; machine load average ` +
      os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' '),
    `  gateway RSS: baseline ${String(mib(rssBaseline))} MiB, peak ${String(mib(rss.peak))} MiB ` +
      `(bound ${String(mib(rssBound))} MiB)`,
    `  event-loop delay under load: p50 ${String(ms(loadLag.p50))} ms, p99 ${String(ms(loadLag.p99))} ms ` +
      `(ceiling ${String(ms(LAG_P99_CEILING_S))} ms), max ${String(ms(loadLag.max))} ms; ` +
      `during the drain: p99 ${String(ms(drainLag.p99))} ms, max ${String(ms(drainLag.max))} ms`,
    `  closes counted by the gateway: ${[
      '1000',
      '1005',
      '1006',
      '1009',
      '4000',
      '4008',
      'dead_peer',
    ]
      .map((c) => `${c}=${String(counter('ledgerflux_gateway_disconnects_total', `code="${c}"`))}`)
      .join(' ')}`,
    ...Object.entries(report.groups).map(
      ([name, g]) =>
        `  ${name}: ${String(g.clients)} clients, ${String(g.connections)} connections, ` +
        `outcomes ${JSON.stringify(g.outcomes)}, errors ${JSON.stringify(g.errors)}, ` +
        `notes ${JSON.stringify(g.notes)}`,
    ),
  ];
  console.log(lines.join('\n'));

  // --- the well-behaved client: every message once, in order, nothing folded or lost ---
  for (const product of PRODUCTS) {
    for (const [type, channel] of [
      ['trade', 'trades'],
      ['ticker', 'ticker'],
      ['book', 'book'],
    ] as const) {
      const snap = events.flatMap((e) =>
        e.type === 'snapshot' && e.product === product && e.channel === channel ? [e.offset] : [],
      )[0];
      const want = published
        .filter((p) => p.product === product && p.type === type && p.offset > (snap ?? 0))
        .map((p) => p.offset);
      const got = events.flatMap((e) =>
        e.type === 'update' && e.product === product && e.channel === channel ? [e.offset] : [],
      );
      expect(got, `${product} ${channel}`).toEqual(want);
    }
  }
  expect(events.filter((e) => e.type === 'update' && e.conflated)).toEqual([]);
  expect(events.filter((e) => ['gap', 'error', 'disconnected'].includes(e.type))).toEqual([]);

  // --- every misbehaving client got what the protocol documents ---
  for (const [name, g] of Object.entries(report.groups)) expect(g.violations, name).toEqual([]);
  const g = report.groups;
  expect(g.neverReaders?.outcomes).toEqual({ '4000': GROUPS.neverReaders });
  // Every client that saw 4000 was counted. (The gateway may count a few more: a slow
  // reader it closes in the instant the client, done, hangs up.)
  const saw4000 = Object.values(report.groups).reduce(
    (a, x) =>
      a + Object.entries(x.outcomes).reduce((b, [k, n]) => b + (/\b4000$/.test(k) ? n : 0), 0),
    0,
  );
  expect(counter('ledgerflux_gateway_disconnects_total', 'code="4000"')).toBeGreaterThanOrEqual(
    saw4000,
  );
  // Each flood ended in 4008, and the gateway counted exactly those.
  expect(counter('ledgerflux_gateway_disconnects_total', 'code="4008"')).toBe(
    g.flooders?.outcomes['4008'],
  );
  // Error frames received = error frames counted, per code.
  for (const code of [
    'BAD_REQUEST',
    'UNKNOWN_CHANNEL',
    'UNKNOWN_PRODUCT',
    'RATE_LIMITED',
    'FRAME_TOO_LARGE',
  ]) {
    const received = Object.values(report.groups).reduce((a, x) => a + (x.errors[code] ?? 0), 0);
    expect(counter('ledgerflux_gateway_client_errors_total', `code="${code}"`), code).toBe(
      received,
    );
  }
  expect(g.subChurners?.errors).toEqual({});
  expect(g.connChurners?.errors).toEqual({});
  expect(g.idle?.errors).toEqual({});
  expect(counter('ledgerflux_gateway_connections_rejected_total', 'reason="limit"')).toBe(0);
  // Every client that holds its connection (all but the churning groups) was open at
  // once when the swarm said ready, and churning clients came on top of them. How many
  // churners overlap in one instant depends on the machine's speed (a fast one ends each
  // flood sooner), so that part is bounded loosely: a regression here was 886 of 999 on a
  // fast CI machine, with no fault in the gateway.
  expect(ready.connected, 'holders open at once at ready').toBeGreaterThanOrEqual(HOLDERS);
  expect(report.peakOpen, 'swarm sockets open at once').toBeGreaterThanOrEqual(HOLDERS + 100);

  // --- the bounds ---
  expect(mib(rss.peak), 'gateway RSS (MiB)').toBeLessThanOrEqual(mib(rssBound));
  expect(loadLag.p99, 'event-loop delay p99 under load (s)').toBeLessThanOrEqual(LAG_P99_CEILING_S);
  expect(gateway.proc.running()).toBe(true);
  const errorsLogged = readFileSync(gateway.logFile, 'utf8')
    .split('\n')
    .filter((l) => /"level":(50|60)/.test(l));
  expect(errorsLogged).toEqual([]);
});

/** The gateway's RSS every 100 ms, from /proc. */
class RssSampler {
  peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(pid: number) {
    this.peak = rssOf(pid);
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, rssOf(pid));
    }, 100);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

interface Lag {
  p50: number;
  p99: number;
  max: number;
}

/** prom-client's event-loop delay histogram since the previous /metrics read (seconds). */
function lagOf(m: ReadonlyMap<string, number>): Lag {
  const get = (s: string) => m.get(`ledgerflux_gateway_nodejs_eventloop_lag_${s}_seconds`) ?? 0;
  return { p50: get('p50'), p99: get('p99'), max: get('max') };
}

/** Resident set size of a process, in bytes. */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  } catch {
    return 0; // gone: the test fails on proc.running() with the log to say why
  }
}

/** The gateway's /metrics, as `name{labels}` → value (and `name` → sum over labels). */
async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${String(port)}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const at = line.lastIndexOf(' ');
    const key = line.slice(0, at);
    const value = Number(line.slice(at + 1));
    out.set(key, value);
    const name = key.split('{')[0] ?? key;
    if (name !== key) out.set(name, (out.get(name) ?? 0) + value);
  }
  return out;
}

/**
 * Node raises its soft open-file limit to the hard one at start; a hard limit too low for
 * 1,000 sockets is raised here when we may (root), else the test says why it cannot run.
 */
function ensureNofile(pid: number | undefined, want: number): void {
  if (pid === undefined) throw new Error('no gateway pid');
  const limits = () =>
    readFileSync(`/proc/${String(pid)}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'))
      ?.split(/\s+/)
      .slice(3, 5)
      .map(Number) ?? [0, 0];
  const [soft = 0, hard = 0] = limits();
  if (soft >= want) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the gateway may open ${String(soft)} files (hard ${String(hard)}); ` +
        `1,000 sockets need ${String(want)}: raise it with ulimit -n`,
    );
  }
  execFileSync('prlimit', [
    `--pid=${String(pid)}`,
    `--nofile=${String(want)}:${String(Math.max(want, hard))}`,
  ]);
  expect(limits()[0]).toBeGreaterThanOrEqual(want);
}

const mib = (bytes: number) => Math.round((bytes / MIB) * 10) / 10;
const ms = (s: number) => Math.round(s * 10_000) / 10;
