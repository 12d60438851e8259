import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, test } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { ensureTopology, streamConfigs } from '../../services/common/topology.js';
import { natsServerBinary } from '../harness/binaries.js';
import { freePort } from '../harness/free-port.js';
import {
  makeTempDir,
  spawnTracked,
  stopProcess,
  waitUntilReady,
  type TrackedProcess,
} from '../harness/processes.js';
import { waitFor } from '../harness/wait.js';
import { natsConf } from './checks.js';
import { containerEnv, podsOf, sharedConfig } from './env.js';
import { containersOf, renderOverlay, workloads, type K8sObject, type Overlay } from './render.js';

/**
 * Each overlay's nats.conf, taken from its rendered ConfigMap, run by the real nats-server
 * (Debian's 2.9, the oldest the manifests must satisfy). Only what cannot exist on this
 * machine is rewritten: listen addresses to free loopback ports, the store and pid file to
 * a temp dir, route hosts to the other servers' loopback ports. Anything else in the file
 * (max_payload, JetStream limits, lame duck, cluster name, $POD_NAME) runs as shipped.
 */

interface Server {
  pod: string;
  dir: string;
  client: number;
  http: number;
  cluster: number;
  proc?: TrackedProcess;
}

/** Rewrites one line matching `pattern`; a file that does not have it fails the test. */
function rewriteOnce(conf: string, pattern: RegExp, replacement: string): string {
  const matches = conf.match(new RegExp(pattern.source, 'gm'));
  if (matches?.length !== 1) throw new Error(`expected one line matching ${String(pattern)}, got ${String(matches?.length ?? 0)}`);
  return conf.replace(new RegExp(pattern.source, 'm'), replacement);
}

function localConf(conf: string, self: Server, all: readonly Server[]): string {
  let out = conf;
  out = rewriteOnce(out, /^listen: 0\.0\.0\.0:4222$/, `listen: 127.0.0.1:${String(self.client)}`);
  out = rewriteOnce(out, /^http: 0\.0\.0\.0:8222$/, `http: 127.0.0.1:${String(self.http)}`);
  out = rewriteOnce(out, /^pid_file: \/var\/run\/nats\/nats\.pid$/, `pid_file: ${JSON.stringify(path.join(self.dir, 'nats.pid'))}`);
  out = rewriteOnce(out, /^ {2}store_dir: \/data$/, `  store_dir: ${JSON.stringify(path.join(self.dir, 'store'))}`);
  if (all.length > 1) {
    out = rewriteOnce(out, /^ {2}listen: 0\.0\.0\.0:6222$/, `  listen: 127.0.0.1:${String(self.cluster)}`);
    for (const [i, s] of all.entries()) {
      out = rewriteOnce(
        out,
        new RegExp(`^ {4}nats://nats-${String(i)}\\.nats-headless\\.ledgerflux\\.svc\\.cluster\\.local:6222$`),
        `    nats://127.0.0.1:${String(s.cluster)}`,
      );
    }
  }
  return out;
}

async function healthz(s: Server): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${String(s.http)}/healthz?js-enabled-only=true`, {
      signal: AbortSignal.timeout(1_000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

async function varz(s: Server): Promise<{ server_name: string; max_payload: number; version: string }> {
  const res = await fetch(`http://127.0.0.1:${String(s.http)}/varz`);
  return (await res.json()) as { server_name: string; max_payload: number; version: string };
}

let started: Server[] = [];

afterEach(async () => {
  await Promise.all(started.map((s) => (s.proc === undefined ? undefined : stopProcess(s.proc, 'SIGTERM'))));
  started = [];
});

/** Starts the overlay's NATS pods as local processes: its file, its pods' environment. */
async function startOverlayNats(objects: K8sObject[]): Promise<Server[]> {
  const sts = workloads(objects).find((w) => w.name === 'nats');
  const container = sts === undefined ? undefined : containersOf(sts).main[0];
  if (sts === undefined || container === undefined) throw new Error('no StatefulSet/nats');
  const conf = natsConf(objects);
  const pods = podsOf(sts);
  const servers: Server[] = [];
  for (const pod of pods) {
    servers.push({
      pod: pod.name,
      dir: await makeTempDir(`lf-k8s-${pod.name}-`),
      client: await freePort(),
      http: await freePort(),
      cluster: await freePort(),
    });
  }
  started = servers;
  for (const [i, s] of servers.entries()) {
    const file = path.join(s.dir, 'nats.conf');
    await writeFile(file, localConf(conf, s, servers));
    const { env, problems } = containerEnv(objects, container, pods[i] as (typeof pods)[number]);
    expect(problems).toEqual([]);
    // The container's args, with the config path moved: `--config /etc/nats/nats.conf`.
    const args = (container.args ?? []).map((a) => (a === '/etc/nats/nats.conf' ? file : a));
    expect(args).toEqual(['--config', file]);
    s.proc = spawnTracked({
      name: `nats-server ${s.pod}`,
      command: natsServerBinary(),
      args,
      logFile: path.join(s.dir, 'nats.log'),
      cwd: s.dir,
      env: { PATH: process.env.PATH, ...env },
    });
  }
  await Promise.all(
    servers.map((s) =>
      waitUntilReady(s.proc as TrackedProcess, () => healthz(s), {
        what: 'JetStream-ready /healthz',
        timeoutMs: 60_000,
        intervalMs: 100,
      }),
    ),
  );
  return servers;
}

describe.each(['dev', 'prod'] as Overlay[])('nats.conf of the %s overlay', (overlay) => {
  test('the real nats-server serves JetStream with it, and takes the streams at JS_REPLICAS', async () => {
    const objects = await renderOverlay(overlay);
    const replicas = Number(sharedConfig(objects).JS_REPLICAS);
    const servers = await startOverlayNats(objects);
    for (const s of servers) {
      const v = await varz(s);
      expect(v.server_name).toBe(s.pod); // $POD_NAME from the downward API
      expect(v.max_payload).toBe(8 * 1024 * 1024);
    }
    const log = createLogger('k8s-test', 'silent');
    // The services' own connect: it refuses a server whose max_payload is below 8 MiB.
    const nc = await connectNats({
      servers: servers.map((s) => `nats://127.0.0.1:${String(s.client)}`),
      name: 'k8s-test',
      log,
    });
    try {
      // What the migrate Job runs: every stream and the KV bucket at the overlay's replicas
      // (a cluster first elects its meta leader: retry until it answers).
      await waitFor('the JetStream topology', async () => {
        await ensureTopology(nc, { replicas });
        return true;
      }, { timeoutMs: 60_000, intervalMs: 500 });
      const jsm = await jetstreamManager(nc);
      for (const cfg of streamConfigs({ replicas })) {
        const info = await waitFor(`${cfg.name} with its replicas current`, async () => {
          const i = await jsm.streams.info(cfg.name);
          const peers = i.cluster?.replicas ?? [];
          return peers.length === replicas - 1 && peers.every((p) => p.current) ? i : undefined;
        }, { timeoutMs: 60_000, intervalMs: 250 });
        expect(info.config.num_replicas).toBe(replicas);
      }
      console.log(
        `${overlay}: ${String(servers.length)} nats-server ${(await varz(servers[0] as Server)).version}, streams at R${String(replicas)}`,
      );
    } finally {
      await nc.close();
    }
  });
});

test("the preStop hook puts the server into lame-duck mode and it exits by itself", async () => {
  const objects = await renderOverlay('dev');
  const [server] = await startOverlayNats(objects);
  if (server?.proc === undefined) throw new Error('not started');
  const sts = workloads(objects).find((w) => w.name === 'nats');
  const hook = sts === undefined ? undefined : containersOf(sts).main[0]?.lifecycle?.preStop?.exec?.command;
  expect(hook?.slice(0, 2)).toEqual(['sh', '-c']);
  // The hook's signal command, pid path moved; the `sleep` only holds off the kubelet.
  const script = hook?.[2] ?? '';
  const signal = /^nats-server --signal ldm=\/var\/run\/nats\/nats\.pid && sleep \d+$/.exec(script);
  expect(signal, script).not.toBeNull();
  const started = Date.now();
  const proc = spawnTracked({
    name: 'preStop',
    command: natsServerBinary(),
    args: ['--signal', `ldm=${path.join(server.dir, 'nats.pid')}`],
    logFile: path.join(server.dir, 'prestop.log'),
  });
  expect((await proc.exited).code).toBe(0);
  const exit = await server.proc.exited;
  console.log(`lame duck: nats-server exited (code ${String(exit.code)}) ${String(Date.now() - started)} ms after the hook`);
  expect(exit.code).toBe(0);
});
