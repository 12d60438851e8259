import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import path from 'node:path';
import postgres from 'postgres';
import { ErrorCode, LedgerFluxError } from '../common/errors.js';
import { sleep } from '../common/lifecycle.js';
import { startChild, type Child } from './children.js';

/**
 * The local infrastructure of `ledgerflux run`: a nats-server with JetStream and
 * `max_payload: 8MB`, and a PostgreSQL cluster run as an unprivileged user. Data is kept
 * between runs; as root, PostgreSQL's data lives outside the checkout (DESIGN.md).
 */
export const PG_USER = 'ledgerflux';

export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, name);
    if (dir !== '' && existsSync(p)) return p;
  }
  return undefined;
}

function missing(binary: string, pkg: string): LedgerFluxError {
  return new LedgerFluxError(
    ErrorCode.CONFIG_INVALID,
    `${binary} not found. Install it: apt-get install -y ${pkg} (Debian/Ubuntu), or set ${binary === 'nats-server' ? 'NATS_URL' : 'DATABASE_URL'} to a running server`,
  );
}

export function pgBindir(): string {
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim());
  } catch {
    // pg_config absent: look where Debian keeps the server
  }
  for (const v of ['17', '16', '15', '14', '13']) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  const dir = candidates.find(
    (d) => existsSync(path.join(d, 'initdb')) && existsSync(path.join(d, 'postgres')),
  );
  if (dir === undefined) throw missing('postgres', 'postgresql');
  return dir;
}

export function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline)
          reject(
            new Error(`nothing listens on 127.0.0.1:${String(port)} after ${String(timeoutMs)} ms`),
          );
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startNatsServer(
  dir: string,
  port: number,
  monitorPort: number,
  /** An `authorization { users = [...] }` block (`run --secure`); it holds passwords. */
  authorization?: string,
): Promise<Child> {
  const bin = which('nats-server');
  if (bin === undefined) throw missing('nats-server', 'nats-server');
  mkdirSync(path.join(dir, 'jetstream'), { recursive: true });
  const conf = path.join(dir, 'nats.conf');
  writeFileSync(
    conf,
    [
      'server_name: ledgerflux_local',
      `listen: 127.0.0.1:${String(port)}`,
      `http: 127.0.0.1:${String(monitorPort)}`,
      '# Full-depth snapshots are several MB; the default 1 MiB would reject them.',
      'max_payload: 8MB',
      `jetstream { store_dir: ${JSON.stringify(path.join(dir, 'jetstream'))}, max_file_store: 16GB }`,
      authorization ?? '',
    ].join('\n'),
    { mode: 0o600 },
  );
  // An existing file keeps its mode: a config that once held passwords stays private.
  chmodSync(conf, 0o600);
  const child = startChild('nats', bin, ['-c', conf], { quiet: true });
  await Promise.race([
    waitForPort(port, 10_000),
    child.exited.then((code) => {
      throw new Error(`nats-server exited (${String(code)}) at start: ${child.tail().join(' | ')}`);
    }),
  ]);
  return child;
}

export interface PgPlace {
  dataDir: string;
  socketDir: string;
  /** uid/gid to run as (root only). */
  account?: { uid: number; gid: number };
}

/**
 * Where the cluster lives. A checkout under a 0700 home is unreachable for the
 * unprivileged user, so as root the data goes to /var/lib/ledgerflux/<hash of the repo>.
 */
export function pgPlace(repoDir: string): PgPlace {
  if (process.getuid?.() !== 0) {
    const base = path.join(repoDir, '.ledgerflux', 'postgres');
    return { dataDir: path.join(base, 'data'), socketDir: base };
  }
  const account = ensureUser();
  const hash = createHash('sha256').update(path.resolve(repoDir)).digest('hex').slice(0, 12);
  const base = path.join('/var/lib/ledgerflux', hash);
  mkdirSync(base, { recursive: true, mode: 0o755 });
  chownSync(base, account.uid, account.gid);
  chownSync('/var/lib/ledgerflux', 0, 0);
  return { dataDir: path.join(base, 'data'), socketDir: base, account };
}

function ensureUser(): { uid: number; gid: number } {
  const lookup = () => {
    try {
      return {
        uid: Number(execFileSync('id', ['-u', PG_USER], { encoding: 'utf8' }).trim()),
        gid: Number(execFileSync('id', ['-g', PG_USER], { encoding: 'utf8' }).trim()),
      };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found !== undefined) return found;
  execFileSync('useradd', [
    '--system',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    PG_USER,
  ]);
  const created = lookup();
  if (created === undefined) throw new Error(`could not create the system user ${PG_USER}`);
  return created;
}

export async function startPostgresServer(place: PgPlace, port: number): Promise<Child> {
  const bindir = pgBindir();
  const as = place.account === undefined ? {} : { uid: place.account.uid, gid: place.account.gid };
  if (!existsSync(path.join(place.dataDir, 'PG_VERSION'))) {
    mkdirSync(place.dataDir, { recursive: true, mode: 0o700 });
    if (place.account !== undefined) chownSync(place.dataDir, place.account.uid, place.account.gid);
    execFileSync(
      path.join(bindir, 'initdb'),
      ['-D', place.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'],
      {
        ...as,
        stdio: 'ignore',
        cwd: '/',
      },
    );
  }
  const child = startChild(
    'postgres',
    path.join(bindir, 'postgres'),
    [
      '-D',
      place.dataDir,
      '-p',
      String(port),
      '-k',
      place.socketDir,
      '-c',
      'listen_addresses=127.0.0.1',
    ],
    { ...as, cwd: '/', quiet: true },
  );
  const admin = `postgres://postgres@127.0.0.1:${String(port)}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.proc.exitCode !== null)
      throw new Error(
        `postgres exited (${String(child.proc.exitCode)}) at start; data in ${place.dataDir}`,
      );
    const sql = postgres(admin, { max: 1, onnotice: () => undefined, connect_timeout: 2 });
    try {
      await sql`select 1`;
      const role = await sql`select 1 from pg_roles where rolname = ${PG_USER}`;
      if (role.length === 0) await sql.unsafe(`create role ${PG_USER} login superuser`);
      const db = await sql`select 1 from pg_database where datname = 'ledgerflux'`;
      if (db.length === 0) await sql.unsafe(`create database ledgerflux owner ${PG_USER}`);
      await sql.end();
      return child;
    } catch (err) {
      await sql.end({ timeout: 1 }).catch(() => undefined);
      if (Date.now() > deadline) throw err;
      await sleep(200);
    }
  }
}
