import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterEach, describe, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../services/sim/server.js';
import { postgresBindir } from '../harness/binaries.js';
import { freePort } from '../harness/free-port.js';
import { waitFor } from '../harness/wait.js';
import { startPostgres, type PgCluster } from '../harness/postgres.js';
import {
  logTail,
  makeTempDir,
  spawnTracked,
  stopProcess,
  waitUntilReady,
  type TrackedProcess,
} from '../harness/processes.js';
import {
  checkServiceEnv,
  containerEnv,
  expansionHelpers,
  podsOf,
  sharedConfig,
  type Pod,
} from './env.js';
import { DB_LOGINS } from '../../services/migrate/db-logins.js';
import { clientUrls, startOverlayNats, stopLocalNats, type LocalNatsServer } from './local-nats.js';
import {
  expectNatsRefusals,
  expectNoPasswordIn,
  expectReadOnlyLogins,
  natsViolations,
} from './refusals.js';
import {
  containersOf,
  ledgerfluxContainers,
  renderDeployed,
  ROOT,
  workloads,
  type K8sObject,
  type Overlay,
} from './render.js';

/**
 * Every LedgerFlux pod of an overlay started as a local process with exactly the
 * environment the kubelet would give it (env.ts resolves values, ConfigMap and Secret keys,
 * `$(VAR)` expansions and the pod-index label), after the postgres image's initialisation
 * and the migrate Job. The Secrets are the overlay's own (dev) or those secrets.sh makes
 * (prod); NATS runs the ConfigMap's users, PostgreSQL asks every overlay login for its
 * password. Only what a pod's network provides is mapped: the hosts in URLs (nats,
 * postgres, Coinbase's feed) to the loopback servers started here, and each pod's listen
 * port to a free one (pods have their own IPs, processes here share one). Each must
 * report ready on its /readyz, serve /metrics there, and stop cleanly on SIGTERM; then
 * each credential is tried on what is not its job, and the logs are searched for passwords.
 */

const run = promisify(execFile);

interface Loopback {
  nats: LocalNatsServer[];
  pg: PgCluster;
  sim: Simulator;
}

/** host:port as the manifests name them → where that server runs here. */
function hostMap(lo: Loopback): Map<string, string> {
  const nats = clientUrls(lo.nats).map((u) => u.replace('nats://', ''));
  return new Map([
    ['nats:4222', nats.join(',')],
    ['postgres:5432', `127.0.0.1:${String(lo.pg.port)}`],
  ]);
}

/**
 * The environment with its URLs pointed at the loopback servers. NATS_URL may become a
 * list (every server of the local cluster, as the Service would balance); the feed is
 * the simulator, which speaks the same protocol without TLS (ws instead of wss).
 */
function mapEnv(
  env: Record<string, string>,
  lo: Loopback,
  listen: Record<string, number>,
): Record<string, string> {
  const hosts = hostMap(lo);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    let v = value;
    if (name === 'NATS_URL') {
      v = value
        .split(',')
        .map((u) => {
          const hostPort = new URL(u).host;
          const local = hosts.get(hostPort);
          if (local === undefined)
            throw new Error(`NATS_URL names ${hostPort}, not a Service here`);
          return local
            .split(',')
            .map((h) => `nats://${h}`)
            .join(',');
        })
        .join(',');
    } else if (name === 'DATABASE_URL') {
      const url = new URL(value);
      const local = hosts.get(url.host);
      if (local === undefined)
        throw new Error(`DATABASE_URL names ${url.host}, not a Service here`);
      url.host = local;
      v = url.toString();
    } else if (name === 'COINBASE_WS_URL') {
      expect(value).toBe('wss://ws-feed.exchange.coinbase.com');
      v = lo.sim.url;
    } else if (listen[name] !== undefined) {
      v = String(listen[name]);
    }
    out[name] = v;
  }
  return out;
}

interface Started {
  name: string;
  proc: TrackedProcess;
  port: number;
}

/** `ledgerflux <args>` from the sources, with nothing but PATH besides the pod's environment. */
function spawnLedgerflux(
  name: string,
  args: readonly string[],
  env: Record<string, string>,
  dir: string,
): TrackedProcess {
  return spawnTracked({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(ROOT, 'services/cli.ts'), ...args],
    logFile: path.join(dir, `${name}.log`),
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
  });
}

async function ready(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${String(port)}/readyz`, {
      signal: AbortSignal.timeout(2_000),
    });
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The postgres container's environment and its readiness probe. */
function postgresPod(objects: K8sObject[]): { env: Record<string, string>; probe: string[] } {
  const sts = workloads(objects).find((w) => w.name === 'postgres');
  const c = sts === undefined ? undefined : containersOf(sts).main[0];
  if (sts === undefined || c === undefined) throw new Error('no StatefulSet/postgres');
  const { env, problems } = containerEnv(objects, c, podsOf(sts)[0] as Pod);
  expect(problems).toEqual([]);
  return { env, probe: c.readinessProbe?.exec?.command ?? [] };
}

const quoteLiteral = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * What the postgres image does on an empty data directory: POSTGRES_USER becomes a
 * superuser with POSTGRES_PASSWORD, owning POSTGRES_DB. Like the image (scram-sha-256 for
 * every host connection), the overlay's logins must give their passwords; the harness's
 * own superuser keeps `trust` to look at the results.
 */
async function initPostgres(objects: K8sObject[], pg: PgCluster): Promise<void> {
  const { env, probe } = postgresPod(objects);
  const owner = env.POSTGRES_USER ?? '';
  const admin = postgres(pg.adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(
      `CREATE ROLE "${owner}" SUPERUSER LOGIN PASSWORD ${quoteLiteral(env.POSTGRES_PASSWORD ?? '')}`,
    );
    await admin.unsafe(`CREATE DATABASE "${env.POSTGRES_DB ?? ''}" OWNER "${owner}"`);
  } finally {
    await admin.end();
  }
  const logins = [owner, ...DB_LOGINS.map((l) => l.user)];
  await pg.prependHba(`host all ${logins.join(',')} 127.0.0.1/32 scram-sha-256`);
  const localEnv = {
    ...env,
    PATH: `${postgresBindir()}:${process.env.PATH ?? ''}`,
    PGHOST: '127.0.0.1',
    PGPORT: String(pg.port),
  };
  // The readiness probe's own command answers "accepting connections".
  expect(probe.slice(0, 2)).toEqual(['sh', '-c']);
  const { stdout } = await run('sh', ['-c', probe[2] ?? 'false'], { env: localEnv });
  expect(stdout).toMatch(/accepting connections/);
}

let cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  cleanup = [];
});

describe.each(['dev', 'prod'] as Overlay[])('the %s overlay', (overlay) => {
  test('every service pod starts with its rendered environment and reports ready', async () => {
    const t0 = Date.now();
    const objects = await renderDeployed(overlay);
    const dir = await makeTempDir(`lf-k8s-smoke-${overlay}-`);
    const nats = await startOverlayNats(objects);
    cleanup.push(() => stopLocalNats(nats));
    const pg = await startPostgres();
    cleanup.push(() => pg.stop());
    const pods = ledgerfluxContainers(objects);
    // The simulated feed offers the products the overlay subscribes to.
    const products = (sharedConfig(objects).PRODUCTS ?? '').split(',');
    const sim = await startSimulator({ seed: 12, products });
    cleanup.push(() => sim.stop());
    const lo: Loopback = { nats, pg, sim };
    await initPostgres(objects, pg);

    // The migrate Job first, as its own pod would run: to completion, exit code 0.
    const job = pods.find((p) => p.command === 'migrate');
    if (job === undefined) throw new Error('no migrate Job');
    const jobEnv = mapEnv(
      containerEnv(objects, job.container, podsOf(job.workload)[0] as Pod).env,
      lo,
      {},
    );
    const migrate = spawnLedgerflux('migrate', job.container.args ?? [], jobEnv, dir);
    const migrated = await migrate.exited;
    expect(migrated.code, logTail(migrate.logFile)).toBe(0);

    const started: Started[] = [];
    cleanup.push(async () => {
      await Promise.all(started.map((s) => stopProcess(s.proc, 'SIGKILL', 1_000)));
    });
    for (const { workload, container, command } of pods.filter((p) => p.workload.kind !== 'Job')) {
      for (const pod of podsOf(workload)) {
        const { env, problems } = containerEnv(objects, container, pod);
        expect(problems).toEqual([]);
        expect(
          checkServiceEnv(command, env, pod.name, expansionHelpers(container)).problems,
        ).toEqual([]);
        const listenVar = command === 'gateway' ? 'GATEWAY_PORT' : 'METRICS_PORT';
        expect(env[listenVar], `${pod.name} sets ${listenVar}`).toBeDefined();
        const port = await freePort();
        const proc = spawnLedgerflux(
          pod.name,
          container.args ?? [],
          mapEnv(env, lo, { [listenVar]: port }),
          dir,
        );
        started.push({ name: pod.name, proc, port });
      }
    }
    await Promise.all(
      started.map((s) =>
        waitUntilReady(s.proc, () => ready(s.port), {
          what: `${s.name} /readyz 200`,
          timeoutMs: 90_000,
          intervalMs: 250,
        }),
      ),
    );
    const readyMs = Date.now() - t0;

    // The scrape annotation's port serves the service's metrics.
    for (const s of started) {
      const text = await (await fetch(`http://127.0.0.1:${String(s.port)}/metrics`)).text();
      expect(text, s.name).toMatch(/^ledgerflux_\w+ /m);
    }
    // Each normalizer pod took its shard from the pod-index label: durable normalizer-<k>
    // (the monitoring port lists them: no user may list consumers).
    const jsz = (await (
      await fetch(
        `http://127.0.0.1:${String(nats[0]?.http ?? 0)}/jsz?accounts=true&streams=true&consumers=true`,
      )
    ).json()) as {
      account_details?: {
        stream_detail?: { name: string; consumer_detail?: { name: string }[] }[];
      }[];
    };
    const durables = (jsz.account_details ?? [])
      .flatMap((a) => a.stream_detail ?? [])
      .filter((d) => d.name === 'MD_RAW')
      .flatMap((d) => (d.consumer_detail ?? []).map((c) => c.name));
    const shards = workloads(objects).find((w) => w.name === 'normalizer')?.replicas ?? 0;
    expect(durables.sort()).toEqual(
      Array.from({ length: shards }, (_, k) => `normalizer-${String(k)}`),
    );

    // Data flows with these roles: the feed's trades reach PostgreSQL through the
    // snapshotter (ledgerflux_snapshotter, a writer), and the gateway (ledgerflux_gateway,
    // a reader) serves them from there.
    const [product = ''] = products;
    const db = postgres(
      `postgres://postgres@127.0.0.1:${String(pg.port)}/${jobEnv.DATABASE_URL?.split('/').at(-1) ?? ''}`,
      { max: 1 },
    );
    try {
      const first = await waitFor(
        'trades committed by the snapshotter',
        async () => {
          const rows = await db<
            { trade_id: string }[]
          >`select trade_id::text from trades where product = ${product} order by trade_id limit 1`;
          return rows[0]?.trade_id;
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      const gateway = started.find((x) => x.name.startsWith('gateway'));
      const res = await fetch(
        `http://127.0.0.1:${String(gateway?.port ?? 0)}/v1/products/${product}/trades?from_id=${first}&to_id=${first}`,
      );
      expect(res.status, await res.clone().text()).toBe(200);
      const page = (await res.json()) as { trades: { trade_id: string }[] };
      expect(page.trades.map((t) => t.trade_id)).toEqual([first]);
    } finally {
      await db.end();
    }

    // The run needed nothing its users may not do: no server refused a subject so far.
    expect(await natsViolations(nats)).toEqual([]);
    // Each credential is refused what is not its job (the positive proof is the run above).
    await expectNatsRefusals(objects, nats, product);
    // The readers' logins (the gateway's, Grafana's data source) read and cannot write.
    const gatewayPod = pods.find((x) => x.command === 'gateway');
    const grafana = workloads(objects).find((w) => w.name === 'grafana');
    const grafanaC = grafana === undefined ? undefined : containersOf(grafana).main[0];
    if (gatewayPod === undefined || grafana === undefined || grafanaC === undefined)
      throw new Error('no gateway or grafana');
    const gatewayUrl = mapEnv(
      containerEnv(objects, gatewayPod.container, podsOf(gatewayPod.workload)[0] as Pod).env,
      lo,
      {},
    ).DATABASE_URL;
    const gf = containerEnv(objects, grafanaC, podsOf(grafana)[0] as Pod).env;
    const grafanaUrl = new URL(gatewayUrl ?? '');
    grafanaUrl.username = gf.LEDGERFLUX_GRAFANA_PG_USER ?? '';
    grafanaUrl.password = gf.LEDGERFLUX_GRAFANA_PG_PASSWORD ?? '';
    await expectReadOnlyLogins([gatewayUrl ?? '', grafanaUrl.toString()], product);

    // SIGTERM, as the kubelet sends it: each exits 0 within the pod's grace period.
    const exits = await Promise.all(
      started.map(async (s) => {
        const grace =
          (workloads(objects).find((w) => s.name.startsWith(w.name))?.template.spec
            ?.terminationGracePeriodSeconds ?? 30) * 1000;
        const exit = await stopProcess(s.proc, 'SIGTERM', grace);
        return { name: s.name, code: exit.code, signal: exit.signal, log: s.proc.logFile };
      }),
    );
    const unclean = exits.filter((e) => e.code !== 0);
    expect(
      unclean.map((e) => [e.name, e.code, e.signal]),
      unclean.map((e) => `--- ${e.name}\n${logTail(e.log, 40)}`).join('\n'),
    ).toEqual([]);
    // No password in any log of the run (every service's and each nats-server's).
    const logs = [
      ...(await readdir(dir)).filter((f) => f.endsWith('.log')).map((f) => path.join(dir, f)),
      ...nats.map((n) => path.join(n.dir, 'nats.log')),
    ];
    expect(logs.length).toBe(started.length + 1 + nats.length);
    await expectNoPasswordIn(logs, objects);
    console.log(
      `${overlay}: migrate + ${String(started.length)} pods (${started.map((s) => s.name).join(', ')}) ready ${String(readyMs)} ms after the render, on ${String(nats.length)} nats-server(s)`,
    );
  });
});
