import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import path from 'node:path';

const PG_ROOT = '/usr/lib/postgresql';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First executable called `name` on PATH, or undefined. */
export function findOnPath(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  return dirs.map((d) => path.join(d, name)).find(isExecutable);
}

let natsServer: string | undefined;

/** Absolute path of nats-server; throws with the install command when it is missing. */
export function natsServerBinary(): string {
  natsServer ??= findOnPath('nats-server');
  if (natsServer === undefined) {
    throw new Error(
      'nats-server not found on PATH; install it with: apt-get install -y nats-server',
    );
  }
  return natsServer;
}

function hasServerBinaries(dir: string): boolean {
  return isExecutable(path.join(dir, 'initdb')) && isExecutable(path.join(dir, 'postgres'));
}

function pgConfigBindir(): string | undefined {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** Debian keeps the server off PATH, one directory per major version: take the newest. */
function debianBindir(): string | undefined {
  let versions: string[];
  try {
    versions = readdirSync(PG_ROOT);
  } catch {
    return undefined;
  }
  return versions
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join(PG_ROOT, v, 'bin'))
    .find(hasServerBinaries);
}

let pgBindir: string | undefined;

/**
 * Directory holding initdb and postgres. pg_config alone is not enough: on Debian it
 * can come from libpq-dev without the server, so the directory is checked.
 */
export function postgresBindir(): string {
  if (pgBindir !== undefined) return pgBindir;
  const fromPgConfig = pgConfigBindir();
  pgBindir =
    fromPgConfig !== undefined && hasServerBinaries(fromPgConfig) ? fromPgConfig : debianBindir();
  if (pgBindir === undefined) {
    throw new Error(
      'PostgreSQL server binaries (initdb, postgres) not found via `pg_config --bindir` or ' +
        `${PG_ROOT}/*/bin; install them with: apt-get install -y postgresql`,
    );
  }
  return pgBindir;
}

/** Path of a PostgreSQL server program such as initdb or postgres. */
export function postgresBinary(name: 'initdb' | 'postgres'): string {
  return path.join(postgresBindir(), name);
}
