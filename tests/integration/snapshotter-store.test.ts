/**
 * The SQL side against a real PostgreSQL: migrations (idempotent, concurrent, checksummed,
 * roles and grants), a batch applied twice equals it applied once (property, few runs),
 * and the fold restored from `latest_state` equals the one that was committed.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { planBatch, type BatchPlan } from '../../services/snapshotter/core/batch.js';
import { STATE_COLUMNS } from '../../services/snapshotter/core/rows.js';
import type { ProductState } from '../../services/snapshotter/core/state.js';
import { isoFromUs } from '../../services/common/time.js';
import {
  MigrationError,
  MIGRATIONS,
  SCHEMA_VERSION,
  appliedVersion,
  applyMigrations,
} from '../../services/snapshotter/migrate-sql.js';
import { Store, connectPostgres, type Sql } from '../../services/snapshotter/store.js';
import { testDatabase } from '../harness/db.js';
import { dumpTables, migratedDatabase } from '../harness/snapshot-db.js';
import { cutsArb, intervalArb, splitAt, streamArb } from '../unit/snapshotter/arbitraries.js';

const log = createLogger('test', 'silent');
const ROOT = path.resolve(import.meta.dirname, '../..');
const opened: Sql[] = [];
afterAll(async () => {
  for (const sql of opened) await sql.end({ timeout: 1 });
});

function connect(url: string): Sql {
  const sql = connectPostgres(url, { max: 4 });
  opened.push(sql);
  return sql;
}

async function reset(sql: Sql): Promise<void> {
  await sql`truncate trades, gaps, snapshots, latest_state, candles_1m`;
  await sql`update consumer_checkpoints set last_seq = 0`;
}

describe('sql migrations', () => {
  it('run concurrently, apply each version once, and are idempotent', async () => {
    const sql = connect(await testDatabase());
    const runs = await Promise.all([1, 2, 3].map(() => applyMigrations(sql, log)));
    expect(runs.flatMap((r) => r.applied)).toEqual(MIGRATIONS.map((m) => m.version));
    expect((await applyMigrations(sql, log)).applied).toEqual([]);
    expect(await appliedVersion(sql)).toBe(SCHEMA_VERSION);
    const [n] = await sql<{ n: number }[]>`select count(*)::int as n from schema_migrations`;
    expect(n?.n).toBe(SCHEMA_VERSION);
  });

  it('refuse an applied migration whose text changed', async () => {
    const sql = connect(await testDatabase());
    await applyMigrations(sql, log);
    await sql`update schema_migrations set checksum = 'x' where version = 1`;
    await expect(applyMigrations(sql, log)).rejects.toBeInstanceOf(MigrationError);
  });

  it('`ledgerflux migrate --sql-only` applies the schema from the command line', async () => {
    const url = await testDatabase();
    await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', path.join(ROOT, 'services/cli.ts'), 'migrate', '--sql-only'],
      { cwd: ROOT, env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'silent' } },
    );
    expect(await appliedVersion(connect(url))).toBe(SCHEMA_VERSION);
  });

  it('create NOLOGIN roles: the writer writes, the reader only reads', async () => {
    const url = await testDatabase();
    const sql = connect(url);
    await applyMigrations(sql, log);
    const roles = await sql<{ rolname: string; rolcanlogin: boolean }[]>`
      select rolname, rolcanlogin from pg_roles
      where rolname in ('ledgerflux_writer', 'ledgerflux_reader') order by rolname`;
    expect([...roles]).toEqual([
      { rolname: 'ledgerflux_reader', rolcanlogin: false },
      { rolname: 'ledgerflux_writer', rolcanlogin: false },
    ]);
    const insert = (role: string) =>
      sql.begin(async (tx) => {
        await tx.unsafe(`set local role ${role}`);
        await tx`insert into consumer_checkpoints (consumer, stream) values (${role}, 'MD_NORM')`;
        await tx`select count(*) from trades`;
      });
    await insert('ledgerflux_writer');
    await expect(insert('ledgerflux_reader')).rejects.toThrow(/permission denied/);
    await sql.begin(async (tx) => {
      await tx.unsafe('set local role ledgerflux_reader');
      await tx`select * from snapshots, latest_state, candles_1m, gaps limit 1`;
    });
  });

  it('declare the state columns exactly as core/rows.ts writes them', async () => {
    const sql = await migratedDatabase(await testDatabase());
    opened.push(sql);
    for (const table of ['snapshots', 'latest_state']) {
      const cols = await sql<{ column_name: string; udt_name: string }[]>`
        select column_name, udt_name from information_schema.columns
        where table_name = ${table} order by ordinal_position`;
      const byName = new Map(cols.map((c) => [c.column_name, c.udt_name]));
      for (const c of STATE_COLUMNS) {
        const udt = { 'numeric[]': '_numeric', 'text[]': '_text', bigint: 'int8', boolean: 'bool' }[
          c.type as string
        ];
        expect(byName.get(c.name), `${table}.${c.name}`).toBe(udt ?? c.type);
      }
    }
  });
});

describe('batch commits', () => {
  it('a batch applied twice equals it applied once; restoring gives back the fold (property)', async () => {
    const url = await testDatabase();
    const sql = await migratedDatabase(url);
    opened.push(sql);
    const store = new Store(sql, 'snapshotter', 'MD_NORM');
    await store.openCheckpoint();
    await fc.assert(
      fc.asyncProperty(streamArb, cutsArb, intervalArb, async (xs, cuts, intervalUs) => {
        await reset(sql);
        let states: ReadonlyMap<string, ProductState> = new Map();
        let after = 0;
        const plans: { plan: BatchPlan; expected: number }[] = [];
        for (const batch of splitAt(xs, cuts)) {
          const plan = planBatch(states, batch, { intervalUs, after });
          await store.commit(plan, after, intervalUs);
          plans.push({ plan, expected: after });
          states = plan.states;
          after = plan.lastOffset;
        }
        const once = await dumpTables(sql);
        expect(await store.loadStates()).toEqual(states);
        // Redelivered batches plan nothing past the checkpoint; a retried last commit whose
        // answer was lost finds the checkpoint already moved by itself: success, no rows.
        for (const batch of splitAt(xs, cuts)) {
          const again = planBatch(states, batch, { intervalUs, after });
          expect(again.lastOffset).toBe(after);
          await store.commit(again, after, intervalUs);
        }
        const last = plans.at(-1);
        if (last !== undefined) {
          const counts = await store.commit(last.plan, last.expected, intervalUs);
          expect(Object.values(counts).every((n) => n === 0)).toBe(true);
        }
        expect(await dumpTables(sql)).toEqual(once);
        // And without it (checkpoint rewound): every statement is idempotent on its own.
        for (const { plan, expected } of plans) {
          await sql`update consumer_checkpoints set last_seq = ${expected}`;
          await store.commit(plan, expected, intervalUs);
        }
        expect(await dumpTables(sql)).toEqual(once);
      }),
      { numRuns: 30 },
    );
  });

  it('stores any string exactly: quotes, backslashes, braces, commas, NULL, empty, unicode', async () => {
    const sql = await migratedDatabase(await testDatabase());
    opened.push(sql);
    const store = new Store(sql, 'snapshotter', 'MD_NORM');
    await store.openCheckpoint();
    const nasty = ['a "b" \\c, {d}', 'NULL', '', 'é ✓ \t', '\\', '"', '{}', ' lead'];
    const common = {
      v: 1 as const,
      venue: 'coinbase' as const,
      product: 'BTC-USD',
      recv_us: 1_704_067_200_000_000,
      flags: [],
    };
    const xs = nasty.flatMap((text, i) => [
      {
        offset: 2 * i + 1,
        msg: {
          ...common,
          seq: i + 1,
          time: text,
          type: 'trade' as const,
          trade_id: String(100 + i),
          price: '1.5',
          size: '2',
          side: 'buy' as const,
        },
      },
      {
        offset: 2 * i + 2,
        msg: {
          ...common,
          seq: i + 1,
          time: text,
          type: 'status' as const,
          event: 'gap' as const,
          reason: text,
          from: String(500 + i),
          to: String(500 + i),
        },
      },
    ]);
    const plan = planBatch(new Map(), xs, { intervalUs: 1_000_000, after: 0 });
    await store.commit(plan, 0, 1_000_000);
    const trades = await sql<{ time_raw: string }[]>`select time_raw from trades order by trade_id`;
    expect(trades.map((t) => t.time_raw)).toEqual(nasty);
    const gaps = await sql<
      { reason: string; time_raw: string }[]
    >`select reason, time_raw from gaps order by from_id`;
    expect(gaps.map((g) => g.reason)).toEqual(nasty);
    expect(await store.loadStates()).toEqual(plan.states);
  });

  it('retention removes old trades, gaps and snapshots in bounded batches, keeps the rest', async () => {
    const sql = await migratedDatabase(await testDatabase());
    opened.push(sql);
    const store = new Store(sql, 'snapshotter', 'MD_NORM');
    await store.openCheckpoint();
    const day = 86_400_000_000;
    const now = Date.now() * 1000;
    const common = { v: 1 as const, venue: 'coinbase' as const, product: 'BTC-USD', flags: [] };
    // 40 days ago (past both ages), 10 days ago (past the snapshot age only), an hour ago.
    const xs = [40, 10, 0.04].flatMap((ago, k) =>
      Array.from({ length: 10 }, (_, i) => {
        const us = Math.round(now - ago * day) + i * 2_000_000;
        const time = isoFromUs(us);
        const n = k * 10 + i;
        return i === 9
          ? {
              offset: n + 1,
              msg: {
                ...common,
                seq: n + 1,
                time,
                recv_us: us,
                type: 'status' as const,
                event: 'gap' as const,
                reason: 'x',
                from: String(1000 + n),
                to: String(1000 + n),
              },
            }
          : {
              offset: n + 1,
              msg: {
                ...common,
                seq: n + 1,
                time,
                recv_us: us,
                type: 'trade' as const,
                trade_id: String(n),
                price: '1',
                size: '1',
                side: 'buy' as const,
              },
            };
      }),
    );
    await store.commit(planBatch(new Map(), xs, { intervalUs: 1_000_000, after: 0 }), 0, 1_000_000);
    const count = async () =>
      (
        await sql<{ t: number; g: number; s: number }[]>`
        select (select count(*) from trades)::int as t, (select count(*) from gaps)::int as g,
          (select count(*) from snapshots)::int as s`
      )[0];
    const before = await count();
    const opts = { tradesDays: 30, snapshotsDays: 7, batch: 4, maxStatements: 2 };
    // Bounded: two statements of at most four rows.
    expect((await store.retention(opts)).trades).toBe(8);
    for (let i = 0; i < 5; i++) await store.retention(opts);
    const after = await count();
    expect(after?.t).toBe((before?.t ?? 0) - 9);
    expect(after?.g).toBe((before?.g ?? 0) - 1);
    const [oldest] = await sql<{ b: Date }[]>`select min(boundary) as b from snapshots`;
    expect(Date.now() - (oldest?.b.getTime() ?? 0)).toBeLessThan(7 * 86_400_000);
    expect(after?.s).toBeGreaterThan(0);
  });

  it('refuses a checkpoint that moved under it (a second writer)', async () => {
    const sql = await migratedDatabase(await testDatabase());
    opened.push(sql);
    const store = new Store(sql, 'snapshotter', 'MD_NORM');
    await store.openCheckpoint();
    await sql`update consumer_checkpoints set last_seq = 10`;
    const plan = planBatch(new Map(), [{ offset: 11, msg: undefined }], {
      intervalUs: 1,
      after: 0,
    });
    await expect(store.commit(plan, 0, 1)).rejects.toMatchObject({ code: 'CHECKPOINT_CONFLICT' });
  });
});
