/**
 * The Advanced Trade feed end to end below the gateway: the simulator speaking Advanced
 * Trade (with faults) → the ingestor (COINBASE_FEED=advanced) → 2 normalizer shards (real
 * processes) → MD_NORM. Trades once and in id order, gaps announced exactly for the trades
 * the simulator never delivered, books equal to the simulator's final book, multi-product
 * frames split, and a `sequence_num` hole answered by a reconnect with fresh snapshots.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Normalized, Status, Trade } from '../../services/common/schemas/normalized.js';
import { missedIds, undelivered } from '../../services/sim/core/control-log.js';
import type { Simulator, SimulatorOptions } from '../../services/sim/server.js';
import { messagesOf, metricValue, startShardRig, type ShardRig } from '../harness/shard-rig.js';
import { drainDurables, readStream, type StoredMessage } from '../harness/streams.js';
import { waitFor } from '../harness/wait.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'];
const TOP_N = 10;

type Rig = ShardRig;

const rigs: Rig[] = [];
afterEach(async () => {
  for (const r of rigs.splice(0)) await r.stop();
});

async function rig(simOpts: SimulatorOptions): Promise<Rig> {
  const r = await startShardRig({
    products: PRODUCTS,
    sim: { feed: 'advanced', seed: 5, ...simOpts },
    ingestorEnv: { RECONNECT_MIN_MS: '100', RECONNECT_MAX_MS: '500' },
    normalizerEnv: { BOOK_TOP_N: String(TOP_N) },
  });
  rigs.push(r);
  return r;
}

/** Pause the market, flush the ingestor, wait until both durables are drained. */
async function drain(r: Rig): Promise<{ norm: Normalized[]; raw: StoredMessage[] }> {
  r.sim.pause();
  // Held (reordered) frames leave with the next frames: heartbeats, once a second.
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  await r.ingestor.stop();
  await drainDurables(r.nc, 'MD_RAW', ['normalizer-0', 'normalizer-1'], { outStream: 'MD_NORM' });
  const norm = (await readStream(r.nc, 'MD_NORM')).map((m) => JSON.parse(m.text()) as Normalized);
  return { norm, raw: await readStream(r.nc, 'MD_RAW') };
}

function gapIds(statuses: Status[]): number[] {
  return statuses
    .filter((s) => s.event === 'gap')
    .flatMap((s) => {
      const out: number[] = [];
      for (let id = Number(s.from); id <= Number(s.to); id++) out.push(id);
      return out;
    });
}

/**
 * The oracle, per product: trade ids strictly increasing; between the first and the last
 * trade, trades and announced gaps cover every id exactly once; and the gaps are exactly
 * the ids the simulator delivered on no connection (dropped, or generated while nobody
 * was subscribed and not replayed by a snapshot).
 */
function expectTradesOnceInOrder(
  sim: Simulator,
  norm: Normalized[],
): { trades: number; gaps: number; drops: number } {
  let trades = 0;
  let gaps = 0;
  let drops = 0;
  for (const product of PRODUCTS) {
    const ids = messagesOf(norm, 'trade', product).map((t: Trade) => Number(t.trade_id));
    expect(ids.length, `${product}: trades`).toBeGreaterThan(20);
    for (let i = 1; i < ids.length; i++)
      expect((ids[i] ?? 0) > (ids[i - 1] ?? 0), `${product}: increasing at ${String(i)}`).toBe(
        true,
      );
    const first = ids[0] ?? 0;
    const last = ids.at(-1) ?? 0;
    const gap = gapIds(messagesOf(norm, 'status', product)).filter((id) => id > first && id < last);
    const covered = [...ids, ...gap].sort((a, b) => a - b);
    expect(covered, `${product}: trades + gaps cover the range once`).toEqual(
      Array.from({ length: last - first + 1 }, (_, i) => first + i),
    );
    const plog = sim.log().products[product];
    if (plog === undefined) throw new Error(`no log for ${product}`);
    const never = [...undelivered(plog).keys()]
      .filter((id) => id > first && id < last)
      .sort((a, b) => a - b);
    expect(gap, `${product}: gaps = trades delivered on no connection`).toEqual(never);
    trades += ids.length;
    gaps += gap.length;
    drops += missedIds(plog, 'fault_drop').filter((id) => id > first && id < last).length;
  }
  return { trades, gaps, drops };
}

/** The last book published per product equals the simulator's top levels. */
function expectBooksEqualSim(sim: Simulator, norm: Normalized[]): void {
  for (const product of PRODUCTS) {
    const book = messagesOf(norm, 'book', product).at(-1);
    expect(book, `${product}: a book`).toBeDefined();
    expect(
      { bids: book?.bids, asks: book?.asks },
      `${product}: the last book is the simulator's`,
    ).toEqual(sim.book(product, TOP_N));
  }
}

describe('Advanced Trade feed: simulator → ingestor → normalizers → MD_NORM', () => {
  it('under drop, dup, reorder and malformed faults: trades once and in order, gaps exactly the undelivered ids, books equal the simulator’s, frames split per product', async () => {
    const r = await rig({
      rate: 300,
      faults: {
        drop: { p: 0.03 },
        dup: { p: 0.03 },
        reorder: { p: 0.05, k: 3 },
        malformed: { p: 0.005 },
      },
    });
    await waitFor('trades', () => (r.sim.log().products['SOL-USD']?.trades.count ?? 0) > 150, {
      timeoutMs: 60_000,
    });
    const { norm, raw } = await drain(r);
    const counts = expectTradesOnceInOrder(r.sim, norm);
    console.info(
      `advanced under faults: ${String(counts.trades)} trades, ${String(counts.gaps)} gap ids, ${String(counts.drops)} dropped by the simulator`,
    );
    expect(counts.drops).toBeGreaterThan(0);
    expectBooksEqualSim(r.sim, norm);
    // Repeated frames were recognised by sequence_num and not stored; reordered ones were late.
    expect(
      await metricValue(r.registry, 'ledgerflux_ingestor_sequence_events_total', {
        outcome: 'duplicate',
      }),
    ).toBeGreaterThan(0);
    expect(
      await metricValue(r.registry, 'ledgerflux_ingestor_sequence_events_total', {
        outcome: 'gap',
      }),
    ).toBe(0);
    // One subscribe per channel: the partial acks before the last are not problems.
    expect(await metricValue(r.registry, 'ledgerflux_ingestor_subscription_missing_total')).toBe(0);
    // The ticker snapshot names every product: it was split, each part on its own subject.
    const split = raw.filter((m) => m.headers['Lf-Split'] === '1');
    expect(split.length).toBeGreaterThan(0);
    for (const m of split) {
      const products = new Set(
        [...m.text().matchAll(/"product_id":"([A-Z-]+)"/g)].map((x) => x[1]),
      );
      expect([...products], m.subject).toEqual([m.subject.split('.')[4]]);
    }
    // Nothing was filed as a schema error: the mapper read every frame the feed sent.
    const dlq = await readStream(r.nc, 'MD_DLQ');
    expect(dlq.filter((m) => m.headers['Lf-Reason'] !== 'unparsable')).toEqual([]);
    for (const product of PRODUCTS) {
      const ticker = messagesOf(norm, 'ticker', product).at(-1);
      expect(ticker, product).toMatchObject({ venue: 'coinbase', product });
      expect(ticker?.trade_id).toBeUndefined();
    }
  });

  it('a sequence_num hole makes the ingestor reconnect: books invalid, then resynced from fresh snapshots; trades still once and in order', async () => {
    const r = await rig({ rate: 300 });
    await waitFor('trades', () => (r.sim.log().products['SOL-USD']?.trades.count ?? 0) > 60, {
      timeoutMs: 60_000,
    });
    r.sim.setFaults({ seq_skip: { count: 1 } });
    await waitFor(
      'a second connection, subscribed',
      () => Object.keys(r.sim.log().products['BTC-USD']?.delivered ?? {}).length >= 2,
      { timeoutMs: 30_000 },
    );
    await waitFor(
      'trades on the new connection',
      () => (r.sim.log().products['SOL-USD']?.delivered.c2?.length ?? 0) > 0,
      { timeoutMs: 30_000 },
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const { norm, raw } = await drain(r);
    const c1 = r.sim.log().connections.c1;
    expect(c1?.close_reason, 'the ingestor closed the first connection').toBe('client');
    expect(
      await metricValue(r.registry, 'ledgerflux_ingestor_sequence_events_total', {
        outcome: 'gap',
      }),
    ).toBe(1);
    const counts = expectTradesOnceInOrder(r.sim, norm);
    // Trades the simulator made while no connection was subscribed came back in the new
    // connection's market_trades snapshot (the normalizer dropped those it had).
    let recovered = 0;
    for (const product of PRODUCTS) {
      const plog = r.sim.log().products[product];
      if (plog === undefined) continue;
      const stored = new Set(messagesOf(norm, 'trade', product).map((t) => Number(t.trade_id)));
      recovered += missedIds(plog, 'no_subscriber').filter((id) => stored.has(id)).length;
    }
    console.info(
      `advanced reconnect: ${String(counts.trades)} trades, ${String(counts.gaps)} gap ids, ${String(recovered)} recovered from snapshots`,
    );
    for (const product of PRODUCTS) {
      const markers = raw
        .filter((m) => m.headers['Lf-Type'] === 'lf_feed' && m.subject.endsWith(product))
        .map((m) => JSON.parse(m.text()) as { state: string; reason?: string })
        // Book resubscribes (the normalizers' resync requests) come and go meanwhile.
        .filter((m) => m.state !== 'resubscribed');
      expect(
        markers.map((m) => m.state),
        product,
      ).toEqual(['connected', 'dropped', 'connected']);
      expect(markers[1]?.reason).toBe('sequence_gap');
      const statuses = messagesOf(norm, 'status', product);
      const invalid = statuses.findIndex(
        (s) => s.event === 'book_invalid' && s.reason === 'sequence_gap',
      );
      expect(invalid, `${product}: book_invalid sequence_gap`).toBeGreaterThanOrEqual(0);
      expect(
        statuses.slice(invalid).some((s) => s.event === 'book_resynced'),
        `${product}: resynced after the hole`,
      ).toBe(true);
      expect(statuses.some((s) => s.event === 'feed_reconnected')).toBe(true);
    }
    expectBooksEqualSim(r.sim, norm);
  });
});
