import type { Sql } from 'postgres';
import { CANDLE_INTERVALS, type CandleInterval } from './core/candles.js';
import {
  QueryError,
  decodeCursor,
  encodeCursor,
  limitArg,
  timeArgUs,
  timeRange,
  tradeIdArg,
  type Cursor,
  type TimeArg,
} from './core/paging.js';
import { stateFromRow } from './core/rows.js';
import type {
  CandleOut,
  GapOut,
  StateAt,
  Stats24h,
  TradeOut,
  TradePage,
  TradeRange,
} from './query-types.js';
import type { Stamp } from './core/state.js';
import { isoFromUs } from '../common/time.js';
import { STATE_SELECT } from './store.js';

/**
 * The read side the gateway's REST calls (read-only SQL; any role with SELECT, e.g.
 * ledgerflux_reader). Decimals are strings, trade ids decimal strings, offsets MD_NORM
 * stream sequences, `time` the exchange's string as received, other times RFC 3339 µs UTC.
 */

export { QueryError, type QueryErrorCode, type TimeArg } from './core/paging.js';
export type { CandleInterval } from './core/candles.js';
export type {
  BookAt,
  CandleOut,
  GapOut,
  StateAt,
  Stats24h,
  TickerAt,
  TradeOut,
  TradePage,
  TradeRange,
} from './query-types.js';

const EPOCH = "timestamptz '1970-01-01 00:00:00+00'";
const INTERVAL_SQL: Record<CandleInterval, string> = {
  '1m': '1 minute',
  '5m': '5 minutes',
  '15m': '15 minutes',
  '1h': '1 hour',
  '1d': '1 day',
};

interface TradeRowText {
  trade_id: string;
  price: string;
  size: string;
  side: string;
  time_raw: string;
  norm_offset: string;
  seq: string;
}

function tradeOut(r: TradeRowText): TradeOut {
  return {
    trade_id: r.trade_id,
    price: r.price,
    size: r.size,
    side: r.side === 'sell' ? 'sell' : 'buy',
    time: r.time_raw,
    offset: Number(r.norm_offset),
    seq: Number(r.seq),
  };
}

function stamped(s: Stamp): { time: string; as_of: string; offset: number; seq: number } {
  return { time: s.time, as_of: isoFromUs(s.timeUs), offset: s.offset, seq: s.seq };
}

export class SnapshotQueries {
  private readonly venue: string;

  constructor(
    private readonly sql: Sql,
    opts: { venue?: string } = {},
  ) {
    this.venue = opts.venue ?? 'coinbase';
  }

  /** The product's state at T: snapshot book and ticker, last trade and 24h stats up to T. */
  async stateAt(product: string, at: TimeArg): Promise<StateAt> {
    const t = isoFromUs(timeArgUs(at, 'at'));
    const { sql, venue } = this;
    const cols = sql.unsafe(STATE_SELECT);
    const [snap, last, stats] = await Promise.all([
      sql<Record<string, string | null>[]>`
        select (extract(epoch from k) * 1000000)::bigint::text as key, * from (
          select next_boundary as k, ${cols} from latest_state
          where venue = ${venue} and product = ${product} and next_boundary <= ${t}::text::timestamptz
          union all
          (select boundary, ${cols} from snapshots
           where venue = ${venue} and product = ${product} and boundary <= ${t}::text::timestamptz
           order by boundary desc limit 1)
        ) s order by k desc limit 1`,
      sql<TradeRowText[]>`
        select trade_id::text, price::text, size::text, side, time_raw,
          norm_offset::text, seq::text
        from trades
        where venue = ${venue} and product = ${product} and time <= ${t}::text::timestamptz
        order by time desc, trade_id desc limit 1`,
      this.stats24h(product, t),
    ]);
    const row = snap[0];
    const state = row === undefined ? undefined : stateFromRow(venue, product, row);
    const tk = state?.ticker;
    const bk = state?.book;
    return {
      venue,
      product,
      at: t,
      as_of: row?.key == null ? null : isoFromUs(Number(row.key)),
      offset: state?.offset ?? null,
      ticker:
        tk === undefined
          ? null
          : {
              price: tk.price,
              best_bid: tk.best_bid,
              best_ask: tk.best_ask,
              best_bid_size: tk.best_bid_size ?? null,
              best_ask_size: tk.best_ask_size ?? null,
              open_24h: tk.open_24h ?? null,
              high_24h: tk.high_24h ?? null,
              low_24h: tk.low_24h ?? null,
              volume_24h: tk.volume_24h ?? null,
              change_24h_pct: tk.change_24h_pct ?? null,
              trade_id: tk.trade_id ?? null,
              ...stamped(tk),
            },
      book:
        bk === undefined ? null : { bids: bk.bids, asks: bk.asks, valid: bk.valid, ...stamped(bk) },
      last_trade: last[0] === undefined ? null : tradeOut(last[0]),
      stats_24h: stats,
    };
  }

  /**
   * Trades in (T − 24 h, T]: whole minutes from candles_1m, the partial minutes at both
   * ends from trades (two short index ranges). Null when there were none.
   */
  private async stats24h(product: string, t: string): Promise<Stats24h | null> {
    const { sql, venue } = this;
    const [r] = await sql<Record<string, string | null>[]>`
      with b as (
        select ${t}::text::timestamptz as t, ${t}::text::timestamptz - interval '24 hours' as f
      ), m as (
        select date_bin('1 minute', f, ${sql.unsafe(EPOCH)}) + interval '1 minute' as lo,
          date_bin('1 minute', t + interval '1 microsecond', ${sql.unsafe(EPOCH)}) as hi,
          f, t from b
      ), parts as (
        select c.open, c.high, c.low, c.close, c.volume, c.trade_count,
          c.open_time, c.open_trade_id, c.close_time, c.close_trade_id
        from candles_1m c, m
        where c.venue = ${venue} and c.product = ${product} and c.minute >= m.lo and c.minute < m.hi
        union all
        select x.price, x.price, x.price, x.price, x.size, 1, x.time, x.trade_id, x.time, x.trade_id
        from trades x, m
        where x.venue = ${venue} and x.product = ${product} and x.time > m.f and x.time < m.lo
        union all
        select x.price, x.price, x.price, x.price, x.size, 1, x.time, x.trade_id, x.time, x.trade_id
        from trades x, m
        where x.venue = ${venue} and x.product = ${product} and x.time >= m.hi and x.time <= m.t
      )
      select (array_agg(open order by open_time, open_trade_id))[1]::text as open,
        max(high)::text as high, min(low)::text as low,
        (array_agg(close order by close_time desc, close_trade_id desc))[1]::text as last,
        sum(volume)::text as volume, sum(trade_count)::text as trade_count
      from parts`;
    if (r?.trade_count == null) return null;
    const toUs = timeArgUs(t, 'at');
    return {
      from: isoFromUs(toUs - 86_400_000_000),
      to: t,
      open: r.open ?? '',
      high: r.high ?? '',
      low: r.low ?? '',
      last: r.last ?? '',
      volume: r.volume ?? '',
      trade_count: Number(r.trade_count),
    };
  }

  /** Whole candles of `interval` whose bucket starts in [from aligned down, to), oldest first. */
  async candles(
    product: string,
    interval: CandleInterval,
    from: TimeArg,
    to: TimeArg,
    opts: { limit?: number } = {},
  ): Promise<CandleOut[]> {
    if (!(interval in CANDLE_INTERVALS)) {
      throw new QueryError(
        'BAD_INTERVAL',
        `interval must be one of ${Object.keys(CANDLE_INTERVALS).join(', ')}`,
      );
    }
    const range = timeRange(from, to);
    const limit = limitArg(opts.limit);
    const { sql, venue } = this;
    const iv = INTERVAL_SQL[interval];
    const epoch = sql.unsafe(EPOCH);
    const rows = await sql<Record<string, string>[]>`
      select (extract(epoch from b) * 1000000)::bigint::text as start,
        (array_agg(open order by open_time, open_trade_id))[1]::text as open,
        max(high)::text as high, min(low)::text as low,
        (array_agg(close order by close_time desc, close_trade_id desc))[1]::text as close,
        sum(volume)::text as volume, sum(trade_count)::text as trade_count
      from (
        select date_bin(${iv}::interval, minute, ${epoch}) as b, * from candles_1m
        where venue = ${venue} and product = ${product}
          and minute >= date_bin(${iv}::interval, ${range.from}::text::timestamptz, ${epoch})
          and minute < date_bin(${iv}::interval,
            ${range.to}::text::timestamptz - interval '1 microsecond', ${epoch}) + ${iv}::interval
      ) x
      group by b order by b limit ${limit}`;
    return rows.map((r) => ({
      start: new Date(Number(r.start) / 1000).toISOString(),
      open: r.open ?? '',
      high: r.high ?? '',
      low: r.low ?? '',
      close: r.close ?? '',
      volume: r.volume ?? '',
      trade_count: Number(r.trade_count),
    }));
  }

  /**
   * Trades in a time range [from, to) ordered by (time, trade id), or in an inclusive id
   * range ordered by id; keyset paging with an opaque cursor; plus the gaps overlapping
   * each page (each gap on exactly one page).
   */
  async trades(
    product: string,
    range: TradeRange,
    opts: { limit?: number; cursor?: string } = {},
  ): Promise<TradePage> {
    const limit = limitArg(opts.limit);
    const { sql, venue } = this;
    const cols = sql`trade_id::text, price::text, size::text, side, time_raw, norm_offset::text,
      seq::text, to_char(time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as time_iso`;
    let rows: (TradeRowText & { time_iso: string })[];
    let lower: string | null;
    let upperWhenLast: () => Promise<string | null>;
    if ('fromId' in range) {
      const fromId = tradeIdArg(range.fromId, 'fromId');
      const toId = tradeIdArg(range.toId, 'toId');
      if (BigInt(fromId) > BigInt(toId)) throw new QueryError('BAD_RANGE', 'fromId > toId');
      const c = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor, 'i');
      const after = c?.id ?? String(BigInt(fromId) - 1n);
      rows = await sql`
        select ${cols} from trades
        where venue = ${venue} and product = ${product}
          and trade_id > ${after}::numeric and trade_id <= ${toId}::numeric
        order by trade_id limit ${limit + 1}`;
      lower = after;
      upperWhenLast = () => Promise.resolve(String(BigInt(toId) + 1n));
    } else {
      const { from, to } = timeRange(range.from, range.to);
      const c = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor, 't');
      const after =
        c?.kind === 't'
          ? sql`and (time, trade_id) > (${c.time}::text::timestamptz, ${c.id}::numeric)`
          : sql``;
      rows = await sql`
        select ${cols} from trades
        where venue = ${venue} and product = ${product}
          and time >= ${from}::text::timestamptz and time < ${to}::text::timestamptz ${after}
        order by time, trade_id limit ${limit + 1}`;
      lower =
        c?.id ??
        (
          await sql<{ id: string }[]>`
            select trade_id::text as id from trades
            where venue = ${venue} and product = ${product} and time < ${from}::text::timestamptz
            order by time desc, trade_id desc limit 1`
        )[0]?.id ??
        null;
      upperWhenLast = async () =>
        (
          await sql<{ id: string }[]>`
            select trade_id::text as id from trades
            where venue = ${venue} and product = ${product} and time >= ${to}::text::timestamptz
            order by time, trade_id limit 1`
        )[0]?.id ?? null;
    }
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    const lastRow = page.at(-1);
    let next: Cursor | undefined;
    if (more && lastRow !== undefined) {
      next =
        'fromId' in range
          ? { kind: 'i', id: lastRow.trade_id }
          : { kind: 't', time: lastRow.time_iso, id: lastRow.trade_id };
    }
    const upper = more && lastRow !== undefined ? lastRow.trade_id : await upperWhenLast();
    const gaps = await sql<Record<string, string>[]>`
      select from_id::text, to_id::text, time_raw, reason, norm_offset::text from gaps
      where venue = ${venue} and product = ${product}
        and (${lower}::numeric is null or to_id > ${lower}::numeric)
        and (${upper}::numeric is null or from_id < ${upper}::numeric)
      order by from_id limit ${limit}`;
    return {
      trades: page.map(tradeOut),
      gaps: gaps.map(gapOut),
      next_cursor: next === undefined ? null : encodeCursor(next),
    };
  }

  /** Gaps announced in [from, to), oldest first. */
  async gaps(
    product: string,
    from: TimeArg,
    to: TimeArg,
    opts: { limit?: number } = {},
  ): Promise<GapOut[]> {
    const range = timeRange(from, to);
    const limit = limitArg(opts.limit);
    const rows = await this.sql<Record<string, string>[]>`
      select from_id::text, to_id::text, time_raw, reason, norm_offset::text from gaps
      where venue = ${this.venue} and product = ${product}
        and time >= ${range.from}::text::timestamptz and time < ${range.to}::text::timestamptz
      order by time, from_id limit ${limit}`;
    return rows.map(gapOut);
  }
}

function gapOut(r: Record<string, string>): GapOut {
  return {
    from: r.from_id ?? '',
    to: r.to_id ?? '',
    time: r.time_raw ?? '',
    reason: r.reason ?? '',
    offset: Number(r.norm_offset),
  };
}
