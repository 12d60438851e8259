import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { natsServerBinary } from '../harness/binaries.js';
import { freePort } from '../harness/free-port.js';
import {
  makeTempDir,
  spawnTracked,
  stopProcess,
  waitUntilReady,
  type TrackedProcess,
} from '../harness/processes.js';
import { natsConfigFiles } from './checks.js';
import { containerEnv, podsOf } from './env.js';
import { containersOf, workloads, type K8sObject } from './render.js';

/**
 * An overlay's NATS pods as local processes: its nats.conf and the files beside it (the
 * users of auth.conf), taken from the rendered ConfigMap, run by the real nats-server (Debian's 2.9, the oldest the manifests must
 * satisfy) with the pods' environment. Only what cannot exist on this machine is
 * rewritten: listen addresses to free loopback ports, the store and pid file to a temp
 * dir, route hosts to the other servers' loopback ports. Anything else in the file
 * (max_payload, JetStream limits, lame duck, cluster name, $POD_NAME, the users and their
 * $NATS_PASSWORD_<USER> from the pod's Secret) runs as shipped.
 */

export interface LocalNatsServer {
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
  if (matches?.length !== 1)
    throw new Error(
      `expected one line matching ${String(pattern)}, got ${String(matches?.length ?? 0)}`,
    );
  return conf.replace(new RegExp(pattern.source, 'm'), replacement);
}

function localConf(conf: string, self: LocalNatsServer, all: readonly LocalNatsServer[]): string {
  let out = conf;
  out = rewriteOnce(out, /^listen: 0\.0\.0\.0:4222$/, `listen: 127.0.0.1:${String(self.client)}`);
  out = rewriteOnce(out, /^http: 0\.0\.0\.0:8222$/, `http: 127.0.0.1:${String(self.http)}`);
  out = rewriteOnce(
    out,
    /^pid_file: \/var\/run\/nats\/nats\.pid$/,
    `pid_file: ${JSON.stringify(path.join(self.dir, 'nats.pid'))}`,
  );
  out = rewriteOnce(
    out,
    /^ {2}store_dir: \/data$/,
    `  store_dir: ${JSON.stringify(path.join(self.dir, 'store'))}`,
  );
  if (all.length > 1) {
    out = rewriteOnce(
      out,
      /^ {2}listen: 0\.0\.0\.0:6222$/,
      `  listen: 127.0.0.1:${String(self.cluster)}`,
    );
    for (const [i, s] of all.entries()) {
      out = rewriteOnce(
        out,
        new RegExp(
          `^ {4}nats://nats-${String(i)}\\.nats-headless\\.ledgerflux\\.svc\\.cluster\\.local:6222$`,
        ),
        `    nats://127.0.0.1:${String(s.cluster)}`,
      );
    }
  }
  return out;
}

async function healthz(s: LocalNatsServer): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${String(s.http)}/healthz?js-enabled-only=true`, {
      signal: AbortSignal.timeout(1_000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

export interface Varz {
  server_name: string;
  max_payload: number;
  version: string;
  jetstream?: { config?: { max_storage?: number; max_memory?: number } };
}

export async function varz(s: LocalNatsServer): Promise<Varz> {
  const res = await fetch(`http://127.0.0.1:${String(s.http)}/varz`);
  return (await res.json()) as Varz;
}

/** Starts the overlay's NATS pods as local processes: its file, its pods' environment. */
export async function startOverlayNats(objects: K8sObject[]): Promise<LocalNatsServer[]> {
  const sts = workloads(objects).find((w) => w.name === 'nats');
  const container = sts === undefined ? undefined : containersOf(sts).main[0];
  if (sts === undefined || container === undefined) throw new Error('no StatefulSet/nats');
  const files = natsConfigFiles(objects);
  const conf = files['nats.conf'];
  if (conf === undefined) throw new Error('no nats.conf in the NATS ConfigMap');
  const pods = podsOf(sts);
  const servers: LocalNatsServer[] = [];
  for (const pod of pods) {
    servers.push({
      pod: pod.name,
      dir: await makeTempDir(`lf-k8s-${pod.name}-`),
      client: await freePort(),
      http: await freePort(),
      cluster: await freePort(),
    });
  }
  for (const [i, s] of servers.entries()) {
    // The whole ConfigMap, as mounted: nats.conf includes its neighbours (auth.conf).
    for (const [name, text] of Object.entries(files))
      if (name !== 'nats.conf') await writeFile(path.join(s.dir, name), text);
    const file = path.join(s.dir, 'nats.conf');
    await writeFile(file, localConf(conf, s, servers));
    const { env, problems } = containerEnv(objects, container, pods[i] as (typeof pods)[number]);
    if (problems.length > 0) throw new Error(problems.join('\n'));
    // The container's args, with the config path moved: `--config /etc/nats/nats.conf`.
    const args = (container.args ?? []).map((a) => (a === '/etc/nats/nats.conf' ? file : a));
    if (args.join(' ') !== `--config ${file}`)
      throw new Error(`unexpected nats args ${args.join(' ')}`);
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

/** SIGTERM every server and wait for them. */
export async function stopLocalNats(servers: readonly LocalNatsServer[]): Promise<void> {
  await Promise.all(
    servers.flatMap((s) => (s.proc === undefined ? [] : [stopProcess(s.proc, 'SIGTERM')])),
  );
}

export const clientUrls = (servers: readonly LocalNatsServer[]): string[] =>
  servers.map((s) => `nats://127.0.0.1:${String(s.client)}`);
