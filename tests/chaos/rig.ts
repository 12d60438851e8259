import { readFile } from 'node:fs/promises';
import type { Sql } from 'postgres';
import type { ControlLogJson } from '../../services/sim/core/control-log.js';
import type { FaultsUpdate } from '../../services/sim/core/faults.js';
import { freePort } from '../harness/free-port.js';
import { startNatsCluster, type NatsCluster } from '../harness/nats-cluster.js';
import { startPostgres, type PgCluster } from '../harness/postgres.js';
import { startService, type ServiceProcess } from '../harness/service.js';
import { migratedDatabase } from '../harness/snapshot-db.js';
import { waitFor } from '../harness/wait.js';

/**
 * The whole pipeline as real processes on a 3-node JetStream cluster with R3 streams, for
 * the failover test and the soak: the simulator, the ingestor, SHARDS normalizers, the
 * snapshotter and the gateway, each given every node's URL, plus a private PostgreSQL.
 * Every process can be killed (-9) and started again on its ports.
 */

export interface ChaosRigOptions {
  products: readonly string[];
  shards: number;
  /** Simulator frames per second over all products. */
  rate: number;
  seed: number;
  faults?: FaultsUpdate;
  /** The normalizers' reorder window (see TEST_REORDER_WINDOW_MS). */
  reorderWindowMs?: number;
}

export interface RigService {
  readonly name: string;
  /** Port of /metrics and /readyz (the gateway's own port; the simulator's). */
  readonly port: number;
  pid(): number | undefined;
  running(): boolean;
  kill(): Promise<void>;
  /** SIGTERM: the service's own graceful shutdown. */
  stop(): Promise<void>;
  start(): Promise<void>;
  logTail(lines?: number): string;
  /** Logs of this and earlier incarnations (a killed one's too). */
  logFiles(): readonly string[];
}

export interface ChaosRig {
  readonly cluster: NatsCluster;
  readonly pg: PgCluster;
  readonly sql: Sql;
  readonly dbUrl: string;
  readonly services: ReadonlyMap<string, RigService>;
  service(name: string): RigService;
  simLog(): Promise<ControlLogJson>;
  setFaults(update: FaultsUpdate): Promise<void>;
  /** The text of a service's /metrics. */
  metrics(name: string): Promise<string>;
  /** For a failed run: each service's warnings and errors, and the gauges that show lag. */
  diagnose(): Promise<string>;
  gatewayWsUrl(): string;
  gatewayBase(): string;
  stop(): Promise<void>;
}

async function ready(port: number, path = '/readyz'): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${String(port)}${path}`, {
      signal: AbortSignal.timeout(2_000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

function rigService(
  name: string,
  command: string,
  port: number,
  env: () => Record<string, string>,
  args: readonly string[] = [],
  readyPath = '/readyz',
): RigService {
  let proc: ServiceProcess | undefined;
  const logs: string[] = [];
  return {
    name,
    port,
    pid: () => (proc?.proc.running() === true ? proc.proc.child.pid : undefined),
    running: () => proc?.proc.running() === true,
    kill: async () => {
      await proc?.kill();
    },
    stop: async () => {
      await proc?.stop();
    },
    start: async () => {
      if (proc?.proc.running() === true) return;
      proc = await startService(command, env(), args);
      logs.push(proc.logFile);
      const p = proc;
      let exited = false;
      void p.proc.exited.then(() => (exited = true));
      await waitFor(
        `${name} ready on :${String(port)}`,
        async () => {
          if (exited) throw new Error(`${name} exited:\n${p.logTail(30)}`);
          return ready(port, readyPath);
        },
        { timeoutMs: 90_000, intervalMs: 200 },
      );
    },
    logTail: (lines = 30) => proc?.logTail(lines) ?? '',
    logFiles: () => logs,
  };
}

export async function startChaosRig(o: ChaosRigOptions): Promise<ChaosRig> {
  const [cluster, pg] = await Promise.all([startNatsCluster(3), startPostgres()]);
  const dbUrl = await pg.createDatabase();
  const natsUrl = cluster.urls.join(',');
  const products = o.products.join(',');
  const common = {
    NATS_URL: natsUrl,
    PRODUCTS: products,
    SHARDS: String(o.shards),
    JS_REPLICAS: '3',
    LOG_LEVEL: 'info',
  };
  // The privileged step, as in production: streams R3, the KV bucket, the SQL schema.
  const migrate = await startService('migrate', { ...common, DATABASE_URL: dbUrl });
  const migrated = await migrate.proc.exited;
  if (migrated.code !== 0) throw new Error(`migrate failed:\n${migrate.logTail(40)}`);
  const sql = await migratedDatabase(dbUrl);

  const simPort = await freePort();
  const services = new Map<string, RigService>();
  const add = (s: RigService) => services.set(s.name, s);
  const faults = o.faults === undefined ? [] : ['--faults', JSON.stringify(o.faults)];
  add(
    rigService(
      'sim',
      'sim',
      simPort,
      () => ({ LOG_LEVEL: 'info', PRODUCTS: products }),
      [
        '--host',
        '127.0.0.1',
        '--port',
        String(simPort),
        '--seed',
        String(o.seed),
        '--rate',
        String(o.rate),
        ...faults,
      ],
      '/healthz',
    ),
  );
  const ingestorPort = await freePort();
  add(
    rigService('ingestor', 'ingestor', ingestorPort, () => ({
      ...common,
      COINBASE_WS_URL: `ws://127.0.0.1:${String(simPort)}`,
      METRICS_PORT: String(ingestorPort),
    })),
  );
  for (let k = 0; k < o.shards; k++) {
    const port = await freePort();
    add(
      rigService(`normalizer-${String(k)}`, 'normalizer', port, () => ({
        ...common,
        SHARD: String(k),
        METRICS_PORT: String(port),
        REORDER_WINDOW_MS: String(o.reorderWindowMs ?? 2_000),
      })),
    );
  }
  const snapPort = await freePort();
  add(
    rigService('snapshotter', 'snapshotter', snapPort, () => ({
      ...common,
      DATABASE_URL: dbUrl,
      METRICS_PORT: String(snapPort),
      BATCH_MS: '100',
    })),
  );
  const gwPort = await freePort();
  add(
    rigService('gateway', 'gateway', gwPort, () => ({
      ...common,
      DATABASE_URL: dbUrl,
      GATEWAY_PORT: String(gwPort),
      GATEWAY_HOST: '127.0.0.1',
      // A gateway is ready once it has replayed this much of MD_NORM into its resume ring:
      // one minute instead of five keeps a restart in the soak to seconds. Older resumes
      // go through the history readers, which this exercises too.
      RESUME_MAX_AGE_MS: '60000',
    })),
  );

  const rig: ChaosRig = {
    cluster,
    pg,
    sql,
    dbUrl,
    services,
    service: (name) => {
      const s = services.get(name);
      if (s === undefined) throw new Error(`no service ${name}`);
      return s;
    },
    simLog: async () => {
      const res = await fetch(`http://127.0.0.1:${String(simPort)}/control/log`);
      return (await res.json()) as ControlLogJson;
    },
    setFaults: async (update) => {
      const res = await fetch(`http://127.0.0.1:${String(simPort)}/control/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(update),
      });
      if (!res.ok) throw new Error(`faults: ${String(res.status)} ${await res.text()}`);
    },
    metrics: async (name) => {
      const res = await fetch(`http://127.0.0.1:${String(rig.service(name).port)}/metrics`);
      return res.text();
    },
    diagnose: async () => {
      const out: string[] = [];
      for (const s of services.values()) {
        const text = await rig.metrics(s.name).catch(() => '');
        const gauges = text
          .split('\n')
          .filter(
            (l) =>
              /_(lag_messages|ack_pending_messages|nats_connected|restarts_total|recreated_total)/.test(
                l,
              ) && !l.startsWith('#'),
          );
        const lines: string[] = [];
        for (const f of s.logFiles()) {
          const log = await readFile(f, 'utf8').catch(() => '');
          lines.push(
            ...log
              .split('\n')
              .filter((l) => /"level":(40|50|60)/.test(l))
              .slice(-15),
          );
        }
        out.push(
          `--- ${s.name} (pid ${String(s.pid())})`,
          ...gauges,
          ...lines.map((l) => l.slice(0, 400)),
        );
      }
      return out.join('\n');
    },
    gatewayWsUrl: () => `ws://127.0.0.1:${String(gwPort)}/ws`,
    gatewayBase: () => `http://127.0.0.1:${String(gwPort)}`,
    stop: async () => {
      for (const s of [...services.values()].reverse()) await s.kill().catch(() => undefined);
      await sql.end({ timeout: 1 }).catch(() => undefined);
      await cluster.stop().catch(() => undefined);
      await pg.stop().catch(() => undefined);
    },
  };
  // Consumers before producers: nothing queues up behind a service still starting.
  await Promise.all(
    [...services.values()]
      .filter((s) => s.name !== 'sim' && s.name !== 'ingestor')
      .map((s) => s.start()),
  );
  await rig.service('sim').start();
  await rig.service('ingestor').start();
  return rig;
}

/** One sample of a process's resident set size in KiB, or undefined when it is gone. */
export async function rssKib(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const status = await readFile(`/proc/${String(pid)}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** A counter's value summed over its label sets, from /metrics text. */
export function counterValue(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}
