import type { IContainer } from 'kubernetes-models/v1/Container';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { deploymentAuthFile } from '../../services/common/gen-nats-auth.js';
import { NATS_USERS, passwordEnvName, type NatsUser } from '../../services/common/permissions.js';
import { loadMigrateConfig, dbLoginsOf } from '../../services/migrate/config.js';
import { DB_LOGINS } from '../../services/migrate/db-logins.js';
import { natsConfigFiles } from './checks.js';
import { containerEnv, dataOf, podsOf, sharedConfig, type Pod } from './env.js';
import {
  containersOf,
  ledgerfluxContainers,
  objectId,
  ROOT,
  workloads,
  type K8sObject,
  type Workload,
} from './render.js';

/**
 * Least privilege in the manifests (issue 15): which pod may hold which password, that
 * each service is given its own NATS user and database login and nothing else, that the
 * NATS ConfigMap's users are the generated ones, and that no password leaks into a
 * ConfigMap, another object or a file of the image. Each check returns its problems.
 */

/** The file beside nats.conf in the NATS ConfigMap (`include ./auth.conf`). */
export const AUTH_FILE = 'auth.conf';

/** A password key: anything else in a Secret (user and database names) is not secret. */
const isPasswordKey = (key: string) => /PASSWORD/.test(key);

/**
 * The workloads that may read each password key: the server that checks it and the one
 * client whose credential it is; migrate also sets the services' database logins.
 */
export function passwordReaders(): Map<string, Set<string>> {
  const readers = new Map<string, Set<string>>([
    ['POSTGRES_PASSWORD', new Set(['postgres', 'migrate'])],
    ['GF_SECURITY_ADMIN_PASSWORD', new Set(['grafana'])],
  ]);
  for (const l of DB_LOGINS)
    readers.set(`${l.service.toUpperCase()}_DB_PASSWORD`, new Set(['migrate', l.service]));
  for (const u of NATS_USERS) readers.set(passwordEnvName(u), new Set(['nats', u]));
  return readers;
}

const allContainers = (w: Workload): IContainer[] => {
  const { init, main } = containersOf(w);
  return [...init, ...main];
};

/**
 * Every Secret reference of every container names a key its workload may read, one key
 * at a time (`secretKeyRef`): no `envFrom` or volume that would hand a pod a whole Secret.
 */
export function checkSecretAccess(objects: readonly K8sObject[]): string[] {
  const readers = passwordReaders();
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    for (const v of w.template.spec?.volumes ?? []) {
      if (v.secret !== undefined)
        problems.push(`${objectId(w.object)}: mounts Secret ${String(v.secret.secretName)}`);
    }
    for (const c of allContainers(w)) {
      const where = `${objectId(w.object)}/${c.name}`;
      for (const from of c.envFrom ?? []) {
        if (from.secretRef !== undefined)
          problems.push(`${where}: takes every key of Secret ${String(from.secretRef.name)}`);
      }
      for (const e of c.env ?? []) {
        const key = e.valueFrom?.secretKeyRef?.key;
        if (key === undefined) continue;
        const may = readers.get(key);
        if (may === undefined) {
          if (isPasswordKey(key))
            problems.push(`${where}: ${e.name} reads unknown password ${key}`);
        } else if (!may.has(w.name)) {
          problems.push(`${where}: ${e.name} reads ${key}, which is not ${w.name}'s`);
        }
      }
    }
  }
  return problems;
}

function resolvedEnv(objects: readonly K8sObject[], w: Workload, c: IContainer) {
  return containerEnv(objects, c, podsOf(w)[0] as Pod).env;
}

/**
 * NATS: the ConfigMap's auth.conf is what services/common/gen-nats-auth.ts renders for the
 * overlay's SHARDS and nats.conf includes it; the NATS pods get every password it names
 * from a Secret; each LedgerFlux container runs as the user named after its command, with
 * that user's password, taken from the same Secret key the server reads.
 */
export function checkNatsCredentials(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const files = natsConfigFiles(objects);
  const shards = Number(sharedConfig(objects).SHARDS);
  if (files[AUTH_FILE] !== deploymentAuthFile(shards))
    problems.push(
      `${AUTH_FILE} differs from the generator for SHARDS=${String(shards)}: run \`make k8s-nats-auth\``,
    );
  if (!/^include \.\/auth\.conf$/m.test(files['nats.conf'] ?? ''))
    problems.push(`nats.conf does not include ./${AUTH_FILE}`);
  const nats = workloads(objects).find((w) => w.name === 'nats');
  const server = nats === undefined ? undefined : containersOf(nats).main[0];
  if (nats === undefined || server === undefined) return [...problems, 'no StatefulSet/nats'];
  const serverEnv = resolvedEnv(objects, nats, server);
  const fromSecret = (c: IContainer, name: string) =>
    (c.env ?? []).find((e) => e.name === name)?.valueFrom?.secretKeyRef;
  for (const m of (files[AUTH_FILE] ?? '').matchAll(/^\s*password: \$(\w+)$/gm)) {
    const name = m[1] as string;
    if (fromSecret(server, name) === undefined)
      problems.push(`StatefulSet/nats: ${name} (${AUTH_FILE}) is not set from a Secret`);
  }
  for (const { workload, container, command } of ledgerfluxContainers(objects)) {
    const where = `${objectId(workload.object)}/${container.name}`;
    const env = resolvedEnv(objects, workload, container);
    if (!(NATS_USERS as readonly string[]).includes(command)) continue;
    const user = command as NatsUser;
    if (env.NATS_USER !== user)
      problems.push(`${where}: NATS_USER is ${String(env.NATS_USER)}, not ${user}`);
    const ref = fromSecret(container, 'NATS_PASSWORD');
    if (ref === undefined) problems.push(`${where}: NATS_PASSWORD is not from a Secret`);
    else if (ref.key !== passwordEnvName(user) || ref.name !== fromSecret(server, ref.key)?.name)
      problems.push(
        `${where}: NATS_PASSWORD is ${String(ref.name)}/${ref.key}, not the server's ${passwordEnvName(user)}`,
      );
    else if (env.NATS_PASSWORD !== serverEnv[passwordEnvName(user)])
      problems.push(`${where}: NATS_PASSWORD differs from the server's`);
  }
  return problems;
}

/**
 * PostgreSQL: migrate connects as the schema's owner (the postgres container's
 * POSTGRES_USER) and creates every login of DB_LOGINS; each login's one user (the
 * snapshotter's and the gateway's DATABASE_URL, Grafana's data source) connects with the
 * name and password migrate gave it.
 */
export function checkDbLogins(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const envOf = (name: string) => {
    const w = workloads(objects).find((x) => x.name === name);
    const c = w === undefined ? undefined : containersOf(w).main[0];
    return w === undefined || c === undefined ? undefined : resolvedEnv(objects, w, c);
  };
  const [migrate, postgres, grafana] = ['migrate', 'postgres', 'grafana'].map(envOf);
  if (migrate === undefined || postgres === undefined) return ['no Job/migrate or postgres'];
  const owner = new URL(migrate.DATABASE_URL ?? '');
  if (owner.username !== postgres.POSTGRES_USER || owner.password !== postgres.POSTGRES_PASSWORD)
    problems.push("migrate's DATABASE_URL is not the postgres container's POSTGRES_USER");
  if (owner.pathname !== `/${String(postgres.POSTGRES_DB)}`)
    problems.push(`migrate's database ${owner.pathname} is not POSTGRES_DB`);
  const logins = dbLoginsOf(loadMigrateConfig(migrate));
  for (const spec of DB_LOGINS) {
    const login = logins.find((l) => l.service === spec.service);
    if (login === undefined) {
      problems.push(`migrate is not given ${spec.service.toUpperCase()}_DB_PASSWORD`);
      continue;
    }
    let used: { user?: string; password?: string; db?: string } | undefined;
    if (spec.service === 'grafana') {
      used = grafana && {
        user: grafana.LEDGERFLUX_GRAFANA_PG_USER,
        password: grafana.LEDGERFLUX_GRAFANA_PG_PASSWORD,
        db: grafana.LEDGERFLUX_PG_DATABASE,
      };
    } else {
      const env = envOf(spec.service);
      const url = env?.DATABASE_URL === undefined ? undefined : new URL(env.DATABASE_URL);
      used = url && { user: url.username, password: url.password, db: url.pathname.slice(1) };
    }
    if (used === undefined) {
      problems.push(`no ${spec.service} pod uses the login ${login.user}`);
      continue;
    }
    if (used.user !== login.user || used.password !== login.password)
      problems.push(`${spec.service} does not connect as ${login.user} with its password`);
    if (used.db !== postgres.POSTGRES_DB)
      problems.push(`${spec.service} connects to ${String(used.db)}, not POSTGRES_DB`);
  }
  return problems;
}

/** The files the image build may copy: .dockerignore's allow-list of the repository. */
export function imageContextFiles(): string[] {
  const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8');
  const allowed = ignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/$/, ''));
  const skip = (name: string) => name === 'node_modules' || name.endsWith('.log');
  const files: string[] = [];
  const walk = (rel: string) => {
    const abs = path.join(ROOT, rel);
    if (statSync(abs).isDirectory()) {
      for (const entry of readdirSync(abs)) if (!skip(entry)) walk(path.join(rel, entry));
    } else {
      files.push(rel);
    }
  };
  for (const a of allowed) walk(a);
  return files;
}

/**
 * Every password of every Secret: safe in a nats-server variable and a URL (a letter,
 * then letters, digits, `-` or `_`: nats-server parses a variable's value as config, where
 * `true` or `12KB` are not strings and `a,b` ends at the comma), and in no ConfigMap, no
 * other object and no file of `files` (path → text).
 */
export function checkSecretValues(
  objects: readonly K8sObject[],
  files: ReadonlyMap<string, string>,
): string[] {
  const problems: string[] = [];
  const others = objects
    .filter((o) => o.kind !== 'Secret')
    .map((o) => ({ id: objectId(o), text: JSON.stringify(o) }));
  for (const secret of objects.filter((o) => o.kind === 'Secret')) {
    for (const [key, value] of Object.entries(dataOf(secret))) {
      if (!isPasswordKey(key)) continue;
      const where = `${objectId(secret)} ${key}`;
      if (!/^[A-Za-z][A-Za-z0-9_-]{11,}$/.test(value))
        problems.push(`${where}: not a letter and 11 or more of [A-Za-z0-9_-]`);
      for (const o of others)
        if (o.text.includes(value)) problems.push(`${where}: its value is in ${o.id}`);
      for (const [file, text] of files)
        if (text.includes(value)) problems.push(`${where}: its value is in ${file}`);
    }
  }
  return problems;
}

/** The NATS login a LedgerFlux pod of `command` is given (its rendered environment). */
export function natsLoginOf(
  objects: readonly K8sObject[],
  command: string,
): { user: string; pass: string } {
  const found = ledgerfluxContainers(objects).find((x) => x.command === command);
  if (found === undefined) throw new Error(`no ${command} container`);
  const env = resolvedEnv(objects, found.workload, found.container);
  if (env.NATS_USER === undefined || env.NATS_PASSWORD === undefined)
    throw new Error(`${command} has no NATS_USER and NATS_PASSWORD`);
  return { user: env.NATS_USER, pass: env.NATS_PASSWORD };
}
