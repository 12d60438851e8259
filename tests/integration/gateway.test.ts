/**
 * Gateway in process on port 0, real nats-server, real `ws` clients: snapshot-then-live
 * while messages flow, errors and limits, API keys, heartbeats and dead peers, shutdown.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Normalized } from '../../services/common/schemas/normalized.js';
import { startGatewayEnv, TestClient, type Frame, type GatewayEnv } from '../harness/gateway.js';
import { freePort } from '../harness/free-port.js';
import { captureLogger } from '../harness/log-capture.js';
import { startService } from '../harness/service.js';
import { waitFor } from '../harness/wait.js';

const envs: GatewayEnv[] = [];
async function env(vars: Record<string, string> = {}, opts = {}): Promise<GatewayEnv> {
  const e = await startGatewayEnv(vars, opts);
  envs.push(e);
  return e;
}
afterEach(async () => {
  for (const e of envs.splice(0)) await e.stop();
});

const CHANNEL_OF = { trade: 'trades', ticker: 'ticker', book: 'book' } as const;

describe('snapshot then live', () => {
  it('has no gap and no duplicate between the snapshot and the first update, while messages flow', async () => {
    const e = await env();
    const msgs: Normalized[] = [];
    for (let i = 0; i < 1_500; i++) {
      const product = i % 4 === 3 ? 'ETH-USD' : 'BTC-USD';
      const kind = i % 3;
      msgs.push(
        kind === 0
          ? e.pub.trade(product)
          : kind === 1
            ? e.pub.ticker(product, String(i))
            : e.pub.book(product),
      );
    }
    const publishing = e.pub.publishAll(msgs, 32);
    // Clients join at different points of the flow.
    const clients: TestClient[] = [];
    for (let i = 1; i <= 8; i++) {
      await waitFor(`head past ${i * 150}`, () => e.gw.stats().head >= i * 150, { intervalMs: 2 });
      const c = await TestClient.open(e.url);
      c.send({ op: 'subscribe', channels: ['ticker', 'trades', 'book'], products: ['BTC-USD'] });
      clients.push(c);
    }
    const offsets = await publishing;
    const published = new Map<string, number[]>();
    msgs.forEach((m, i) => {
      if (m.product !== 'BTC-USD' || m.type === 'status') return;
      const ch = CHANNEL_OF[m.type];
      published.set(ch, [...(published.get(ch) ?? []), offsets[i] ?? -1]);
    });
    const joinedMidFlow = clients.filter((c) => {
      const snap = c.frames.find((f) => f.op === 'snapshot' && f.channel === 'trades');
      return (snap?.offset as number) < (offsets.at(-1) ?? 0);
    });
    expect(joinedMidFlow.length).toBeGreaterThanOrEqual(4);
    for (const c of clients) {
      for (const [ch, all] of published) {
        const last = all.at(-1) ?? 0;
        await c.next((f) => f.op === 'snapshot' && f.channel === ch, `${ch} snapshot`);
        const snap = c.frames.find((f) => f.op === 'snapshot' && f.channel === ch) as Frame;
        const snapOffset = snap.offset as number;
        if (snapOffset < last)
          await c.next((f) => f.channel === ch && f.offset === last, `${ch} @${last}`);
        const updates = c.frames
          .filter((f) => f.op === 'update' && f.channel === ch)
          .map((f) => f.offset);
        expect(updates, `${ch} after ${snapOffset}`).toEqual(all.filter((o) => o > snapOffset));
        expect(all).toContain(snapOffset);
        // The snapshot comes first and the trades snapshot ends at its offset.
        const firstUpdate = c.frames.findIndex((f) => f.op === 'update' && f.channel === ch);
        if (firstUpdate >= 0) expect(c.frames.indexOf(snap)).toBeLessThan(firstUpdate);
      }
      const trades = c.frames.find((f) => f.op === 'snapshot' && f.channel === 'trades')?.data as {
        trade_id: string;
      }[];
      expect(trades.length).toBeGreaterThan(0);
      expect(trades.length).toBeLessThanOrEqual(50);
      expect(c.frames.some((f) => f.product === 'ETH-USD')).toBe(false);
    }
    expect(await e.metric('ledgerflux_gateway_deliveries_total')).toBeGreaterThan(1_000);
    await Promise.all(clients.map((c) => c.close()));
  });
});

describe('delivery', () => {
  it('conflate_ms: at most one ticker update per interval, the newest last, folded ones marked', async () => {
    const e = await env();
    const c = await TestClient.open(e.url);
    c.send({
      op: 'subscribe',
      channels: ['ticker', 'trades'],
      products: ['BTC-USD'],
      conflate_ms: 300,
    });
    await c.next((f) => f.op === 'snapshot' && f.channel === 'trades');
    const started = Date.now();
    const tickers = await e.pub.publishAll(
      Array.from({ length: 60 }, (_, i) => e.pub.ticker('BTC-USD', String(i))),
      4,
    );
    const trades = await e.pub.publishAll(
      Array.from({ length: 20 }, () => e.pub.trade('BTC-USD')),
      4,
    );
    const lastTicker = tickers.at(-1) ?? 0;
    await c.next((f) => f.op === 'update' && f.offset === lastTicker, 'the newest ticker');
    const elapsed = Date.now() - started;
    const got = c.frames.filter((f) => f.op === 'update' && f.channel === 'ticker');
    expect(got.length).toBeLessThanOrEqual(Math.ceil(elapsed / 300) + 1);
    expect(got.length).toBeLessThan(60);
    // An update is marked conflated exactly when it stands for tickers it folded away.
    // (Not simply "every one after the first": on a slow machine an interval can pass
    // with a single ticker published, and that one goes out as it is.)
    const inStreamOrder = [...tickers].sort((a, b) => a - b);
    const index = got.map((f) => inStreamOrder.indexOf(f.offset as number));
    got.forEach((f, i) => {
      const folded = (index[i] ?? 0) - (i === 0 ? -1 : (index[i - 1] ?? 0)) > 1;
      expect(f.conflated === true, `ticker @${String(f.offset)}`).toBe(folded);
    });
    expect(got.some((f) => f.conflated === true)).toBe(true);
    // Trades are never conflated.
    await c.next((f) => f.offset === trades.at(-1), 'the last trade');
    expect(
      c.frames.filter((f) => f.op === 'update' && f.channel === 'trades').map((f) => f.offset),
    ).toEqual(trades);
    const hist = await e.registry
      .getSingleMetric('ledgerflux_gateway_delivery_latency_seconds')
      ?.get();
    const count = hist?.values.find((v) => v.labels.le === '+Inf');
    expect(count?.value).toBeGreaterThanOrEqual(80);
    await c.close();
  });

  it('survives a NATS restart: not ready meanwhile, then live again without a gap or duplicate', async () => {
    const e = await env();
    const c = await TestClient.open(e.url);
    c.send({ op: 'subscribe', channels: ['trades'], products: ['BTC-USD'], snapshot: false });
    await c.next((f) => f.op === 'subscribed');
    const before = await e.pub.publishAll(
      Array.from({ length: 50 }, () => e.pub.trade('BTC-USD')),
      8,
    );
    await c.next((f) => f.offset === before.at(-1), 'before the restart');
    let wasNotReady = false;
    const sampler = setInterval(() => {
      wasNotReady ||= !e.gw.readiness().ready;
    }, 1);
    const jsm = await jetstreamManager(e.nc);
    await e.server.restart();
    // The test's own publishes wait until JetStream answers again (it may take seconds).
    await waitFor('JetStream back', async () => (await jsm.streams.info('MD_NORM')).config.name, {
      timeoutMs: 30_000,
    });
    await waitFor(
      'NATS back',
      async () => (await e.metric('ledgerflux_gateway_nats_connected')) === 1,
    );
    const after = await e.pub.publishAll(
      Array.from({ length: 50 }, () => e.pub.trade('BTC-USD')),
      8,
    );
    await c.next((f) => f.offset === after.at(-1), 'after the restart', 20_000);
    const offsets = c.frames.filter((f) => f.op === 'update').map((f) => f.offset);
    expect(offsets).toEqual([...before, ...after]);
    await waitFor('ready again', () => e.gw.readiness().ready);
    clearInterval(sampler);
    expect(wasNotReady).toBe(true);
    await c.close();
  });
});

describe('client errors and limits', () => {
  it('answers bad input with the protocol error codes', async () => {
    const e = await env({ GATEWAY_MAX_SUBSCRIPTIONS: '3', GATEWAY_RATE_LIMIT_BURST: '100' });
    const c = await TestClient.open(e.url);
    const expectError = async (frame: unknown, code: string) => {
      const before = c.frames.length;
      c.send(frame);
      const got = await c.next((f) => c.frames.indexOf(f) >= before && f.op === 'error', code);
      expect(got.code).toBe(code);
      return got;
    };
    await expectError('not json', 'BAD_REQUEST');
    await expectError({ op: 'subscribe', channels: ['ticker'] }, 'BAD_REQUEST');
    await expectError(
      { op: 'subscribe', channels: ['candles'], products: ['BTC-USD'], id: 'x' },
      'UNKNOWN_CHANNEL',
    );
    expect(
      (
        await expectError(
          { op: 'subscribe', channels: ['ticker'], products: ['DOGE-USD'], id: 7 },
          'UNKNOWN_PRODUCT',
        )
      ).id,
    ).toBe(7);
    await expectError(
      { op: 'subscribe', channels: ['ticker', 'trades', 'book'], products: ['BTC-USD', 'ETH-USD'] },
      'TOO_MANY_SUBSCRIPTIONS',
    );
    await expectError(
      { op: 'subscribe', channels: ['ticker'], products: ['BTC-USD'], from: { 'ETH-USD': 1 } },
      'BAD_REQUEST',
    );
    const before = c.frames.length;
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(
      (await c.next((f) => c.frames.indexOf(f) >= before && f.op === 'error', 'binary refused'))
        .code,
    ).toBe('BAD_REQUEST');
    c.send({ op: 'ping', id: { n: 1 } });
    expect(await c.next((f) => f.op === 'pong', 'pong')).toEqual({ op: 'pong', id: { n: 1 } });
    // Nothing was subscribed by the refused requests; a valid one still works.
    c.send({ op: 'subscribe', channels: ['ticker'], products: ['BTC-USD'], id: 1 });
    expect(await c.next((f) => f.op === 'subscribed', 'subscribed')).toEqual({
      op: 'subscribed',
      channels: ['ticker'],
      products: ['BTC-USD'],
      subscriptions: { 'BTC-USD': ['ticker'] },
      id: 1,
    });
    await expectError('x'.repeat(5_000), 'FRAME_TOO_LARGE');
    expect((await c.closed).code).toBe(1009);
    expect(await e.metric('ledgerflux_gateway_client_errors_total', { code: 'BAD_REQUEST' })).toBe(
      4,
    );
  });

  it('rate-limits client frames with retry_after_ms, and closes an abuser with 4008', async () => {
    const e = await env({
      GATEWAY_RATE_LIMIT_BURST: '5',
      GATEWAY_RATE_LIMIT_PER_S: '2',
      GATEWAY_ABUSE_LIMIT: '20',
    });
    const c = await TestClient.open(e.url);
    for (let i = 0; i < 10; i++) c.send({ op: 'ping', id: i });
    await waitFor('10 answers', () => c.frames.length >= 10);
    expect(c.frames.filter((f) => f.op === 'pong')).toHaveLength(5);
    const limited = c.frames.filter((f) => f.op === 'error');
    expect(limited).toHaveLength(5);
    for (const f of limited) {
      expect(f.code).toBe('RATE_LIMITED');
      expect(f.retry_after_ms).toBeGreaterThan(0);
      expect(f.retry_after_ms).toBeLessThanOrEqual(500);
    }
    for (let i = 0; i < 30; i++) c.send({ op: 'ping' });
    expect((await c.closed).code).toBe(4008);
    expect(await e.metric('ledgerflux_gateway_disconnects_total', { code: '4008' })).toBe(1);
  });

  it('limits connections per process', async () => {
    const e = await env({ GATEWAY_MAX_CONNECTIONS: '2' });
    const a = await TestClient.open(e.url);
    const b = await TestClient.open(e.url);
    await expect(TestClient.open(e.url)).rejects.toThrow('503');
    await a.close();
    await waitFor('a slot', () => e.gw.stats().connections === 1);
    const c = await TestClient.open(e.url);
    await Promise.all([b.close(), c.close()]);
  });

  // Regression (hostile-input fuzzing): JSON.parse accepts any nesting, JSON.stringify of
  // the echoed ping id overflowed the stack, and the throw escaped the socket handler: an
  // uncaught exception that ended the gateway (reachable with a raised frame limit).
  it('answers a ping whose id nests deeper than the stack with an error, and lives on', async () => {
    const e = await env({ GATEWAY_MAX_FRAME_BYTES: String(1024 * 1024) });
    const c = await TestClient.open(e.url);
    const depth = 200_000;
    c.send(`{"op":"ping","id":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    const err = await c.next((f) => f.op === 'error', 'an error frame');
    expect(err).toMatchObject({ code: 'BAD_REQUEST' });
    c.send({ op: 'ping', id: 'after' });
    await c.next((f) => f.op === 'pong' && f.id === 'after', 'pong');
    expect(await e.metric('ledgerflux_gateway_client_errors_total', { code: 'BAD_REQUEST' })).toBe(
      1,
    );
    await c.close();
  });
});

describe('API keys', () => {
  it('refuses a missing or wrong key with UNAUTHORIZED and 4001, accepts ?api_key= and Bearer, never logs keys', async () => {
    const { log, lines } = captureLogger('gateway', 'debug');
    const e = await env({ GATEWAY_API_KEYS: 'k-one-secret, k-two-secret' }, { log });
    for (const url of [e.url, `${e.url}?api_key=wrong`]) {
      const c = new TestClient(url);
      expect((await c.closed).code).toBe(4001);
      expect(c.frames).toEqual([
        { op: 'error', code: 'UNAUTHORIZED', message: 'a valid API key is required' },
      ]);
    }
    const viaQuery = await TestClient.open(`${e.url}?api_key=k-two-secret`);
    const viaHeader = await TestClient.open(e.url, {
      headers: { authorization: 'Bearer k-one-secret' },
    });
    for (const c of [viaQuery, viaHeader]) {
      c.send({ op: 'ping', id: 1 });
      await c.next((f) => f.op === 'pong');
      await c.close();
    }
    const http = `http://127.0.0.1:${e.gw.port}`;
    expect((await fetch(`${http}/healthz`)).status).toBe(200);
    expect((await fetch(`${http}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toContain('ledgerflux_gateway_disconnects_total{code="4001"} 2');
    expect((await fetch(`${http}/nope`)).status).toBe(404);
    const logged = JSON.stringify(lines());
    expect(logged).toContain('gateway listening');
    expect(logged).not.toContain('secret');
  });
});

describe('liveness and shutdown', () => {
  it('sends heartbeats, answers pings, and terminates a peer that stops answering pings', async () => {
    const e = await env({ GATEWAY_HEARTBEAT_MS: '100', GATEWAY_PING_MS: '150' });
    const ok = await TestClient.open(e.url);
    const dead = await TestClient.open(e.url, { autoPong: false });
    await ok.next((f) => f.op === 'heartbeat', 'heartbeat');
    const hb = ok.frames.find((f) => f.op === 'heartbeat');
    expect(Date.parse(String(hb?.time))).toBeGreaterThan(Date.now() - 60_000);
    expect((await dead.closed).code).toBe(1006);
    expect(await e.metric('ledgerflux_gateway_disconnects_total', { code: 'dead_peer' })).toBe(1);
    await waitFor(
      'more heartbeats',
      () => ok.frames.filter((f) => f.op === 'heartbeat').length >= 4,
    );
    expect(ok.ws.readyState).toBe(WebSocket.OPEN);
    await ok.close();
  });

  it('runs as `ledgerflux gateway`: ready on GATEWAY_PORT, SIGTERM closes clients with 1001', async () => {
    const e = await env();
    const port = await freePort();
    const svc = await startService('gateway', {
      NATS_URL: e.server.url,
      PRODUCTS: 'BTC-USD',
      GATEWAY_PORT: String(port),
    });
    await waitFor(
      'ready',
      async () =>
        (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
    );
    const c = await TestClient.open(`ws://127.0.0.1:${port}/ws`);
    c.send({ op: 'subscribe', channels: ['trades'], products: ['BTC-USD'] });
    await c.next((f) => f.op === 'snapshot');
    const live = await e.pub.publish(e.pub.trade('BTC-USD'));
    await c.next((f) => f.offset === live, 'live update');
    await svc.stop();
    expect((await c.closed).code).toBe(1001);
    expect((await svc.proc.exited).code).toBe(0);
  });

  it('shuts down gracefully: readiness 503, clients closed with 1001', async () => {
    const e = await env();
    const clients = await Promise.all([1, 2, 3].map(() => TestClient.open(e.url)));
    for (const c of clients)
      c.send({ op: 'subscribe', channels: ['ticker'], products: ['BTC-USD'] });
    await Promise.all(clients.map((c) => c.next((f) => f.op === 'snapshot')));
    const stopping = e.gw.stop();
    expect(e.gw.readiness()).toEqual({ ready: false, reason: 'shutting down' });
    const codes = await Promise.all(clients.map(async (c) => (await c.closed).code));
    expect(codes).toEqual([1001, 1001, 1001]);
    await stopping;
    expect(await e.metric('ledgerflux_gateway_disconnects_total', { code: '1001' })).toBe(3);
  });
});
