import { createHash } from 'node:crypto';
import type { Sql } from 'postgres';
import type { Logger } from '../common/logger.js';
import { sql as m001 } from './migrations/001_init.js';
import { sql as m002 } from './migrations/002_least_privilege.js';

/**
 * Numbered SQL migrations (migrations/NNN_name.ts, each exporting its SQL as `sql`),
 * applied in order by `ledgerflux migrate` under a session advisory lock, each in its own
 * transaction with its row in `schema_migrations`. Idempotent: applied versions are
 * skipped, and one whose text changed since it was applied is refused (checksum).
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** In order; tests check this list against the files in migrations/. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'init', sql: m001 },
  { version: 2, name: 'least_privilege', sql: m002 },
];

export const SCHEMA_VERSION = MIGRATIONS.reduce((v, m) => Math.max(v, m.version), 0);

/** "LFMG": one key for every runner, in every database. */
const LOCK_KEY = 0x4c464d47;

export class MigrationError extends Error {
  readonly code = 'MIGRATION_CHECKSUM';

  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export function checksum(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export async function applyMigrations(
  sql: Sql,
  log: Logger,
): Promise<{ applied: number[]; version: number }> {
  const conn = await sql.reserve();
  try {
    await conn`select pg_advisory_lock(${LOCK_KEY})`;
    try {
      await conn`
        create table if not exists schema_migrations (
          version integer primary key,
          name text not null,
          checksum text not null,
          applied_at timestamptz not null default now()
        )`;
      const rows = await conn<{ version: number; checksum: string }[]>`
        select version, checksum from schema_migrations`;
      const done = new Map(rows.map((r) => [r.version, r.checksum]));
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        const sum = checksum(m.sql);
        const prior = done.get(m.version);
        if (prior !== undefined) {
          if (prior !== sum) {
            throw new MigrationError(
              `migration ${String(m.version)}_${m.name} changed after it was applied (checksum ${prior.slice(0, 12)} → ${sum.slice(0, 12)}): add a new migration instead`,
            );
          }
          continue;
        }
        await conn`begin`;
        try {
          await conn.unsafe(m.sql);
          await conn`
            insert into schema_migrations (version, name, checksum)
            values (${m.version}, ${m.name}, ${sum})`;
          await conn`commit`;
        } catch (err) {
          await conn`rollback`.catch(() => undefined);
          throw err;
        }
        applied.push(m.version);
        log.info({ version: m.version, name: m.name }, 'sql migration applied');
      }
      return { applied, version: SCHEMA_VERSION };
    } finally {
      await conn`select pg_advisory_unlock(${LOCK_KEY})`.catch(() => undefined);
    }
  } finally {
    conn.release();
  }
}

/** The highest applied version, or 0 when the schema was never migrated. */
export async function appliedVersion(sql: Sql): Promise<number> {
  const [t] = await sql<{ exists: boolean }[]>`
    select to_regclass('schema_migrations') is not null as exists`;
  if (t?.exists !== true) return 0;
  const [r] = await sql<{ v: number | null }[]>`select max(version) as v from schema_migrations`;
  return r?.v ?? 0;
}
