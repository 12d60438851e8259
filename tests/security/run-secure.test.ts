/**
 * `ledgerflux run --sim --secure`: the nats-server it starts has one user per service
 * (its config private to the owner), every service comes up with its own credentials
 * (data reaches PostgreSQL through the snapshotter's login and REST through the
 * gateway's), nothing is refused, and no generated password shows in run's output.
 * PostgreSQL is the test cluster's (DATABASE_URL), which saves an initdb.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, expect, it } from 'vitest';
import { testDatabase } from '../harness/db.js';
import { captureOutput } from '../harness/processes.js';
import { waitFor } from '../harness/wait.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'lf-run-secure-'));
let run: ChildProcess | undefined;

afterAll(async () => {
  if (run !== undefined && run.exitCode === null && run.signalCode === null) {
    const proc = run;
    const gone = new Promise<boolean>((resolve) =>
      proc.once('exit', () => {
        resolve(true);
      }),
    );
    proc.kill('SIGINT');
    const ended = await Promise.race([
      gone,
      new Promise<boolean>((resolve) =>
        setTimeout(() => {
          resolve(false);
        }, 20_000),
      ),
    ]);
    if (!ended) proc.kill('SIGKILL');
  }
  rmSync(scratch, { recursive: true, force: true });
});

it('runs the pipeline with per-service credentials that it never prints', async () => {
  const dbUrl = await testDatabase();
  run = spawn(
    process.execPath,
    [
      ...['--import', import.meta.resolve('tsx'), path.join(ROOT, 'services/cli.ts')],
      ...['run', '--sim', '--secure', '--shards', '1', '--products', 'BTC-USD'],
    ],
    {
      cwd: scratch,
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        NATS_URL: '',
        DATABASE_URL: dbUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const { lines: output, text, exited } = captureOutput(run);

  const page = await waitFor(
    'the gateway address',
    () => /page +(http:\/\/127\.0\.0\.1:\d+\/)/.exec(text())?.[1],
    { timeoutMs: 60_000 },
  );
  const trade = async () => {
    const r = await fetch(`${page}v1/products/BTC-USD`).catch(() => undefined);
    if (r?.ok !== true) return undefined;
    return ((await r.json()) as { last_trade?: { trade_id?: string } | null }).last_trade?.trade_id;
  };
  await waitFor('a trade over REST (direct get as the gateway)', trade, { timeoutMs: 90_000 });
  const sql = postgres(dbUrl, { max: 1, onnotice: () => undefined });
  try {
    await waitFor(
      'trades in PostgreSQL (written as the snapshotter)',
      async () =>
        Number((await sql<{ n: string }[]>`select count(*)::text as n from trades`)[0]?.n) > 0,
      { timeoutMs: 60_000 },
    );
    const writers = await sql<{ u: string }[]>`
      select distinct usename as u from pg_stat_activity
      where datname = current_database() and application_name like 'ledgerflux%'`;
    expect(writers.map((w) => w.u)).toContain('ledgerflux_snapshotter');
  } finally {
    await sql.end({ timeout: 1 });
  }

  const conf = path.join(scratch, '.ledgerflux', 'nats', 'nats.conf');
  expect(statSync(conf).mode & 0o777).toBe(0o600);
  const passwords = [...readFileSync(conf, 'utf8').matchAll(/password: "([^"]+)"/g)].map(
    (m) => m[1] ?? '',
  );
  expect(passwords).toHaveLength(6);

  run.kill('SIGINT');
  expect(await exited).toBe(0);
  // Nothing was refused, and no password was printed (the services' logs included).
  expect(output.filter((l) => /violation|authorization/i.test(l))).toEqual([]);
  for (const pw of passwords) expect(text()).not.toContain(pw);
  expect(text()).toContain('one NATS user and one database login per service');
});
