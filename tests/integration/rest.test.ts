/**
 * REST read side, against real data: MD_NORM (a generated stream, published as the
 * normalizer would) → the snapshotter (a real process) → PostgreSQL → the gateway's REST
 * API (in process). Current state is compared with the last published messages, history
 * with naive models of the same messages; every response is validated against the served
 * OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  Book,
  Normalized,
  Status,
  Ticker,
  Trade,
} from '../../services/common/schemas/normalized.js';
import {
  CANDLE_INTERVALS,
  CANDLE_INTERVAL_NAMES,
  compareKeys,
} from '../../services/snapshotter/core/candles.js';
import { compareDec } from '../../services/snapshotter/core/decimal.js';
import { isoFromUs } from '../../services/common/time.js';
import { SnapshotQueries } from '../../services/snapshotter/queries.js';
import type { CandlesBody, ProductsBody } from '../../services/gateway/rest/schemas.js';
import { PRODUCTS, START_US, WITH_DATA, startRestEnv, type RestEnv } from '../harness/rest-env.js';
import {
  candleTrades,
  naiveCandles,
  naiveStateAt,
  naiveStats24h,
  timeOf,
  uniqueTrades,
} from '../unit/snapshotter/model.js';

const SNAPSHOT_INTERVAL_US = 10_000_000;
let env: RestEnv;

beforeAll(async () => {
  env = await startRestEnv({ count: 3_000, seed: 21 });
}, 120_000);
afterAll(async () => {
  await env.stop();
  console.log(
    `REST responses checked against the document: ${[...env.checker.exercised].join(', ')}`,
  );
});

const msgsOf = (p: string) => env.published.filter((x) => x.msg.product === p);
function lastOf<T extends Normalized['type']>(p: string, type: T) {
  const x = msgsOf(p)
    .filter((m) => m.msg.type === type)
    .at(-1);
  return x as { msg: Extract<Normalized, { type: T }>; offset: number } | undefined;
}
const tradesOf = (p: string) =>
  candleTrades(uniqueTrades(msgsOf(p).map((x) => x.msg))).sort(compareKeys);
const endUs = () => Math.max(...env.published.map((x) => timeOf(x.msg)));
const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

describe('current state (MD_NORM)', () => {
  it('lists the configured products with their last ticker, book, trade and status', async () => {
    const res = await env.get<ProductsBody>('/v1/products');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body.products.map((p) => p.product)).toEqual([...PRODUCTS]);
    for (const p of WITH_DATA) {
      const got = res.body.products.find((x) => x.product === p);
      const ticker = lastOf(p, 'ticker');
      const book = lastOf(p, 'book');
      const trade = lastOf(p, 'trade');
      const status = lastOf(p, 'status');
      expect(got?.ticker).toEqual({ ...(ticker?.msg as Ticker), offset: ticker?.offset });
      expect(got?.book).toEqual({ ...(book?.msg as Book), offset: book?.offset });
      expect(got?.last_trade).toEqual({ ...(trade?.msg as Trade), offset: trade?.offset });
      expect(got?.status).toEqual({ ...(status?.msg as Status), offset: status?.offset });
      expect(got?.offsets).toEqual({
        ticker: ticker?.offset,
        book: book?.offset,
        trade: trade?.offset,
        status: status?.offset,
      });
    }
    expect(res.body.products.find((x) => x.product === 'SOL-USD')).toEqual({
      venue: 'coinbase',
      product: 'SOL-USD',
      ticker: null,
      book: null,
      last_trade: null,
      status: null,
      offsets: { ticker: null, book: null, trade: null, status: null },
    });
  });

  it('serves one product (any case), its book cut to `depth` levels', async () => {
    const book = lastOf('ETH-USD', 'book')?.msg as Book;
    const full = await env.get<ProductsBody['products'][number]>('/v1/products/eth-usd');
    expect(full.status).toBe(200);
    expect(full.body.product).toBe('ETH-USD');
    expect(full.body.book?.bids).toEqual(book.bids.slice(0, 10));
    const one = await env.get<ProductsBody['products'][number]>('/v1/products/ETH-USD?depth=1');
    expect(one.body.book?.bids).toEqual(book.bids.slice(0, 1));
    expect(one.body.book?.asks).toEqual(book.asks.slice(0, 1));
  });
});

describe('state at T (PostgreSQL)', () => {
  it('equals the naive model and the query module, for T across the stream', async () => {
    const queries = new SnapshotQueries(env.sql);
    const span = endUs() - START_US;
    const ts = [START_US - 1, START_US + span / 3, START_US + span / 2, endUs(), endUs() + 60e6];
    for (const p of WITH_DATA) {
      const xs = msgsOf(p);
      const mine = tradesOf(p);
      for (const t of ts.map(Math.floor)) {
        const at = isoFromUs(t);
        const res = await env.get(`/v1/products/${p}/state?${q({ at })}`);
        expect(res.status).toBe(200);
        // The wiring: exactly what the query module answers, through JSON.
        expect(res.body).toEqual(JSON.parse(JSON.stringify(await queries.stateAt(p, at))));
        // The meaning: the naive model of the same messages.
        const model = naiveStateAt(xs, p, t, SNAPSHOT_INTERVAL_US);
        const body = res.body as {
          offset: number | null;
          ticker: { offset: number } | null;
          book: { offset: number } | null;
          last_trade: { trade_id: string } | null;
          stats_24h: { trade_count: number; volume: string } | null;
        };
        expect(body.offset, `${p} at ${at}`).toBe(model?.offset ?? null);
        expect(body.ticker?.offset ?? null).toBe(model?.ticker?.offset ?? null);
        expect(body.book?.offset ?? null).toBe(model?.book?.offset ?? null);
        expect(body.last_trade?.trade_id ?? null).toBe(
          mine.filter((x) => x.timeUs <= t).at(-1)?.tradeId ?? null,
        );
        const stats = naiveStats24h(mine, t);
        expect(body.stats_24h?.trade_count ?? null).toBe(stats?.count ?? null);
        if (stats !== undefined)
          expect(compareDec(body.stats_24h?.volume ?? '', stats.volume)).toBe(0);
      }
    }
  });
});

describe('candles', () => {
  it('equal a naive aggregation of the trades at every interval', async () => {
    for (const p of WITH_DATA) {
      const trades = tradesOf(p);
      for (const interval of CANDLE_INTERVAL_NAMES) {
        const w = CANDLE_INTERVALS[interval];
        const from = isoFromUs(START_US - w);
        const to = isoFromUs(endUs() + w);
        const res = await env.get<CandlesBody>(
          `/v1/products/${p}/candles?${q({ from, to, interval, limit: '10000' })}`,
        );
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ product: p, interval, from, to });
        const want = naiveCandles(trades, w);
        expect(res.body.candles.length, `${p} ${interval}`).toBe(want.length);
        res.body.candles.forEach((c, i) => {
          const m = want[i];
          expect(Date.parse(c.start) * 1000).toBe(m?.startUs);
          expect(c.trade_count).toBe(m?.count);
          for (const k of ['open', 'high', 'low', 'close', 'volume'] as const)
            expect(compareDec(c[k], m?.[k] ?? 'NaN'), `${p} ${interval} ${k}`).toBe(0);
        });
      }
    }
  });

  it('returns the whole buckets a partial range touches, and none where there was nothing', async () => {
    const from = START_US + 10 * 60e6 + 1_234;
    const to = from + 20 * 60e6;
    const res = await env.get<CandlesBody>(
      `/v1/products/BTC-USD/candles?${q({ from: isoFromUs(from), to: isoFromUs(to), interval: '5m' })}`,
    );
    const want = naiveCandles(tradesOf('BTC-USD'), 300e6).filter(
      (c) => c.startUs + 300e6 > from && c.startUs < to,
    );
    expect(res.body.candles.map((c) => Date.parse(c.start) * 1000)).toEqual(
      want.map((c) => c.startUs),
    );
    const empty = await env.get<CandlesBody>(
      `/v1/products/SOL-USD/candles?${q({ from: isoFromUs(START_US), to: isoFromUs(endUs()), interval: '1h' })}`,
    );
    expect(empty.body.candles).toEqual([]);
  });
});

interface TradesBody {
  trades: { trade_id: string }[];
  gaps: { from: string; to: string }[];
  next_cursor: string | null;
}

async function allPages(path: string, params: Record<string, string>) {
  const ids: string[] = [];
  const gaps: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: { status: number; body: TradesBody } = await env.get<TradesBody>(
      `${path}?${q({ ...params, ...(cursor === null ? {} : { cursor }) })}`,
    );
    expect(res.status).toBe(200);
    ids.push(...res.body.trades.map((t) => t.trade_id));
    gaps.push(...res.body.gaps.map((g) => `${g.from}-${g.to}`));
    cursor = res.body.next_cursor;
    pages++;
  } while (cursor !== null);
  return { ids, gaps, pages };
}

const gapsOf = (p: string) =>
  msgsOf(p).flatMap(({ msg }) =>
    msg.type === 'status' && msg.event === 'gap'
      ? [{ from: BigInt(msg.from ?? ''), to: BigInt(msg.to ?? ''), timeUs: timeOf(msg) }]
      : [],
  );

describe('trades and gaps', () => {
  it('pages through a time range with the gaps the range overlaps, each once', async () => {
    const p = 'BTC-USD';
    const from = START_US + 15 * 60e6;
    const to = from + 40 * 60e6;
    const got = await allPages(`/v1/products/${p}/trades`, {
      from: isoFromUs(from),
      to: isoFromUs(to),
      limit: '53',
    });
    const want = tradesOf(p).filter((t) => t.timeUs >= from && t.timeUs < to);
    expect(want.length).toBeGreaterThan(100);
    expect(got.ids).toEqual(want.map((t) => t.tradeId));
    expect(got.pages).toBe(Math.ceil(want.length / 53));
    const lo = BigInt(want[0]?.tradeId ?? '0');
    const hi = BigInt(want.at(-1)?.tradeId ?? '0');
    const inside = gapsOf(p).filter((g) => g.to > lo - 2n && g.from < hi + 2n);
    expect(inside.length, 'the range holds gaps').toBeGreaterThan(0);
    expect(got.gaps).toEqual(inside.map((g) => `${String(g.from)}-${String(g.to)}`));
  });

  it('pages through an inclusive trade-id range (slow_client recovery) with its gaps', async () => {
    const p = 'ETH-USD';
    const ids = tradesOf(p)
      .map((t) => BigInt(t.tradeId))
      .sort((a, b) => (a < b ? -1 : 1));
    const fromId = String(ids[50]);
    const toId = String(ids[400]);
    const got = await allPages(`/v1/products/${p}/trades`, {
      from_id: fromId,
      to_id: toId,
      limit: '100',
    });
    expect(got.ids).toEqual(ids.slice(50, 401).map(String));
    expect(got.gaps).toEqual(
      gapsOf(p)
        .filter((g) => g.to >= BigInt(fromId) && g.from <= BigInt(toId))
        .map((g) => `${String(g.from)}-${String(g.to)}`),
    );
  });

  it('lists the gaps announced in a time range', async () => {
    for (const p of WITH_DATA) {
      const res = await env.get<{ gaps: { from: string; to: string; reason: string }[] }>(
        `/v1/products/${p}/gaps?${q({ from: isoFromUs(START_US), to: isoFromUs(endUs() + 1) })}`,
      );
      expect(res.status).toBe(200);
      // Oldest first by exchange time (the stream's times are a little out of order).
      const want = gapsOf(p).sort((a, b) => a.timeUs - b.timeUs || (a.from < b.from ? -1 : 1));
      expect(res.body.gaps.map((g) => `${g.from}-${g.to}`)).toEqual(
        want.map((g) => `${String(g.from)}-${String(g.to)}`),
      );
      expect(res.body.gaps.every((g) => g.reason === 'upstream_drop')).toBe(true);
    }
  });
});
