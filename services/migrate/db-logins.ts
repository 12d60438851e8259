import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { Sql } from 'postgres';
import type { Logger } from '../common/logger.js';

/**
 * The services' PostgreSQL logins (issue 15). Migration 001 creates the NOLOGIN group
 * roles `ledgerflux_writer` (the snapshotter's tables: select, insert, update, delete) and
 * `ledgerflux_reader` (select); `ledgerflux migrate`, which owns the schema, creates or
 * updates one LOGIN role per service that is given a password, member of its group and of
 * nothing else. Passwords come from the environment only and are sent as SCRAM-SHA-256
 * verifiers computed here, so no statement (or server log line) ever holds one.
 */
export const DB_LOGINS = [
  { service: 'snapshotter', group: 'ledgerflux_writer', user: 'ledgerflux_snapshotter' },
  { service: 'gateway', group: 'ledgerflux_reader', user: 'ledgerflux_gateway' },
  { service: 'grafana', group: 'ledgerflux_reader', user: 'ledgerflux_grafana' },
] as const;
export type DbLoginService = (typeof DB_LOGINS)[number]['service'];

export interface DbLogin {
  service: DbLoginService;
  user: string;
  password: string;
}

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * PostgreSQL's SCRAM-SHA-256 password verifier (RFC 5802/7677, the format `pg_authid`
 * stores). Passwords are used as their UTF-8 bytes: the same as PostgreSQL's SASLprep for
 * ASCII, which generated passwords are.
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();
  const storedKey = createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${String(iterations)}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

const quoteLiteral = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Creates or updates each login (password, LOGIN, membership of its group only). */
export async function ensureDbLogins(
  sql: Sql,
  logins: readonly DbLogin[],
  log: Logger,
): Promise<void> {
  for (const login of logins) {
    const spec = DB_LOGINS.find((l) => l.service === login.service);
    if (spec === undefined) throw new Error(`no database login is defined for ${login.service}`);
    if (!ROLE_NAME.test(login.user))
      throw new Error(`database user for ${login.service} must match ${String(ROLE_NAME)}`);
    const verifier = quoteLiteral(scramVerifier(login.password));
    const [exists] = await sql`select 1 from pg_roles where rolname = ${login.user}`;
    if (exists === undefined) {
      await sql.unsafe(`create role "${login.user}" login password ${verifier}`);
    } else {
      await sql.unsafe(`alter role "${login.user}" login password ${verifier}`);
    }
    // Exactly its group: a login once granted another group loses it.
    const others = await sql<{ group: string }[]>`
      select g.rolname as group from pg_auth_members m
      join pg_roles g on g.oid = m.roleid join pg_roles u on u.oid = m.member
      where u.rolname = ${login.user} and g.rolname <> ${spec.group}`;
    for (const o of others) await sql.unsafe(`revoke "${o.group}" from "${login.user}"`);
    await sql.unsafe(`grant "${spec.group}" to "${login.user}"`);
    log.info({ for: login.service, user: login.user, group: spec.group }, 'database login ready');
  }
}
