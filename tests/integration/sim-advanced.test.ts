/**
 * `ledgerflux sim --feed advanced` against real `ws` clients over TCP: the Advanced Trade
 * session (one channel per subscribe, cumulative acks, sequence_num, heartbeats, errors,
 * the idle close), its faults with their fixed meanings, and the control-log oracle.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { missedIds, unaccounted } from '../../services/sim/core/control-log.js';
import { expandRanges } from '../../services/sim/core/ranges.js';
import {
  startSimulator,
  type Simulator,
  type SimulatorOptions,
} from '../../services/sim/server.js';
import { FeedClient, eventually, type Json } from '../harness/feed-client.js';

const sims: Simulator[] = [];
async function sim(opts: SimulatorOptions): Promise<Simulator> {
  const s = await startSimulator({ feed: 'advanced', seed: 13, ...opts });
  sims.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.stop()));
});

const PRODUCTS = ['BTC-USD', 'ETH-USD'];
function subscribeAll(
  c: FeedClient,
  channels = ['heartbeats', 'market_trades', 'ticker', 'level2'],
) {
  for (const channel of channels) c.send({ type: 'subscribe', channel, product_ids: PRODUCTS });
}
const seqs = (c: FeedClient) => c.frames.map((f) => f.sequence_num as number);
const events = (f: Json) => f.events as Json[];
/** Trade ids of market_trades frames, per product, in receive order. */
function tradeIds(c: FeedClient, product: string, type?: string): number[] {
  return c
    .ofChannel('market_trades')
    .flatMap((f) => events(f))
    .filter((e) => type === undefined || e.type === type)
    .flatMap((e) => e.trades as Json[])
    .filter((t) => t.product_id === product)
    .map((t) => Number(t.trade_id));
}

describe('ledgerflux sim --feed advanced: protocol', () => {
  it('acks each subscribe cumulatively, numbers every frame from 0, sends snapshots then updates and heartbeats', async () => {
    const s = await sim({ rate: 1500, products: PRODUCTS });
    const c = await FeedClient.connect(s.url);
    subscribeAll(c);
    await c.until(
      () => c.ofChannel('heartbeats').length >= 2 && tradeIds(c, 'BTC-USD', 'update').length >= 10,
      'heartbeats and trades',
    );
    expect(seqs(c)).toEqual(c.frames.map((_, i) => i));
    const acks = c.ofChannel('subscriptions').map((f) => events(f)[0]?.subscriptions);
    expect(acks.at(-1)).toEqual({
      heartbeats: ['heartbeats'],
      market_trades: PRODUCTS,
      ticker: PRODUCTS,
      level2: PRODUCTS,
    });
    expect(acks).toHaveLength(4);
    // Snapshots come first; the ticker snapshot names both products in one frame.
    const tickerSnap = c.ofChannel('ticker').find((f) => events(f)[0]?.type === 'snapshot');
    expect((events(tickerSnap ?? {})[0]?.tickers as Json[]).map((t) => t.product_id)).toEqual(
      PRODUCTS,
    );
    for (const product of PRODUCTS) {
      const l2 = c.ofChannel('l2_data').filter((f) => events(f)[0]?.product_id === product);
      expect(events(l2[0] ?? {})[0]?.type, product).toBe('snapshot');
      // Trades: contiguous ids, snapshot then updates, newest first inside a frame.
      const ids = c
        .ofChannel('market_trades')
        .flatMap((f) =>
          events(f).flatMap((e) => (e.trades as Json[]).filter((t) => t.product_id === product)),
        )
        .map((t) => Number(t.trade_id));
      const frames = c
        .ofChannel('market_trades')
        .map((f) =>
          events(f).flatMap((e) => (e.trades as Json[]).filter((t) => t.product_id === product)),
        );
      for (const f of frames) {
        const inFrame = f.map((t) => Number(t.trade_id));
        expect(inFrame).toEqual([...inFrame].sort((a, b) => b - a));
      }
      const ascending = [...new Set(ids)].sort((a, b) => a - b);
      expect(ascending).toEqual(ascending.map((_, i) => (ascending[0] ?? 0) + i));
    }
    // Heartbeats: the counter goes up by one a second.
    const counters = c
      .ofChannel('heartbeats')
      .map((f) => events(f)[0]?.heartbeat_counter as number);
    expect(counters[1]).toBe((counters[0] ?? 0) + 1);
  });

  it('errors are not enveloped, and the socket stays open; a refused subscribe changes nothing', async () => {
    const s = await sim({ rate: 100, products: PRODUCTS });
    const c = await FeedClient.connect(s.url);
    c.send({ type: 'subscribe', channel: 'heartbeat' });
    c.send({ type: 'subscribe', channel: 'ticker', product_ids: ['XYZ-USD'] });
    c.send({ type: 'subscribe', channel: 'heartbeats' });
    await c.until(() => c.frames.length >= 3, 'two errors and an ack');
    expect(c.frames.slice(0, 2)).toEqual([
      { type: 'error', message: 'authentication failure' },
      { type: 'error', message: 'XYZ-USD is not a valid product' },
    ]);
    expect(c.frames[2]).toMatchObject({
      channel: 'subscriptions',
      sequence_num: 0,
      events: [{ subscriptions: { heartbeats: ['heartbeats'] } }],
    });
  });

  it('closes a connection whose channel went quiet without heartbeats; heartbeats keep it open', async () => {
    const s = await sim({ rate: 1, products: ['BTC-USD'], idleCloseMs: 300 });
    const quiet = await FeedClient.connect(s.url);
    quiet.send({ type: 'subscribe', channel: 'level2', product_ids: ['BTC-USD'] });
    const kept = await FeedClient.connect(s.url);
    kept.send({ type: 'subscribe', channel: 'heartbeats' });
    kept.send({ type: 'subscribe', channel: 'level2', product_ids: ['BTC-USD'] });
    const closed = await quiet.closed;
    expect(closed.code).toBe(1006);
    await eventually(() => s.log().connections.c1?.close_reason === 'idle', 'close reason idle');
    await kept.until(() => kept.ofChannel('heartbeats').length >= 2, 'heartbeats');
    expect(s.log().connections.c2?.closed_at).toBeNull();
  });

  it('a full-depth BTC-USD snapshot is about 5 MB, as recorded', async () => {
    const s = await sim({ rate: 10, products: ['BTC-USD'], depth: 'full' });
    const c = await FeedClient.connect(s.url);
    c.send({ type: 'subscribe', channel: 'level2', product_ids: ['BTC-USD'] });
    await c.until(() => c.ofChannel('l2_data').length >= 1, 'the snapshot', 30_000);
    const bytes = c.texts.find((t) => t.includes('"l2_data"'))?.length ?? 0;
    console.info(`advanced full-depth BTC-USD snapshot: ${String(bytes)} bytes`);
    expect(bytes).toBeGreaterThan(4_000_000);
    expect(bytes).toBeLessThan(7_000_000);
  });
});

describe('ledgerflux sim --feed advanced: faults and the oracle', () => {
  it('drop removes trades and keeps sequence_num contiguous; dup repeats a frame with its number; reorder moves it with its number', async () => {
    const s = await sim({
      rate: 1500,
      products: PRODUCTS,
      faults: { drop: { p: 0.05 }, dup: { p: 0.05 }, reorder: { p: 0.05, k: 3 } },
    });
    const c = await FeedClient.connect(s.url);
    subscribeAll(c, ['heartbeats', 'market_trades', 'ticker']);
    await c.until(() => tradeIds(c, 'BTC-USD', 'update').length >= 300, 'trades', 20_000);
    s.setFaults({ reset: true });
    // A frame held back by reorder goes out after at most K (3) later frames; the log's
    // `pending` tracks trades only, so a held heartbeat or ticker would still be owed.
    const atReset = c.frames.length;
    await c.until(() => c.frames.length >= atReset + 10, 'the held frames released', 20_000);
    c.ws.close();
    await c.closed;
    await eventually(
      () => Object.values(s.log().products).every((p) => Object.keys(p.pending).length === 0),
      'nothing pending',
    );
    // Numbers: every one arrives, repeats are exact copies, some arrive out of order.
    const seen = new Map<number, string>();
    let repeats = 0;
    let outOfOrder = 0;
    let highest = -1;
    for (const [i, f] of c.frames.entries()) {
      const n = f.sequence_num as number;
      const text = c.texts[i] ?? '';
      if (seen.has(n)) {
        repeats++;
        expect(text).toBe(seen.get(n));
        continue;
      }
      if (n < highest) outOfOrder++;
      highest = Math.max(highest, n);
      seen.set(n, text);
    }
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual([...seen.keys()].map((_, i) => i));
    expect(repeats).toBeGreaterThan(0);
    expect(outOfOrder).toBeGreaterThan(0);
    for (const product of PRODUCTS) {
      const plog = s.log().products[product];
      if (plog === undefined) throw new Error(product);
      expect(unaccounted(plog)).toEqual([]);
      const dropped = missedIds(plog, 'fault_drop', 'c1');
      expect(dropped.length, product).toBeGreaterThan(0);
      const got = new Set(tradeIds(c, product));
      for (const id of dropped) expect(got.has(id)).toBe(false);
      for (const id of expandRanges(plog.delivered.c1 ?? []))
        expect(got.has(id), String(id)).toBe(true);
    }
  });

  it('seq_skip leaves exactly one hole in sequence_num and loses nothing', async () => {
    const s = await sim({ rate: 500, products: PRODUCTS });
    const c = await FeedClient.connect(s.url);
    subscribeAll(c, ['heartbeats', 'market_trades']);
    await c.until(() => c.frames.length >= 20, 'frames');
    s.setFaults({ seq_skip: { count: 1 } });
    const at = c.frames.length;
    await c.until(() => c.frames.length >= at + 20, 'more frames');
    const numbers = seqs(c);
    const holes = numbers.flatMap((n, i) => (i > 0 && n !== (numbers[i - 1] ?? 0) + 1 ? [n] : []));
    expect(holes).toHaveLength(1);
    expect(s.faults()).toEqual({});
    const plog = s.log().products['BTC-USD'];
    expect(plog?.missed.filter((m) => m.conn === 'c1')).toEqual([]);
  });
});
