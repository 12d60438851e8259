import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { postgresBinary } from './binaries.js';
import { freePort } from './free-port.js';
import {
  failedOnTakenPort,
  logTail,
  makeTempDir,
  removeTempDir,
  spawnTracked,
  stopProcess,
  waitUntilReady,
  type TrackedProcess,
} from './processes.js';

const run = promisify(execFile);

export const PG_SYSTEM_USER = 'ledgerflux';

export interface PgCluster {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust auth, superuser) */
  readonly adminUrl: string;
  /** Postmaster pid while running. */
  pid(): number | undefined;
  /** Create a database (unique name by default) and return its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Fast shutdown (SIGINT), wait for the exit, remove the data directory. */
  stop(): Promise<void>;
  /** SIGKILL the postmaster and its backends at once, as a crash would; data is kept. */
  kill(): Promise<void>;
  /** Start again on the same port and data directory, waiting until it accepts queries. */
  restart(): Promise<void>;
  /**
   * Puts a line first in pg_hba.conf (the first match wins) and reloads: e.g. password
   * authentication for one role, where everything else stays `trust`.
   */
  prependHba(line: string): Promise<void>;
}

interface Account {
  uid: number;
  gid: number;
}

interface PgLayout {
  dir: string;
  dataDir: string;
  logFile: string;
  port: number;
  account: Account | undefined;
}

const START_TIMEOUT_MS = 30_000;
const START_ATTEMPTS = 3;

async function lookupAccount(user: string): Promise<Account | undefined> {
  try {
    const uid = (await run('id', ['-u', user])).stdout.trim();
    const gid = (await run('id', ['-g', user])).stdout.trim();
    return { uid: Number(uid), gid: Number(gid) };
  } catch {
    return undefined;
  }
}

/**
 * PostgreSQL refuses to run as root, so as root the servers run as an unprivileged
 * system user, created on first use. Not root: run as ourselves.
 */
async function serverAccount(): Promise<Account | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const existing = await lookupAccount(PG_SYSTEM_USER);
  if (existing !== undefined) return existing;
  const args = ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', PG_SYSTEM_USER];
  let failure = '';
  try {
    await run('useradd', args);
  } catch (err) {
    // A parallel test file may have created it a moment ago; the lookup below decides.
    failure = err instanceof Error ? err.message : String(err);
  }
  const created = await lookupAccount(PG_SYSTEM_USER);
  if (created === undefined) {
    throw new Error(
      `PostgreSQL cannot run as root and user '${PG_SYSTEM_USER}' could not be created ` +
        `(useradd ${args.join(' ')}): ${failure}`,
    );
  }
  return created;
}

function spawnOptions(layout: PgLayout): { uid?: number; gid?: number; env: NodeJS.ProcessEnv } {
  // HOME would otherwise point at root's home, which the server user cannot read.
  const env = { ...process.env, HOME: layout.dir, LC_ALL: 'C' };
  return layout.account === undefined ? { env } : { ...layout.account, env };
}

async function initdb(layout: PgLayout): Promise<void> {
  const logFile = path.join(layout.dir, 'initdb.log');
  const proc = spawnTracked({
    name: 'initdb',
    command: postgresBinary('initdb'),
    args: [
      ...['-D', layout.dataDir, '-U', 'postgres', '--auth=trust'],
      ...['-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
    ],
    logFile,
    cwd: layout.dir,
    ...spawnOptions(layout),
  });
  const exit = await proc.exited;
  if (exit.code !== 0) {
    const why = exit.error?.message ?? `exit code ${exit.code}, signal ${exit.signal}`;
    throw new Error(`initdb failed (${why})\n${logTail(logFile)}`);
  }
}

function adminUrlOf(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

async function acceptsQueries(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => undefined });
  try {
    await sql`select 1`;
    return true;
  } catch {
    // ECONNREFUSED while starting, 57P03 "the database system is starting up".
    return false;
  } finally {
    await sql.end({ timeout: 0 });
  }
}

async function launch(layout: PgLayout): Promise<TrackedProcess> {
  const proc = spawnTracked({
    name: `postgres :${layout.port}`,
    command: postgresBinary('postgres'),
    args: [
      ...['-D', layout.dataDir, '-p', String(layout.port), '-k', layout.dir],
      ...['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
      // Throwaway clusters: surviving an OS crash buys nothing. synchronous_commit stays
      // on: off, a kill -9 straight after a commit loses it (WAL still in shared memory),
      // and tests kill PostgreSQL on purpose. With fsync=off a commit costs one write().
      ...['-c', 'fsync=off', '-c', 'full_page_writes=off'],
    ],
    logFile: layout.logFile,
    cwd: layout.dir,
    ...spawnOptions(layout),
  });
  try {
    await waitUntilReady(proc, () => acceptsQueries(adminUrlOf(layout.port)), {
      what: 'accepted connection',
      timeoutMs: START_TIMEOUT_MS,
      intervalMs: 25,
    });
  } catch (err) {
    await stopProcess(proc, 'SIGKILL');
    throw err;
  }
  return proc;
}

/** First start: a port can be taken between freePort() and the bind, so retry on fresh ports. */
async function firstLaunch(layout: PgLayout): Promise<TrackedProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(layout);
    } catch (err) {
      if (attempt >= START_ATTEMPTS || !failedOnTakenPort(err)) throw err;
      layout.port = await freePort();
    }
  }
}

async function prepare(dir: string): Promise<PgLayout> {
  const account = await serverAccount();
  if (account !== undefined) await chown(dir, account.uid, account.gid);
  const layout: PgLayout = {
    dir,
    dataDir: path.join(dir, 'data'),
    logFile: path.join(dir, 'postgres.log'),
    port: await freePort(),
    account,
  };
  await initdb(layout);
  return layout;
}

const DB_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
let databaseCounter = 0;

function uniqueDatabaseName(): string {
  databaseCounter += 1;
  return `lf_${process.pid}_${databaseCounter}_${randomBytes(3).toString('hex')}`;
}

/** Create a database through a superuser URL and return the new database's URL. */
export async function createDatabaseAt(
  adminUrl: string,
  name = uniqueDatabaseName(),
): Promise<string> {
  if (!DB_NAME.test(name)) {
    throw new Error(`database name ${JSON.stringify(name)} must match ${String(DB_NAME)}`);
  }
  const sql = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await sql`create database ${sql(name)}`;
  } finally {
    await sql.end({ timeout: 5 });
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Start a private PostgreSQL cluster (initdb in a fresh temp dir) and wait until it is ready. */
export async function startPostgres(): Promise<PgCluster> {
  const dir = await makeTempDir('lf-test-pg-');
  let layout: PgLayout;
  let proc: TrackedProcess | undefined;
  try {
    layout = await prepare(dir);
    proc = await firstLaunch(layout);
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }

  const halt = async (kill: boolean): Promise<void> => {
    if (proc === undefined) return;
    if (kill) proc.killGroup();
    // SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
    await stopProcess(proc, kill ? 'SIGKILL' : 'SIGINT');
    proc = undefined;
  };
  const adminUrl = adminUrlOf(layout.port);

  return {
    host: '127.0.0.1',
    port: layout.port,
    adminUrl,
    pid: () => (proc?.running() ? proc.child.pid : undefined),
    createDatabase: (name) => createDatabaseAt(adminUrl, name),
    stop: async () => {
      await halt(false);
      await removeTempDir(dir);
    },
    kill: () => halt(true),
    restart: async () => {
      await halt(false);
      proc = await launch(layout);
    },
    prependHba: async (line) => {
      const file = path.join(layout.dataDir, 'pg_hba.conf');
      await writeFile(file, `${line}\n${await readFile(file, 'utf8')}`);
      const sql = postgres(adminUrl, { max: 1, onnotice: () => undefined });
      try {
        await sql`select pg_reload_conf()`;
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}
