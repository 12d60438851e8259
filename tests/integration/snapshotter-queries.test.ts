/**
 * The read queries the gateway calls, against the naive models of the same messages:
 * stateAt(product, T) for many T, candles at every interval, trades with cursor paging
 * and the gaps of each page, gaps in a range. The rows are written by the snapshotter's
 * own planner and store, from a 33-hour stream (so the 24 h window and 1 d candles bite).
 */
import type { Sql } from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Trade } from '../../services/common/schemas/normalized.js';
import { planBatch } from '../../services/snapshotter/core/batch.js';
import {
  CANDLE_INTERVALS,
  CANDLE_INTERVAL_NAMES,
  compareKeys,
  type Candle,
} from '../../services/snapshotter/core/candles.js';
import { compareDec } from '../../services/snapshotter/core/decimal.js';
import type { ProductState } from '../../services/snapshotter/core/state.js';
import { isoFromUs } from '../../services/common/time.js';
import {
  QueryError,
  SnapshotQueries,
  type CandleOut,
  type TradeOut,
} from '../../services/snapshotter/queries.js';
import { Store } from '../../services/snapshotter/store.js';
import { testDatabase } from '../harness/db.js';
import { generateNormalized } from '../harness/norm-stream.js';
import { migratedDatabase } from '../harness/snapshot-db.js';
import {
  candleTrades,
  naiveCandles,
  naiveStateAt,
  naiveStats24h,
  timeOf,
  uniqueTrades,
  type Offsetted,
} from '../unit/snapshotter/model.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD'];
const START_US = Date.UTC(2024, 0, 1, 6) * 1000;
const INTERVAL_US = 120_000_000;
let sql: Sql;
let q: SnapshotQueries;
let xs: Offsetted[];
let trades: Trade[];

beforeAll(async () => {
  sql = await migratedDatabase(await testDatabase());
  const msgs = generateNormalized({
    products: PRODUCTS,
    count: 4_000,
    seed: 5,
    startUs: START_US,
    stepUs: 60_000_000,
  });
  xs = msgs.map((msg, i) => ({ msg, offset: 2 * i + 1 }));
  trades = uniqueTrades(msgs);
  const store = new Store(sql, 'snapshotter', 'MD_NORM');
  let states: ReadonlyMap<string, ProductState> = new Map();
  let after = await store.openCheckpoint();
  for (let i = 0; i < xs.length; i += 500) {
    const plan = planBatch(states, xs.slice(i, i + 500), { intervalUs: INTERVAL_US, after });
    await store.commit(plan, after, INTERVAL_US);
    states = plan.states;
    after = plan.lastOffset;
  }
  q = new SnapshotQueries(sql);
  return () => sql.end({ timeout: 1 });
});

const endUs = () => Math.max(...xs.map((x) => timeOf(x.msg)));
const productTrades = (p: string) =>
  candleTrades(trades.filter((t) => t.product === p)).sort(compareKeys);

function expectedTrade(t: Trade): TradeOut {
  const first = xs.find((x) => x.msg === t);
  return {
    trade_id: t.trade_id,
    price: t.price,
    size: t.size,
    side: t.side,
    time: t.time,
    offset: first?.offset ?? -1,
    seq: t.seq,
  };
}

describe('stateAt(product, T)', () => {
  it('equals the model for many T: snapshot book and ticker, last trade, 24 h stats', async () => {
    const span = endUs() - START_US;
    const ts = [START_US - 1, START_US, START_US + INTERVAL_US, endUs(), endUs() + 3 * INTERVAL_US];
    for (let i = 0; i < 60; i++) ts.push(START_US + Math.floor((span * (i + 0.37)) / 60));
    for (let i = 1; i < 10; i++) ts.push(START_US + (i * 86_400_000_000) / 4 - (i % 3)); // near edges
    for (const p of PRODUCTS) {
      const mine = productTrades(p);
      for (const t of ts) {
        const got = await q.stateAt(p, isoFromUs(t));
        const model = naiveStateAt(xs, p, t, INTERVAL_US);
        expect(got.offset, `${p} at ${isoFromUs(t)}`).toBe(model?.offset ?? null);
        expect(
          got.ticker === null
            ? undefined
            : {
                price: got.ticker.price,
                offset: got.ticker.offset,
                time: got.ticker.time,
                as_of: got.ticker.as_of,
                volume_24h: got.ticker.volume_24h,
              },
        ).toEqual(
          model?.ticker === undefined
            ? undefined
            : {
                price: model.ticker.price,
                offset: model.ticker.offset,
                time: model.ticker.time,
                as_of: isoFromUs(model.ticker.timeUs),
                volume_24h: model.ticker.volume_24h ?? null,
              },
        );
        expect(
          got.book === null
            ? undefined
            : {
                bids: got.book.bids,
                asks: got.book.asks,
                valid: got.book.valid,
                offset: got.book.offset,
              },
        ).toEqual(
          model?.book === undefined
            ? undefined
            : {
                bids: model.book.bids,
                asks: model.book.asks,
                valid: model.book.valid,
                offset: model.book.offset,
              },
        );
        if (got.as_of !== null) expect(Date.parse(got.as_of) * 1000).toBeLessThanOrEqual(t);
        const upTo = mine.filter((x) => x.timeUs <= t);
        const last = upTo.at(-1);
        const lastTrade =
          last === undefined
            ? null
            : trades.find((x) => x.product === p && x.trade_id === last.tradeId);
        expect(got.last_trade).toEqual(lastTrade == null ? null : expectedTrade(lastTrade));
        const stats = naiveStats24h(mine, t);
        if (stats === undefined) expect(got.stats_24h).toBeNull();
        else {
          const s = got.stats_24h;
          expect(s, `${p} stats at ${isoFromUs(t)}`).not.toBeNull();
          expect(s?.trade_count).toBe(stats.count);
          for (const k of ['open', 'high', 'low', 'last', 'volume'] as const)
            expect(compareDec(s?.[k] ?? 'NaN', stats[k]), `${p} ${k} at ${isoFromUs(t)}`).toBe(0);
        }
      }
    }
  });

  it('is empty before anything was recorded, and refuses a bad time', async () => {
    const s = await q.stateAt('BTC-USD', '2020-01-01T00:00:00Z');
    expect(s).toMatchObject({
      as_of: null,
      offset: null,
      ticker: null,
      book: null,
      last_trade: null,
      stats_24h: null,
    });
    await expect(q.stateAt('BTC-USD', 'noon')).rejects.toBeInstanceOf(QueryError);
  });
});

describe('candles', () => {
  const toCandle = (c: CandleOut): Candle => ({
    startUs: Date.parse(c.start) * 1000,
    open: c.open,
    high: c.high,
    low: c.low,
    close: c.close,
    volume: c.volume,
    count: c.trade_count,
    first: { timeUs: 0, tradeId: '0' },
    last: { timeUs: 0, tradeId: '0' },
  });
  const same = (a: Candle, b: Candle) =>
    a.startUs === b.startUs &&
    a.count === b.count &&
    (['open', 'high', 'low', 'close', 'volume'] as const).every(
      (k) => compareDec(a[k], b[k]) === 0,
    );

  it('equal a naive aggregation of the trades, at every interval, whole buckets overlapping the range', async () => {
    for (const p of PRODUCTS) {
      for (const name of CANDLE_INTERVAL_NAMES) {
        const w = CANDLE_INTERVALS[name];
        const all = naiveCandles(productTrades(p), w);
        const got = (
          await q.candles(p, name, isoFromUs(START_US - w), isoFromUs(endUs() + w), {
            limit: 10_000,
          })
        ).map(toCandle);
        expect(got.length, `${p} ${name}`).toBe(all.length);
        got.forEach((c, i) => {
          expect(same(c, all[i] as Candle), `${p} ${name} ${JSON.stringify(c)}`).toBe(true);
        });
        // A range starting and ending mid-bucket returns the buckets it touches, whole.
        const from = START_US + 5 * 3_600_000_000 + 1_234;
        const to = from + 7 * 3_600_000_000;
        const part = (
          await q.candles(p, name, isoFromUs(from), isoFromUs(to), { limit: 10_000 })
        ).map(toCandle);
        const want = all.filter((c) => c.startUs + w > from && c.startUs < to);
        expect(part.length, `${p} ${name} partial`).toBe(want.length);
        part.forEach((c, i) => {
          expect(same(c, want[i] as Candle)).toBe(true);
        });
      }
    }
  });

  it('refuses an unknown interval or an empty range', async () => {
    await expect(
      q.candles('BTC-USD', '2m' as '1m', '2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z'),
    ).rejects.toMatchObject({ code: 'BAD_INTERVAL' });
    await expect(
      q.candles('BTC-USD', '1m', '2024-01-02T00:00:00Z', '2024-01-01T00:00:00Z'),
    ).rejects.toMatchObject({ code: 'BAD_RANGE' });
  });
});

describe('trades and gaps', () => {
  const gapsOf = (p: string) =>
    xs.flatMap((x) =>
      x.msg.type === 'status' && x.msg.event === 'gap' && x.msg.product === p
        ? [{ from: x.msg.from ?? '', to: x.msg.to ?? '' }]
        : [],
    );

  it('pages through a time range in (time, trade id) order; each overlapping gap on exactly one page', async () => {
    for (const p of PRODUCTS) {
      const from = START_US + 3_600_000_000;
      const to = from + 10 * 3_600_000_000;
      const want = productTrades(p).filter((t) => t.timeUs >= from && t.timeUs < to);
      const got: TradeOut[] = [];
      const gaps: { from: string; to: string }[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await q.trades(
          p,
          { from: isoFromUs(from), to: isoFromUs(to) },
          { limit: 37, ...(cursor === undefined ? {} : { cursor }) },
        );
        got.push(...page.trades);
        gaps.push(...page.gaps.map((g) => ({ from: g.from, to: g.to })));
        cursor = page.next_cursor ?? undefined;
        pages++;
      } while (cursor !== undefined);
      expect(pages).toBe(Math.max(1, Math.ceil(want.length / 37)));
      expect(got.map((t) => t.trade_id)).toEqual(want.map((t) => t.tradeId));
      const lo = BigInt(want[0]?.tradeId ?? '0');
      const hi = BigInt(want.at(-1)?.tradeId ?? '0');
      const inside = gapsOf(p).filter((g) => BigInt(g.to) > lo - 2n && BigInt(g.from) < hi + 2n);
      expect(gaps).toEqual(inside);
      expect(inside.length, `${p}: the range holds gaps`).toBeGreaterThan(0);
    }
  });

  it('pages through an inclusive id range in id order, with its gaps', async () => {
    const p = 'ETH-USD';
    const ids = productTrades(p)
      .map((t) => BigInt(t.tradeId))
      .sort((a, b) => (a < b ? -1 : 1));
    const fromId = String(ids[100]);
    const toId = String(ids[400]);
    const got: TradeOut[] = [];
    const gaps: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await q.trades(
        p,
        { fromId, toId },
        { limit: 50, ...(cursor === undefined ? {} : { cursor }) },
      );
      got.push(...page.trades);
      gaps.push(...page.gaps.map((g) => `${g.from}-${g.to}`));
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    expect(got.map((t) => t.trade_id)).toEqual(ids.slice(100, 401).map(String));
    expect(gaps).toEqual(
      gapsOf(p)
        .filter((g) => BigInt(g.to) >= BigInt(fromId) && BigInt(g.from) <= BigInt(toId))
        .map((g) => `${g.from}-${g.to}`),
    );
    await expect(q.trades(p, { fromId: toId, toId: fromId })).rejects.toMatchObject({
      code: 'BAD_RANGE',
    });
    await expect(q.trades(p, { fromId, toId }, { cursor: 'nope' })).rejects.toMatchObject({
      code: 'BAD_CURSOR',
    });
  });

  it('lists the gaps announced in a time range', async () => {
    const p = 'BTC-USD';
    const from = START_US;
    const to = endUs() + 1;
    const got = await q.gaps(p, isoFromUs(from), isoFromUs(to), { limit: 10_000 });
    expect(got.map((g) => `${g.from}-${g.to}`)).toEqual(gapsOf(p).map((g) => `${g.from}-${g.to}`));
    expect(got[0]).toMatchObject({ reason: 'upstream_drop' });
  });
});
