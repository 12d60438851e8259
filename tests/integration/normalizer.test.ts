/**
 * Simulator (with faults) → ingestor → 2 normalizer shards (real processes) → MD_NORM:
 * trades in id order, no duplicates, gaps announced exactly where the simulator dropped,
 * and a normalizer killed -9 mid-stream loses and duplicates nothing.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import type { Normalized, Status, Trade } from '../../services/common/schemas/normalized.js';
import { shardOf } from '../../services/common/subjects.js';
import { missedIds } from '../../services/sim/core/control-log.js';
import type { SimulatorOptions } from '../../services/sim/server.js';
import { messagesOf, startShardRig, type ShardRig } from '../harness/shard-rig.js';
import { drainDurables, readStream } from '../harness/streams.js';
import { waitFor } from '../harness/wait.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'];

type Pipeline = ShardRig;

const running: Pipeline[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

async function pipeline(simOpts: SimulatorOptions): Promise<Pipeline> {
  const p = await startShardRig({ products: PRODUCTS, sim: { seed: 11, ...simOpts } });
  running.push(p);
  return p;
}

/** Stop the feed, flush the ingestor, and wait until both durables have nothing left. */
async function drain(p: Pipeline): Promise<Normalized[]> {
  await p.sim.stop();
  await p.ingestor.stop();
  await drainDurables(p.nc, 'MD_RAW', ['normalizer-0', 'normalizer-1'], {
    outStream: 'MD_NORM',
  });
  return (await readStream(p.nc, 'MD_NORM')).map((m) => JSON.parse(m.text()) as Normalized);
}

function expectContiguousSeqs(msgs: Normalized[]): void {
  for (const product of PRODUCTS) {
    for (const type of ['trade', 'ticker', 'book', 'status'] as const) {
      const seqs = messagesOf(msgs, type, product).map((m) => m.seq);
      expect(seqs, `${product} ${type} seq`).toEqual(seqs.map((_, i) => i + 1));
    }
  }
}

function expectTradesOrdered(trades: Trade[], product: string): void {
  const ids = trades.map((t) => BigInt(t.trade_id));
  for (let i = 1; i < ids.length; i++) {
    expect(
      (ids[i] as bigint) > (ids[i - 1] as bigint),
      `${product}: trade ids strictly increasing at ${String(i)}`,
    ).toBe(true);
  }
}

function gapIds(statuses: Status[]): number[] {
  const out: number[] = [];
  for (const s of statuses.filter((x) => x.event === 'gap')) {
    for (let id = Number(s.from); id <= Number(s.to); id++) out.push(id);
  }
  return out;
}

describe('normalizer shards', () => {
  it('orders, deduplicates and announces exactly the dropped trades, under dup, reorder and drop faults', async () => {
    const p = await pipeline({
      rate: 300,
      faults: { drop: { p: 0.03 }, dup: { p: 0.03 }, reorder: { p: 0.05, k: 3 } },
    });
    await waitFor('trades', () => (p.sim.log().products['SOL-USD']?.trades.count ?? 0) > 150, {
      timeoutMs: 30_000,
    });
    const msgs = await drain(p);
    expectContiguousSeqs(msgs);
    let dropped = 0;
    for (const product of PRODUCTS) {
      const trades = messagesOf(msgs, 'trade', product);
      expect(trades.length, product).toBeGreaterThan(20);
      expectTradesOrdered(trades, product);
      const last = Number(trades.at(-1)?.trade_id);
      const plog = p.sim.log().products[product];
      if (plog === undefined) throw new Error(`no log for ${product}`);
      const drops = missedIds(plog, 'fault_drop').filter((id) => id < last);
      dropped += drops.length;
      // Gaps are announced exactly where the simulator dropped (within the emitted range).
      expect(
        gapIds(messagesOf(msgs, 'status', product)).filter((id) => id < last),
        `${product} gaps`,
      ).toEqual(drops);
      for (const t of trades) expect(drops).not.toContain(Number(t.trade_id));
      const book = messagesOf(msgs, 'book', product).at(-1);
      expect(book, `${product} book`).toBeDefined();
      if (book !== undefined && book.bids[0] !== undefined && book.asks[0] !== undefined) {
        expect(Number(book.bids[0][0])).toBeLessThan(Number(book.asks[0][0]));
      }
    }
    expect(dropped).toBeGreaterThan(0);
  });

  it('loses and duplicates nothing when a normalizer is killed -9 mid-stream and restarted; books resync', async () => {
    const p = await pipeline({ rate: 300 });
    const victim = shardOf('BTC-USD', 2);
    await waitFor(
      'BTC-USD trades',
      () => (p.sim.log().products['BTC-USD']?.trades.count ?? 0) > 100,
      { timeoutMs: 30_000 },
    );
    // The victim must be up and publishing before it is killed: a loaded machine can take
    // seconds to start a process, and a shard killed before its start announcement would
    // leave nothing of its first life in MD_NORM.
    const jsm = await jetstreamManager(p.nc);
    await waitFor(
      'BTC-USD trades in MD_NORM',
      async () => {
        const subject = 'md.norm.coinbase.BTC-USD.trade';
        const info = await jsm.streams.info('MD_NORM', { subjects_filter: subject });
        return (info.state.subjects?.[subject] ?? 0) > 20;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await p.shards[victim]?.kill();
    await waitFor(
      'more trades while it is down',
      () => (p.sim.log().products['BTC-USD']?.trades.count ?? 0) > 200,
      { timeoutMs: 30_000 },
    );
    p.shards[victim] = await p.normalizer(victim);
    // Back up: it announced the restart and resynced the book from a fresh snapshot.
    await waitFor(
      'the restarted shard to resync BTC-USD',
      async () => {
        const statuses = (await readStream(p.nc, 'MD_NORM', 'md.norm.coinbase.BTC-USD.status')).map(
          (m) => JSON.parse(m.text()) as Status,
        );
        const last = statuses.findLastIndex((x) => x.reason === 'restart');
        const restarts = statuses.filter((x) => x.reason === 'restart').length;
        return restarts === 2 && statuses.slice(last).some((x) => x.event === 'book_resynced');
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const resumedAt = p.sim.log().products['BTC-USD']?.trades.count ?? 0;
    await waitFor(
      'more trades after the restart',
      () => (p.sim.log().products['BTC-USD']?.trades.count ?? 0) > resumedAt + 50,
      { timeoutMs: 30_000 },
    );
    const msgs = await drain(p);
    expectContiguousSeqs(msgs);
    for (const product of PRODUCTS) {
      const trades = messagesOf(msgs, 'trade', product);
      expectTradesOrdered(trades, product);
      const statuses = messagesOf(msgs, 'status', product);
      expect(
        statuses.filter((s) => s.event === 'gap'),
        `${product}: nothing was dropped upstream`,
      ).toEqual([]);
      // Every trade the ingestor stored is in MD_NORM once.
      const raw = await readStream(
        p.nc,
        'MD_RAW',
        `md.raw.coinbase.${String(shardOf(product, 2))}.${product}`,
      );
      const rawIds = [
        ...new Set(
          raw
            .filter(
              (m) => m.headers['Lf-Type'] === 'match' || m.headers['Lf-Type'] === 'last_match',
            )
            .map((m) => String((JSON.parse(m.text()) as { trade_id: number }).trade_id)),
        ),
      ];
      expect(
        trades.map((t) => t.trade_id),
        product,
      ).toEqual(rawIds.sort((a, b) => Number(a) - Number(b)));
    }
    // The restarted shard announced its books invalid and resynced them.
    const btc = messagesOf(msgs, 'status', 'BTC-USD');
    const restarts = btc.filter((s) => s.event === 'book_invalid' && s.reason === 'restart');
    expect(restarts.length).toBe(2);
    const lastRestart = btc.lastIndexOf(restarts[1] as Status);
    expect(btc.slice(lastRestart).some((s) => s.event === 'book_resynced')).toBe(true);
  });
});
