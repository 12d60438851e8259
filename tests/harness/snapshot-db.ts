import type { Sql } from 'postgres';
import { createLogger } from '../../services/common/logger.js';
import { applyMigrations } from '../../services/snapshotter/migrate-sql.js';
import { connectPostgres } from '../../services/snapshotter/store.js';
import { waitFor } from './wait.js';

/**
 * PostgreSQL helpers for snapshotter tests: a migrated database, the checkpoint, and
 * table dumps (every value as text, times as µs) to compare runs.
 */

export async function migratedDatabase(url: string): Promise<Sql> {
  const sql = connectPostgres(url, { max: 4, applicationName: 'test' });
  await applyMigrations(sql, createLogger('test', 'silent'));
  return sql;
}

export async function checkpointOf(sql: Sql, consumer = 'snapshotter'): Promise<number> {
  const [r] = await sql<{ s: string }[]>`
    select last_seq::text as s from consumer_checkpoints where consumer = ${consumer}`;
  return r === undefined ? 0 : Number(r.s);
}

/** Waits until the checkpoint reaches `seq` (retrying through outages). */
export async function waitForCheckpoint(sql: Sql, seq: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(`checkpoint ${String(seq)}`, async () => (await checkpointOf(sql)) >= seq, {
    timeoutMs,
    intervalMs: 50,
  });
}

const ORDER: Record<string, string> = {
  trades: 'venue, product, trade_id',
  gaps: 'venue, product, from_id, to_id',
  snapshots: 'venue, product, boundary',
  latest_state: 'venue, product',
  candles_1m: 'venue, product, minute',
};

export type Dump = Record<string, Record<string, string | null>[]>;

/** Every row of the snapshotter's tables as text (timestamps as µs), in key order. */
export async function dumpTables(
  sql: Sql,
  except: readonly string[] = ['updated_at'],
): Promise<Dump> {
  const out: Dump = {};
  for (const [table, order] of Object.entries(ORDER)) {
    const cols = await sql<{ column_name: string; data_type: string }[]>`
      select column_name, data_type from information_schema.columns
      where table_name = ${table} and table_schema = 'public' order by ordinal_position`;
    const list = cols
      .filter((c) => !except.includes(c.column_name))
      .map((c) =>
        c.data_type.startsWith('timestamp')
          ? `(extract(epoch from ${c.column_name}) * 1000000)::bigint::text as ${c.column_name}`
          : `${c.column_name}::text as ${c.column_name}`,
      )
      .join(', ');
    out[table] = await sql.unsafe<Record<string, string | null>[]>(
      `select ${list} from ${table} order by ${order}`,
    );
  }
  return out;
}
