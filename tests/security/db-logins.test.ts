/**
 * The services' PostgreSQL logins (issue 15) on a private cluster that asks them for a
 * password (SCRAM-SHA-256; everything else stays `trust`): `ledgerflux migrate` creates
 * them from the passwords in its environment, each in its group only; a re-run rotates
 * the passwords; the migrate log holds no password.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomSecret } from '../../services/common/secrets.js';
import { startPostgres, type PgCluster } from '../harness/postgres.js';
import { loadMigrateConfig } from '../../services/migrate/config.js';
import { migrateSql } from '../../services/migrate/main.js';
import { captureLogger } from '../harness/log-capture.js';
import { waitFor } from '../harness/wait.js';

let pg: PgCluster;
let dbUrl: string;

beforeAll(async () => {
  pg = await startPostgres();
  dbUrl = await pg.createDatabase('ledgerflux');
  for (const user of ['ledgerflux_snapshotter', 'ledgerflux_gateway', 'ledgerflux_grafana'])
    await pg.prependHba(`host all ${user} 127.0.0.1/32 scram-sha-256`);
});

afterAll(async () => {
  await pg.stop();
});

function urlAs(user: string, password: string): string {
  const u = new URL(dbUrl);
  u.username = user;
  u.password = password;
  return u.toString();
}

/** The database's answer to a login, or the error's message. */
async function tryLogin(user: string, password: string): Promise<string> {
  const sql = postgres(urlAs(user, password), { max: 1, onnotice: () => undefined });
  try {
    const [r] = await sql<{ u: string }[]>`select current_user as u`;
    return `ok ${r?.u ?? ''}`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** `ledgerflux migrate --sql-only` as main.ts runs it (in process: a spawn costs seconds). */
async function migrate(passwords: Record<string, string>): Promise<string> {
  const { log, lines } = captureLogger('migrate');
  await migrateSql(loadMigrateConfig({ DATABASE_URL: dbUrl, ...passwords }), log);
  return lines()
    .map((l) => JSON.stringify(l))
    .join('\n');
}

describe('database logins from `ledgerflux migrate`', () => {
  const first = {
    SNAPSHOTTER_DB_PASSWORD: randomSecret(),
    GATEWAY_DB_PASSWORD: randomSecret(),
    GRAFANA_DB_PASSWORD: randomSecret(),
  };

  it('creates a password login per service, member of its group only', async () => {
    const log = await migrate(first);
    for (const pw of Object.values(first)) expect(log).not.toContain(pw);
    // Regression: the line said `service` twice (the logger's and the login's), so a
    // log reader saw one of them; the login's service is `for`.
    const ready = log
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'database login ready');
    expect(ready.map((l) => [l.service, l.for])).toEqual([
      ['migrate', 'snapshotter'],
      ['migrate', 'gateway'],
      ['migrate', 'grafana'],
    ]);
    // The hba line takes effect once the reload is through.
    await waitFor(
      'password authentication',
      async () => /password authentication failed/.test(await tryLogin('ledgerflux_gateway', 'x')),
      { timeoutMs: 10_000 },
    );
    expect(await tryLogin('ledgerflux_snapshotter', first.SNAPSHOTTER_DB_PASSWORD)).toBe(
      'ok ledgerflux_snapshotter',
    );
    expect(await tryLogin('ledgerflux_gateway', first.GATEWAY_DB_PASSWORD)).toBe(
      'ok ledgerflux_gateway',
    );
    expect(await tryLogin('ledgerflux_grafana', first.GRAFANA_DB_PASSWORD)).toBe(
      'ok ledgerflux_grafana',
    );
    // One login's password is not another's.
    expect(await tryLogin('ledgerflux_gateway', first.SNAPSHOTTER_DB_PASSWORD)).toMatch(
      /password authentication failed/,
    );
    const admin = postgres(dbUrl, { max: 1, onnotice: () => undefined });
    try {
      const rows = await admin<{ login: string; group: string; super: boolean }[]>`
        select u.rolname as login, g.rolname as group, u.rolsuper as super
        from pg_auth_members m join pg_roles g on g.oid = m.roleid
        join pg_roles u on u.oid = m.member
        where u.rolname like 'ledgerflux\\_%' and u.rolcanlogin order by 1, 2`;
      expect(rows).toEqual([
        { login: 'ledgerflux_gateway', group: 'ledgerflux_reader', super: false },
        { login: 'ledgerflux_grafana', group: 'ledgerflux_reader', super: false },
        { login: 'ledgerflux_snapshotter', group: 'ledgerflux_writer', super: false },
      ]);
    } finally {
      await admin.end({ timeout: 1 });
    }
  });

  it('rotates a password on the next run, and takes back a group granted by hand', async () => {
    const admin = postgres(dbUrl, { max: 1, onnotice: () => undefined });
    try {
      await admin`grant ledgerflux_writer to ledgerflux_gateway`;
    } finally {
      await admin.end({ timeout: 1 });
    }
    const next = { ...first, GATEWAY_DB_PASSWORD: randomSecret() };
    await migrate(next);
    expect(await tryLogin('ledgerflux_gateway', first.GATEWAY_DB_PASSWORD)).toMatch(
      /password authentication failed/,
    );
    expect(await tryLogin('ledgerflux_gateway', next.GATEWAY_DB_PASSWORD)).toBe(
      'ok ledgerflux_gateway',
    );
    const gw = postgres(urlAs('ledgerflux_gateway', next.GATEWAY_DB_PASSWORD), { max: 1 });
    try {
      await expect(gw`delete from trades`).rejects.toThrow(/permission denied/);
    } finally {
      await gw.end({ timeout: 1 });
    }
  });
});
