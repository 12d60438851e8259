/**
 * For integration tests: the snapshotter's tables must equal the naive models computed
 * from the messages that went into MD_NORM (with their stream sequences as offsets).
 */
import type { Sql } from 'postgres';
import { expect } from 'vitest';
import { sameCandle, type Candle } from '../../../services/snapshotter/core/candles.js';
import { stateFromRow } from '../../../services/snapshotter/core/rows.js';
import { nextBoundaryUs } from '../../../services/snapshotter/core/state.js';
import { STATE_SELECT } from '../../../services/snapshotter/store.js';
import { checkpointOf } from '../../harness/snapshot-db.js';
import {
  candleTrades,
  naiveBoundaries,
  naiveCandles,
  naiveState,
  naiveStateAt,
  timeOf,
  uniqueTrades,
  type Offsetted,
} from './model.js';

const us = (col: string) => `(extract(epoch from ${col}) * 1000000)::bigint::text`;

export async function expectDatabaseMatches(
  sql: Sql,
  published: readonly Offsetted[],
  intervalUs: number,
): Promise<void> {
  // The snapshotter folds in stream order; so does the model.
  const xs = [...published].sort((a, b) => a.offset - b.offset);
  const products = [...new Set(xs.map((x) => x.msg.product))].sort();
  expect(await checkpointOf(sql)).toBe(xs.at(-1)?.offset ?? 0);

  // Trades: each once, first occurrence, exact strings and µs.
  const firstOffset = new Map<string, number>();
  for (const x of xs)
    if (x.msg.type === 'trade') {
      const k = `${x.msg.product}:${x.msg.trade_id}`;
      if (!firstOffset.has(k)) firstOffset.set(k, x.offset);
    }
  const trades = uniqueTrades(xs.map((x) => x.msg));
  const rows = await sql.unsafe<Record<string, string>[]>(
    `select product, trade_id::text, ${us('time')} as us, time_raw, price::text, size::text, side,
       norm_offset::text as o from trades order by product, trade_id`,
  );
  const expected = [...trades]
    .sort((a, b) =>
      a.product !== b.product
        ? a.product < b.product
          ? -1
          : 1
        : Number(BigInt(a.trade_id) - BigInt(b.trade_id)),
    )
    .map((t) => ({
      product: t.product,
      trade_id: t.trade_id,
      us: String(timeOf(t)),
      time_raw: t.time,
      price: t.price,
      size: t.size,
      side: t.side,
      o: String(firstOffset.get(`${t.product}:${t.trade_id}`)),
    }));
  expect(rows.length, 'trade rows').toBe(expected.length);
  expect([...rows]).toEqual(expected);

  for (const p of products) {
    // 1-minute candles: a naive aggregation of the same trades.
    const cs = await sql.unsafe<Record<string, string>[]>(
      `select ${us('minute')} as m, open::text, high::text, low::text, close::text,
         volume::text, trade_count::text from candles_1m where product = $1 order by minute`,
      [p],
    );
    const got: Candle[] = cs.map((c) => ({
      startUs: Number(c.m),
      open: c.open ?? '',
      high: c.high ?? '',
      low: c.low ?? '',
      close: c.close ?? '',
      volume: c.volume ?? '',
      count: Number(c.trade_count),
      first: { timeUs: 0, tradeId: '0' },
      last: { timeUs: 0, tradeId: '0' },
    }));
    const want = naiveCandles(candleTrades(trades.filter((t) => t.product === p)), 60_000_000);
    expect(got.length, `${p} candles`).toBe(want.length);
    got.forEach((c, i) => {
      expect(sameCandle(c, want[i] as Candle), `${p} candle ${JSON.stringify(c)}`).toBe(true);
    });

    // Snapshots: the naive boundaries, each the state before the crossing message.
    const snaps = await sql.unsafe<Record<string, string | null>[]>(
      `select ${us('boundary')} as b, ${STATE_SELECT} from snapshots where product = $1 order by boundary`,
      [p],
    );
    expect(
      snaps.map((s) => Number(s.b)),
      `${p} snapshot boundaries`,
    ).toEqual(naiveBoundaries(xs, p, intervalUs));
    for (const s of snaps) {
      expect(stateFromRow('coinbase', p, s), `${p} snapshot at ${String(s.b)}`).toEqual(
        naiveStateAt(xs, p, Number(s.b), intervalUs),
      );
    }

    // Latest state: everything, keyed at its next boundary.
    const [latest] = await sql.unsafe<Record<string, string | null>[]>(
      `select ${us('next_boundary')} as nb, ${STATE_SELECT} from latest_state where product = $1`,
      [p],
    );
    const model = naiveState(xs.filter((x) => x.msg.product === p));
    expect(latest === undefined ? undefined : stateFromRow('coinbase', p, latest)).toEqual(model);
    if (latest !== undefined && model !== undefined)
      expect(Number(latest.nb)).toBe(nextBoundaryUs(model, intervalUs));
  }

  // Gaps: each announced range once.
  const gaps = await sql<{ product: string; f: string; t: string }[]>`
    select product, from_id::text as f, to_id::text as t from gaps order by product, from_id`;
  const wantGaps = new Map<string, { product: string; f: string; t: string }>();
  for (const x of xs) {
    const m = x.msg;
    if (m.type === 'status' && m.event === 'gap' && m.from !== undefined && m.to !== undefined)
      wantGaps.set(`${m.product}:${m.from}:${m.to}`, { product: m.product, f: m.from, t: m.to });
  }
  expect([...gaps]).toEqual(
    [...wantGaps.values()].sort((a, b) =>
      a.product !== b.product
        ? a.product < b.product
          ? -1
          : 1
        : Number(BigInt(a.f) - BigInt(b.f)),
    ),
  );
}
