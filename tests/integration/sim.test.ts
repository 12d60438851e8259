/**
 * `ledgerflux sim` against real `ws` clients over TCP: protocol, errors, timeouts,
 * slow consumers, faults and the control-log oracle.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { missedIds, unaccounted } from '../../services/sim/core/control-log.js';
import { expandRanges } from '../../services/sim/core/ranges.js';
import {
  startSimulator,
  type Simulator,
  type SimulatorOptions,
} from '../../services/sim/server.js';
import { FeedClient, eventually, type Json } from '../harness/feed-client.js';

const ids = (frames: readonly Json[], product: string, types = ['match', 'last_match']) =>
  frames
    .filter((f) => types.includes(f.type as string) && f.product_id === product)
    .map((f) => f.trade_id as number);

const sims: Simulator[] = [];
async function sim(opts: SimulatorOptions): Promise<Simulator> {
  const s = await startSimulator({ seed: 11, ...opts });
  sims.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.stop()));
});

const SUB_ALL = {
  type: 'subscribe',
  product_ids: ['BTC-USD', 'ETH-USD'],
  channels: ['heartbeat', 'ticker', 'matches', 'level2_batch', { name: 'status' }],
};

describe('ledgerflux sim: protocol', () => {
  it('acks, then heartbeats, last_match then matches, a ticker, snapshot then l2updates', async () => {
    const s = await sim({ rate: 2000, heartbeatIntervalMs: 200 });
    const c = await FeedClient.connect(s.url);
    c.send(SUB_ALL);
    await c.until(
      () =>
        c.ofType('heartbeat').length >= 4 &&
        c.ofType('match').length >= 20 &&
        c.ofType('l2update').length >= 10,
      'heartbeats, matches and l2updates',
    );
    expect(c.frames[0]).toEqual({
      type: 'subscriptions',
      channels: [
        { name: 'heartbeat', product_ids: ['BTC-USD', 'ETH-USD'], account_ids: null },
        { name: 'ticker', product_ids: ['BTC-USD', 'ETH-USD'], account_ids: null },
        { name: 'matches', product_ids: ['BTC-USD', 'ETH-USD'], account_ids: null },
        { name: 'level2_50', product_ids: ['BTC-USD', 'ETH-USD'], account_ids: null },
        { name: 'status', product_ids: [], account_ids: null },
      ],
    });
    for (const product of ['BTC-USD', 'ETH-USD']) {
      const mine = c.frames.filter((f) => f.product_id === product);
      const matches = mine.filter((f) => f.type === 'match' || f.type === 'last_match');
      expect(matches[0]?.type).toBe('last_match');
      const tradeIds = matches.map((f) => f.trade_id as number);
      tradeIds.forEach((id, i) => {
        if (i > 0) expect(id).toBe((tradeIds[i - 1] ?? 0) + 1); // no faults: contiguous
      });
      const book = mine.filter((f) => f.type === 'snapshot' || f.type === 'l2update');
      expect(book[0]?.type).toBe('snapshot');
      expect(book.slice(1).every((f) => f.type === 'l2update')).toBe(true);
      expect(mine.find((f) => f.type === 'ticker')?.trade_id).toBe(matches[0]?.trade_id);
      // Heartbeats carry the product's latest sequence and trade id.
      let lastSeq = 0;
      let lastTrade = 0;
      for (const f of mine) {
        if (f.type === 'match' || f.type === 'ticker') {
          expect(f.sequence as number).toBeGreaterThanOrEqual(lastSeq);
          lastSeq = f.sequence as number;
          lastTrade = Math.max(lastTrade, f.trade_id as number);
        }
        if (f.type === 'heartbeat') {
          expect(f.sequence as number).toBeGreaterThanOrEqual(lastSeq);
          expect(f.last_trade_id as number).toBeGreaterThanOrEqual(lastTrade);
        }
      }
    }
    expect(c.ofType('status')[0]?.products).toHaveLength(3);
    c.send({ type: 'unsubscribe', channels: ['matches', 'level2_batch', 'ticker', 'status'] });
    await c.until(() => c.ofType('subscriptions').length === 2, 'unsubscribe ack');
    expect(c.ofType('subscriptions')[1]).toEqual({
      type: 'subscriptions',
      channels: [{ name: 'heartbeat', product_ids: ['BTC-USD', 'ETH-USD'], account_ids: null }],
    });
    c.ws.close();
  });

  it("answers bad requests with Coinbase's error texts and keeps the socket open", async () => {
    const s = await sim({ rate: 100 });
    const c = await FeedClient.connect(s.url);
    c.send({ type: 'subscribe', product_ids: ['BTC-USD', 'DOGE-XYZ'], channels: ['matches'] });
    c.send({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['tickers'] });
    c.send({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['level2'] });
    c.send({
      type: 'subscribe',
      product_ids: ['BTC-USD'],
      channels: [{ name: 'matches', product_ids: [] }],
    });
    c.send({ type: 'subscribe', channels: ['heartbeat'] });
    await c.until(() => c.frames.length >= 5, 'five errors');
    expect(c.frames).toEqual([
      { type: 'error', message: 'Failed to subscribe', reason: 'DOGE-XYZ is not a valid product' },
      { type: 'error', message: 'Failed to subscribe', reason: 'tickers is not a valid channel' },
      {
        type: 'error',
        message: 'Failed to subscribe',
        reason:
          'level2, level3, and full channels now require authentication. https://docs.cloud.coinbase.com/exchange/docs/websocket-auth',
      },
      { type: 'error', message: 'Failed to subscribe', reason: ' is not a valid product' },
      {
        type: 'error',
        message: 'Failed to subscribe',
        reason: 'You need to specify at least one product ID for channel heartbeat',
      },
    ]);
    c.send({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['matches'] });
    await c.until(() => c.ofType('subscriptions').length === 1, 'ack after errors');
    c.ws.close();
  });

  it('closes a connection that does not subscribe in time', async () => {
    const s = await sim({ rate: 100, subscribeTimeoutMs: 300 });
    const started = Date.now();
    const c = await FeedClient.connect(s.url);
    const closed = await c.closed;
    const ms = Date.now() - started;
    console.log(`subscribe timeout closed the connection after ${ms} ms (configured 300)`);
    expect(closed.code).toBe(1008);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(5000);
    await eventually(
      () => s.log().connections.c1?.close_reason === 'subscribe_timeout',
      'log entry',
    );
  });

  it('sends a full-depth snapshot of more than 6 MB', async () => {
    const s = await sim({ rate: 50, depth: 'full', products: ['BTC-USD'] });
    const c = await FeedClient.connect(s.url);
    const started = Date.now();
    let bytes = 0;
    c.ws.on('message', (d: Buffer) => {
      if (bytes === 0 && d.subarray(0, 20).toString().includes('snapshot')) bytes = d.length;
    });
    c.send({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['level2_batch'] });
    await c.until(() => c.ofType('snapshot').length === 1, 'snapshot', 30_000);
    console.log(`full-depth BTC-USD snapshot: ${bytes} bytes in ${Date.now() - started} ms`);
    expect(bytes).toBeGreaterThanOrEqual(6_000_000);
    const snap = c.ofType('snapshot')[0] ?? {};
    const bids = snap.bids as [string, string][];
    const asks = snap.asks as [string, string][];
    expect(bids.length).toBeGreaterThan(100_000);
    expect(Number(bids[0]?.[0])).toBeLessThan(Number(asks[0]?.[0]));
    await c.until(() => c.ofType('l2update').length > 0, 'l2update after the snapshot');
    c.ws.close();
  });

  it('serves /healthz, /metrics and refuses bad fault JSON', async () => {
    const s = await sim({ rate: 100 });
    expect(await (await fetch(`${s.httpUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    const metrics = await (await fetch(`${s.httpUrl}/metrics`)).text();
    expect(metrics).toContain('ledgerflux_sim_trades_generated_total');
    expect(metrics).toMatch(/^ledgerflux_sim_connections \d+$/m);
    const bad = await fetch(`${s.httpUrl}/control/faults`, {
      method: 'POST',
      body: '{"drop":{"p":2}}',
    });
    expect(bad.status).toBe(400);
    const ok = await fetch(`${s.httpUrl}/control/faults`, {
      method: 'POST',
      body: '{"dup":{"count":2}}',
    });
    expect(await ok.json()).toEqual({ dup: { count: 2 } });
    expect((await fetch(`${s.httpUrl}/nope`)).status).toBe(404);
  });
});

describe('ledgerflux sim: faults and the control log', () => {
  it('POST /control/faults drop: the dropped trade ids are missed with fault_drop, the rest delivered', async () => {
    const s = await sim({ rate: 1000, products: ['BTC-USD'] });
    const c = await FeedClient.connect(s.url);
    c.send({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['matches'] });
    await c.until(() => c.ofType('match').length >= 5, 'first matches');
    const res = await fetch(`${s.httpUrl}/control/faults`, {
      method: 'POST',
      body: JSON.stringify({ drop: { count: 4 } }),
    });
    expect(res.status).toBe(200);
    const dropped = () =>
      missedIds(
        s.log().products['BTC-USD'] ?? {
          trades: { count: 0, first: null, last: null, ids: [] },
          delivered: {},
          missed: [],
          pending: {},
        },
        'fault_drop',
        'c1',
      );
    await eventually(() => dropped().length === 4, 'four drops');
    const lastDropped = Math.max(...dropped());
    await c.until(
      () => ids(c.frames, 'BTC-USD').some((id) => id > lastDropped + 5),
      'trades after the drops',
    );
    c.ws.close();
    await c.closed;
    const logRes = await fetch(`${s.httpUrl}/control/log?product=BTC-USD`);
    const log = (await logRes.json()) as ReturnType<Simulator['log']>;
    const p = log.products['BTC-USD'];
    if (p === undefined) throw new Error('no BTC-USD log');
    const received = new Set(ids(c.frames, 'BTC-USD'));
    for (const id of dropped()) expect(received.has(id)).toBe(false);
    expect(expandRanges(p.delivered.c1 ?? []).every((id) => received.has(id))).toBe(true);
    expect(unaccounted(p)).toEqual([]);
  });

  it('oracle under every fault at once: each trade is delivered on a connection or missed with a reason', async () => {
    const s = await sim({ rate: 3000, products: ['BTC-USD', 'ETH-USD'], seed: 5 });
    s.setFaults({
      drop: { p: 0.05 },
      dup: { p: 0.05 },
      reorder: { p: 0.05, k: 4 },
      malformed: { p: 0.02 },
    });
    const clients: FeedClient[] = [];
    for (let round = 0; round < 3; round++) {
      const c = await FeedClient.connect(s.url);
      clients.push(c);
      c.send({
        type: 'subscribe',
        product_ids: ['BTC-USD', 'ETH-USD'],
        channels: ['matches', 'level2_batch', 'heartbeat'],
      });
      await c.until(() => c.ofType('match').length >= 100, 'matches');
      s.setFaults({ close: { after_frames: 50, code: round === 1 ? 4000 : 1006 } });
      const closed = await c.closed;
      expect(closed.code).toBe(round === 1 ? 4000 : 1006);
    }
    s.setFaults({ reset: true });
    // At rest: the server has seen every close, so nothing is held or pending any more.
    await eventually(() => s.connections() === 0, 'server-side closes');
    const log = s.log();
    for (const product of ['BTC-USD', 'ETH-USD']) {
      const p = log.products[product];
      if (p === undefined) throw new Error(`no ${product} log`);
      expect(p.pending).toEqual({});
      expect(unaccounted(p)).toEqual([]);
      const counts = ['fault_drop', 'no_subscriber', 'closed', 'stall', 'slow_consumer'].map(
        (r) => `${r}=${missedIds(p, r as 'closed').length}`,
      );
      console.log(`${product}: ${p.trades.count} trades, missed ${counts.join(' ')}`);
      expect(missedIds(p, 'fault_drop').length).toBeGreaterThan(0);
      clients.forEach((c, i) => {
        const conn = `c${i + 1}`;
        const got = new Set(ids(c.frames, product));
        // What the log calls delivered is what the client got, and nothing it says was dropped arrived.
        for (const id of expandRanges(p.delivered[conn] ?? [])) expect(got.has(id)).toBe(true);
        for (const id of missedIds(p, 'fault_drop', conn)) expect(got.has(id)).toBe(false);
      });
    }
    expect(clients.some((c) => c.garbage.length > 0)).toBe(true);
    // level2 is never duplicated: every l2update arrives once (no two identical frames in a row).
    for (const c of clients) {
      const l2 = c.frames.filter((f) => f.type === 'l2update').map((f) => JSON.stringify(f));
      expect(new Set(l2).size).toBe(l2.length);
    }
  });

  it('stall holds output with the socket open, then sends everything', async () => {
    const s = await sim({ rate: 1000, products: ['BTC-USD'], heartbeatIntervalMs: 100 });
    const c = await FeedClient.connect(s.url);
    c.send({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['matches', 'heartbeat'] });
    await c.until(() => c.ofType('heartbeat').length >= 2, 'heartbeats');
    const arrivals: number[] = [];
    c.ws.on('message', () => arrivals.push(Date.now()));
    const started = Date.now();
    s.setFaults({ stall: { ms: 800 } });
    await c.until(() => arrivals.some((t) => t - started > 800), 'frames after the stall', 5000);
    const gap = Math.max(...arrivals.map((t, i) => t - (arrivals[i - 1] ?? started)));
    console.log(`stall of 800 ms: longest silence ${gap} ms`);
    expect(gap).toBeGreaterThanOrEqual(700);
    const p = s.log().products['BTC-USD'];
    expect(p && missedIds(p, 'stall')).toEqual([]);
    c.ws.close();
  });

  it('at full speed, `hold` pauses the market and releasing it resumes', async () => {
    let held = false;
    const s = await sim({ rate: 'max', products: ['BTC-USD'], hold: () => held });
    const c = await FeedClient.connect(s.url);
    c.send({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['matches', 'ticker'] });
    await eventually(() => s.framesGenerated() > 1_000, 'frames at full speed');
    held = true;
    await new Promise((r) => setTimeout(r, 50));
    const atHold = s.framesGenerated();
    await new Promise((r) => setTimeout(r, 300));
    expect(s.framesGenerated()).toBe(atHold);
    held = false;
    await eventually(() => s.framesGenerated() > atHold + 1_000, 'frames after the release');
    c.ws.close();
  });

  it('a client that never reads gets ErrSlowConsume and is closed', async () => {
    const s = await sim({
      rate: 'max',
      products: ['BTC-USD'],
      maxBufferBytes: 256 * 1024,
      slowConsumerGraceMs: 10_000,
    });
    const c = await FeedClient.connect(s.url);
    c.send({
      type: 'subscribe',
      product_ids: ['BTC-USD'],
      channels: ['matches', 'ticker', 'level2_batch'],
    });
    await c.until(() => c.ofType('subscriptions').length === 1, 'ack');
    c.ws.pause();
    const started = Date.now();
    const slow = () =>
      missedIds(
        s.log().products['BTC-USD'] ?? {
          trades: { count: 0, first: null, last: null, ids: [] },
          delivered: {},
          missed: [],
          pending: {},
        },
        'slow_consumer',
        'c1',
      );
    await eventually(() => slow().length > 0, 'slow consumer detected', 30_000);
    console.log(
      `slow consumer detected ${Date.now() - started} ms after the client stopped reading`,
    );
    c.ws.resume();
    const closed = await c.closed;
    expect(closed.code).toBe(1008);
    expect(c.frames.at(-1)).toEqual({ type: 'error', message: 'ErrSlowConsume' });
    await eventually(
      () => s.log().connections.c1?.close_reason === 'slow_consumer',
      'close logged',
    );
    const p = s.log().products['BTC-USD'];
    expect(p?.pending).toEqual({});
    if (p !== undefined) expect(unaccounted(p)).toEqual([]);
  });

  it('replays a recording to subscribers, filtered by product and channel, with --retime', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lf-sim-'));
    const file = join(dir, 'rec.jsonl');
    const src = readFileSync(
      join(
        import.meta.dirname,
        '../fixtures/coinbase-exchange/unattributed-idx59533280927-exchange-2026-08-25.jsonl',
      ),
      'utf8',
    );
    const lines = src.split('\n').filter((l) => l.trim() !== '');
    writeFileSync(
      file,
      lines
        .map((l, i) =>
          JSON.stringify({ lf: 1, recv_us: 1_756_092_957_000_000 + i * 1000, frame: l }),
        )
        .join('\n') + '\n',
    );
    const s = await sim({ replay: { file, speed: 'max', retime: true } });
    expect(s.products).toEqual(['BTC-USD']);
    const c = await FeedClient.connect(s.url);
    c.send({ type: 'subscribe', product_ids: ['BTC-USD'], channels: ['matches', 'level2_batch'] });
    await s.replayDone();
    await c.until(() => c.ofType('l2update').length === 1, 'replayed l2update');
    expect(c.frames.map((f) => f.type)).toEqual(['subscriptions', 'snapshot', 'match', 'l2update']);
    const match = c.ofType('match')[0] ?? {};
    expect(match.trade_id).toBe(1081862675);
    expect(Math.abs(Date.parse(match.time as string) - Date.now())).toBeLessThan(60_000);
    const p = s.log().products['BTC-USD'];
    expect(p?.delivered).toEqual({ c1: [[1081862675, 1081862675]] });
  });
});
