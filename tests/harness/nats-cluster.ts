import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { natsServerBinary } from './binaries.js';
import { freePort } from './free-port.js';
import {
  makeTempDir,
  removeTempDir,
  spawnTracked,
  stopProcess,
  waitUntilReady,
  type TrackedProcess,
} from './processes.js';
import { waitFor } from './wait.js';

/**
 * A JetStream cluster of nats-server processes on loopback (the chaos tests): distinct
 * server names, store dirs, client, monitoring and route ports, `max_payload: 8MB`, and the
 * shortest lame-duck period the server allows.
 */

export interface ClusterNode {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
  pid(): number | undefined;
  running(): boolean;
  /** Signal (SIGKILL by default) and wait for the exit; the store survives for start(). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Lame duck (SIGUSR2): clients are moved away, then the server exits by itself. */
  lameDuck(): Promise<void>;
  /** Start again on the same ports and store; waits until JetStream is enabled. */
  start(): Promise<void>;
}

export interface NatsCluster {
  readonly nodes: readonly ClusterNode[];
  /** Every node's client URL, for NATS_URL. */
  readonly urls: string[];
  node(name: string): ClusterNode;
  /** The server name of a stream's leader, asked through any live node. */
  streamLeader(stream: string): Promise<string>;
  /** Until every stream has a leader and all its replicas are current. */
  waitHealthy(streams: readonly string[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

interface NodeLayout {
  name: string;
  port: number;
  httpPort: number;
  clusterPort: number;
  dir: string;
  configFile: string;
  logFile: string;
}

/**
 * Lame duck: 30 s is nats-server's minimum (default 2 min); clients are closed over the
 * part after the 2 s grace period, then the server exits by itself.
 */
const LAME_DUCK = ['lame_duck_duration: 30s', 'lame_duck_grace_period: 2s'];

function renderConfig(me: NodeLayout, all: readonly NodeLayout[]): string {
  const routes = all
    .filter((n) => n !== me)
    .map((n) => `    nats-route://127.0.0.1:${String(n.clusterPort)}`);
  return [
    `server_name: ${me.name}`,
    `listen: 127.0.0.1:${String(me.port)}`,
    `http: 127.0.0.1:${String(me.httpPort)}`,
    'max_payload: 8MB',
    ...LAME_DUCK,
    'jetstream {',
    `  store_dir: ${JSON.stringify(path.join(me.dir, 'store'))}`,
    '  max_memory_store: 256MB',
    '  max_file_store: 16GB',
    '}',
    'cluster {',
    '  name: lf_chaos',
    `  listen: 127.0.0.1:${String(me.clusterPort)}`,
    '  routes: [',
    ...routes,
    '  ]',
    '}',
    '',
  ].join('\n');
}

async function healthy(httpPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${String(httpPort)}/healthz?js-enabled-only=true`, {
      signal: AbortSignal.timeout(1_000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  const layouts: NodeLayout[] = [];
  for (let i = 1; i <= size; i++) {
    const dir = await makeTempDir(`lf-chaos-n${String(i)}-`);
    layouts.push({
      name: `n${String(i)}`,
      port: await freePort(),
      httpPort: await freePort(),
      clusterPort: await freePort(),
      dir,
      configFile: path.join(dir, 'nats.conf'),
      logFile: path.join(dir, 'nats.log'),
    });
  }
  for (const l of layouts) await writeFile(l.configFile, renderConfig(l, layouts));

  const nodes = layouts.map((l): ClusterNode => {
    let proc: TrackedProcess | undefined;
    const launch = async (): Promise<void> => {
      if (proc?.running() === true) return;
      proc = spawnTracked({
        name: `nats-server ${l.name}`,
        command: natsServerBinary(),
        args: ['-c', l.configFile],
        logFile: l.logFile,
        cwd: l.dir,
      });
      // Not "JetStream ready": that waits for a meta leader, which needs a quorum.
      await waitUntilReady(proc, () => healthy(l.httpPort), {
        what: 'JetStream-enabled /healthz',
        timeoutMs: 30_000,
        intervalMs: 50,
      });
    };
    return {
      name: l.name,
      url: `nats://127.0.0.1:${String(l.port)}`,
      port: l.port,
      logFile: l.logFile,
      pid: () => (proc?.running() === true ? proc.child.pid : undefined),
      running: () => proc?.running() === true,
      kill: async (signal = 'SIGKILL') => {
        if (proc === undefined) return;
        await stopProcess(proc, signal);
      },
      lameDuck: async () => {
        if (proc === undefined) return;
        proc.signal('SIGUSR2');
        await proc.exited;
      },
      start: launch,
    };
  });

  // /healthz?js-enabled-only answers once the node is up, before the cluster formed: the
  // nodes start together (a lone node cannot elect a meta leader).
  await Promise.all(nodes.map((n) => n.start()));
  const urls = nodes.map((n) => n.url);
  const admin = await connect({
    servers: urls,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    name: 'chaos-admin',
  });

  const streamInfo = async (stream: string) => {
    const jsm = await jetstreamManager(admin, { timeout: 3_000 });
    return jsm.streams.info(stream);
  };

  const cluster: NatsCluster = {
    nodes,
    urls,
    node: (name) => {
      const n = nodes.find((x) => x.name === name);
      if (n === undefined) throw new Error(`no cluster node ${name}`);
      return n;
    },
    streamLeader: async (stream) =>
      waitFor(
        `a leader of ${stream}`,
        async () => (await streamInfo(stream)).cluster?.leader ?? false,
        { timeoutMs: 30_000, intervalMs: 200 },
      ),
    waitHealthy: async (streams, timeoutMs = 60_000) => {
      for (const stream of streams) {
        await waitFor(
          `${stream} led with every replica current`,
          async () => {
            const c = (await streamInfo(stream)).cluster;
            if (c?.leader === undefined) return false;
            const replicas = c.replicas ?? [];
            return replicas.length === nodes.length - 1 && replicas.every((r) => r.current);
          },
          { timeoutMs, intervalMs: 250 },
        );
      }
    },
    stop: async () => {
      await admin.close().catch(() => undefined);
      await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
      await Promise.all(layouts.map((l) => removeTempDir(l.dir)));
    },
  };
  // The meta leader: JetStream answers API requests only once one is elected.
  await waitFor(
    'a JetStream meta leader',
    async () => {
      const jsm = await jetstreamManager(admin, { timeout: 2_000 });
      await jsm.getAccountInfo();
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  return cluster;
}
