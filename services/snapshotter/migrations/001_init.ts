/**
 * Migration 001: the snapshotter's tables, indexes and roles. A TS module exporting SQL
 * (tsc copies no .sql files, so this works the same from the sources, dist/ and images).
 * Never edit an applied migration: the runner checks its checksum; add 002_… instead.
 *
 * Prices and sizes are NUMERIC (never a float); times are `timestamptz` (µs) beside the
 * exchange's original string (`*_time_raw`); `norm_offset` is the MD_NORM stream sequence.
 */
const STATE_COLUMNS = `
  norm_offset bigint NOT NULL,
  max_time timestamptz NOT NULL,
  ticker_price numeric,
  ticker_best_bid numeric,
  ticker_best_ask numeric,
  ticker_best_bid_size numeric,
  ticker_best_ask_size numeric,
  ticker_open_24h numeric,
  ticker_high_24h numeric,
  ticker_low_24h numeric,
  ticker_volume_24h numeric,
  ticker_change_24h_pct numeric,
  ticker_trade_id numeric(30, 0),
  ticker_sequence numeric(30, 0),
  ticker_time timestamptz,
  ticker_time_raw text,
  ticker_offset bigint,
  ticker_seq bigint,
  book_bid_px numeric[],
  book_bid_sz numeric[],
  book_ask_px numeric[],
  book_ask_sz numeric[],
  book_valid boolean,
  book_time timestamptz,
  book_time_raw text,
  book_offset bigint,
  book_seq bigint,
  trade_id numeric(30, 0),
  trade_price numeric,
  trade_size numeric,
  trade_side text,
  trade_time timestamptz,
  trade_time_raw text,
  trade_offset bigint,
  trade_seq bigint,
  status_event text,
  status_reason text,
  status_time timestamptz,
  status_time_raw text,
  status_offset bigint,
  status_seq bigint`;

const TABLES = 'trades, gaps, snapshots, latest_state, candles_1m, consumer_checkpoints';

export const sql = `
CREATE TABLE IF NOT EXISTS trades (
  venue text NOT NULL,
  product text NOT NULL,
  trade_id numeric(30, 0) NOT NULL,
  time timestamptz NOT NULL,
  time_raw text NOT NULL,
  price numeric NOT NULL,
  size numeric NOT NULL,
  side text NOT NULL CHECK (side IN ('buy', 'sell')),
  seq bigint NOT NULL,
  norm_offset bigint NOT NULL,
  recv_us bigint NOT NULL,
  flags text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (venue, product, trade_id)
);
-- Time ranges, keyset paging by (time, trade_id), "last trade at or before T", retention.
CREATE INDEX IF NOT EXISTS trades_time_idx ON trades (venue, product, time, trade_id);

CREATE TABLE IF NOT EXISTS gaps (
  venue text NOT NULL,
  product text NOT NULL,
  from_id numeric(30, 0) NOT NULL,
  to_id numeric(30, 0) NOT NULL,
  time timestamptz NOT NULL,
  time_raw text NOT NULL,
  reason text NOT NULL,
  norm_offset bigint NOT NULL,
  PRIMARY KEY (venue, product, from_id, to_id)
);
CREATE INDEX IF NOT EXISTS gaps_time_idx ON gaps (venue, product, time);

-- Point-in-time state: the fold of the messages before the first one whose exchange time
-- is at or after \`boundary\`. "Latest at or before T" is the primary key, backwards.
CREATE TABLE IF NOT EXISTS snapshots (
  venue text NOT NULL,
  product text NOT NULL,
  boundary timestamptz NOT NULL,${STATE_COLUMNS},
  PRIMARY KEY (venue, product, boundary)
);

-- The current state per product (moves forward by norm_offset only): the snapshot-to-be
-- at next_boundary, and what a restarted snapshotter folds on from.
CREATE TABLE IF NOT EXISTS latest_state (
  venue text NOT NULL,
  product text NOT NULL,
  next_boundary timestamptz NOT NULL,${STATE_COLUMNS},
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (venue, product)
);

-- 1-minute OHLCV from trades, updated in the trades' transaction for newly inserted rows
-- only. open/close are the first/last trade by (time, trade_id), kept so that merging is
-- order-independent.
CREATE TABLE IF NOT EXISTS candles_1m (
  venue text NOT NULL,
  product text NOT NULL,
  minute timestamptz NOT NULL,
  open numeric NOT NULL,
  high numeric NOT NULL,
  low numeric NOT NULL,
  close numeric NOT NULL,
  volume numeric NOT NULL,
  trade_count bigint NOT NULL,
  open_time timestamptz NOT NULL,
  open_trade_id numeric(30, 0) NOT NULL,
  close_time timestamptz NOT NULL,
  close_trade_id numeric(30, 0) NOT NULL,
  PRIMARY KEY (venue, product, minute)
);

-- The last MD_NORM stream sequence applied, committed with the rows it produced.
CREATE TABLE IF NOT EXISTS consumer_checkpoints (
  consumer text PRIMARY KEY,
  stream text NOT NULL,
  last_seq bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Roles are cluster-wide: several databases may migrate at once (hence the handler), and
-- a migrating user without CREATEROLE gets a warning instead of a failed migration.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['ledgerflux_writer', 'ledgerflux_reader'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN
          NULL;
        WHEN insufficient_privilege THEN
          RAISE WARNING 'cannot create role % (needs CREATEROLE); its grants are skipped', r;
      END;
    END IF;
  END LOOP;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledgerflux_writer') THEN
    GRANT USAGE ON SCHEMA public TO ledgerflux_writer;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ${TABLES} TO ledgerflux_writer;
    GRANT SELECT ON schema_migrations TO ledgerflux_writer;
  END IF;
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ledgerflux_reader') THEN
    GRANT USAGE ON SCHEMA public TO ledgerflux_reader;
    GRANT SELECT ON ${TABLES} TO ledgerflux_reader;
    GRANT SELECT ON schema_migrations TO ledgerflux_reader;
  END IF;
END
$$;
`;
