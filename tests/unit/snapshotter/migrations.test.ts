import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { STATE_COLUMNS } from '../../../services/snapshotter/core/rows.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../../services/snapshotter/migrate-sql.js';
import { sql as init } from '../../../services/snapshotter/migrations/001_init.js';

const DIR = path.resolve(import.meta.dirname, '../../../services/snapshotter/migrations');

describe('sql migrations', () => {
  it('lists every NNN_name module of migrations/, in order, numbered from 1 without holes', () => {
    const files = readdirSync(DIR)
      .filter((f) => /^\d{3}_[a-z0-9_]+\.ts$/.test(f))
      .sort();
    expect(readdirSync(DIR).filter((f) => !files.includes(f))).toEqual([]);
    expect(MIGRATIONS.map((m) => `${String(m.version).padStart(3, '0')}_${m.name}.ts`)).toEqual(
      files,
    );
    expect(MIGRATIONS.map((m) => m.version)).toEqual(files.map((_, i) => i + 1));
    expect(SCHEMA_VERSION).toBe(files.length);
    for (const f of files)
      expect(readFileSync(path.join(DIR, f), 'utf8')).toMatch(/export const sql = `/);
  });

  it('declares every state column, with its type, in both snapshots and latest_state', () => {
    for (const table of ['snapshots', 'latest_state']) {
      const body =
        new RegExp(`CREATE TABLE IF NOT EXISTS ${table} \\(([\\s\\S]*?)\\n\\);`).exec(init)?.[1] ??
        '';
      for (const c of STATE_COLUMNS) {
        const type =
          c.type === 'numeric' && /(_trade_id|_sequence|^trade_id)$/.test(c.name)
            ? 'numeric\\(30, 0\\)'
            : c.type.replace('[]', '\\[\\]');
        expect(body, `${table}.${c.name}`).toMatch(new RegExp(`\\n  ${c.name} ${type}[,\\n ]`));
      }
    }
  });

  it('creates the roles idempotently and never without a guard', () => {
    expect(init).toMatch(/IF NOT EXISTS \(SELECT FROM pg_roles WHERE rolname = r\)/);
    expect(init).toMatch(/NOLOGIN/);
    expect(init).not.toMatch(/^CREATE ROLE/m);
  });
});
