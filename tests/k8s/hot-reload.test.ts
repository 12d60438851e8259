import { execFile } from 'node:child_process';
import { appendFile, copyFile, cp, mkdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, expect, test } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { ensureTopology } from '../../services/common/topology.js';
import { freePort } from '../harness/free-port.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import {
  logTail,
  makeTempDir,
  spawnTracked,
  stopProcess,
  type TrackedProcess,
} from '../harness/processes.js';
import { waitFor } from '../harness/wait.js';
import { containerEnv, podsOf, type Pod } from './env.js';
import { containersOf, renderOverlay, ROOT, workloads } from './render.js';
import { artifactsOf, readSkaffold, withProfile } from './skaffold.js';

/**
 * The dev overlay's hot-reload loop, played on this machine with a normalizer pod: the
 * dev image's /app (its Dockerfile stage: package.json, node_modules, tsconfig.json,
 * services/) is a temp dir; the pod's `hot-reload` emptyDir is that dir's services/, which
 * starts empty and is filled by the initContainer's own command; the container runs the
 * dev stage's ENTRYPOINT with the pod's args and environment (NATS mapped to a loopback
 * server). Then a file is written where skaffold's sync rule puts it, and the service must
 * restart from it. Paths are the only rewrite: /app → the temp dir.
 */

const run = promisify(execFile);

let cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  cleanup = [];
});

/** The dev stage's ENTRYPOINT and WORKDIR from docker/Dockerfile. */
async function devStage(): Promise<{ entrypoint: string[]; workdir: string }> {
  const dockerfile = await readFile(path.join(ROOT, 'docker/Dockerfile'), 'utf8');
  const workdir = /^WORKDIR\s+(\S+)$/m.exec(dockerfile)?.[1];
  const dev = dockerfile.slice(dockerfile.search(/^FROM\s+\S+\s+AS\s+dev$/m));
  const entry = /^ENTRYPOINT\s+(\[.*\])$/m.exec(dev)?.[1];
  if (workdir === undefined || entry === undefined) throw new Error('no WORKDIR or dev ENTRYPOINT');
  return { entrypoint: JSON.parse(entry) as string[], workdir };
}

test('a file synced to the dev pod restarts its service from the seeded emptyDir', async () => {
  const objects = await renderOverlay('dev');
  const w = workloads(objects).find((x) => x.name === 'normalizer');
  const main = w === undefined ? undefined : containersOf(w).main[0];
  const seed = w === undefined ? undefined : containersOf(w).init[0];
  if (w === undefined || main === undefined || seed === undefined)
    throw new Error('no normalizer pod');
  const { entrypoint, workdir } = await devStage();
  const [rule] = artifactsOf(withProfile(readSkaffold(), 'dev')).flatMap(
    (a) => a.sync?.manual ?? [],
  );
  if (rule === undefined) throw new Error('no sync rule');

  // The image's /app, and the pod's volumes.
  const dir = await makeTempDir('lf-k8s-hot-reload-');
  const image = path.join(dir, 'image');
  const app = (p: string) => p.replace(/^\/app(?=\/|$)/, image);
  await mkdir(image);
  await copyFile(path.join(ROOT, 'package.json'), path.join(image, 'package.json'));
  await copyFile(path.join(ROOT, 'tsconfig.json'), path.join(image, 'tsconfig.json'));
  await symlink(path.join(ROOT, 'node_modules'), path.join(image, 'node_modules'));
  const imageServices = path.join(dir, 'image-services');
  await cp(path.join(ROOT, 'services'), imageServices, { recursive: true });
  const hotReload = main.volumeMounts?.find((m) => m.name === 'hot-reload');
  const tmpMount = main.volumeMounts?.find((m) => m.name === 'tmp');
  expect(hotReload?.mountPath).toBe(rule.dest);
  expect(tmpMount?.mountPath).toBe('/tmp');
  // The emptyDir mounted over /app/services: empty until the initContainer runs.
  const volume = app(hotReload?.mountPath ?? '');
  await mkdir(volume);
  const tmp = path.join(dir, 'tmp');
  await mkdir(tmp);

  // The initContainer's command, reading the image's sources, writing its mount of the volume.
  const seedMount = seed.volumeMounts?.find((m) => m.name === 'hot-reload')?.mountPath ?? '';
  const [cmd = '', ...seedArgs] = seed.command ?? [];
  const rewritten = seedArgs.map((a) =>
    a.startsWith(`${rule.dest}/`)
      ? a.replace(rule.dest, imageServices)
      : a.replace(seedMount, volume),
  );
  expect(rewritten).toEqual(['-a', `${imageServices}/.`, `${volume}/`]);
  await run(cmd, rewritten);

  const nats: NatsServer = await startNats();
  cleanup.push(() => nats.stop());
  const nc = await connectNats({
    servers: [nats.url],
    name: 'k8s-hot-reload',
    log: createLogger('t', 'silent'),
  });
  await ensureTopology(nc, { replicas: 1 });
  await nc.close();

  const pod = podsOf(w)[0] as Pod;
  const { env, problems } = containerEnv(objects, main, pod);
  expect(problems).toEqual([]);
  const port = await freePort();
  const [program = '', ...programArgs] = entrypoint.map(app);
  const proc: TrackedProcess = spawnTracked({
    name: `${pod.name} (tsx watch)`,
    command: program,
    args: [...programArgs, ...(main.args ?? [])],
    logFile: path.join(dir, 'pod.log'),
    cwd: app(workdir),
    env: {
      PATH: process.env.PATH,
      ...env,
      NATS_URL: nats.url,
      METRICS_PORT: String(port),
      TMPDIR: tmp,
    },
  });
  cleanup.push(() => stopProcess(proc, 'SIGKILL', 1_000));
  const readyLines = async () =>
    (await readFile(proc.logFile, 'utf8')).split('\n').filter((l) => l.includes('"msg":"ready"'))
      .length;
  await waitFor('the normalizer ready under tsx watch', async () => (await readyLines()) >= 1, {
    timeoutMs: 90_000,
    intervalMs: 250,
  }).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${logTail(proc.logFile)}`);
  });

  // skaffold sync: services/normalizer/main.ts lands at dest + the path without `strip`.
  const changed = 'services/normalizer/main.ts';
  const target = app(path.posix.join(rule.dest, changed.slice(rule.strip?.length ?? 0)));
  expect(target).toBe(path.join(volume, 'normalizer/main.ts'));
  const t0 = Date.now();
  await appendFile(target, '\n// synced by the hot-reload test\n');
  await waitFor('a restart from the synced file', async () => (await readyLines()) >= 2, {
    timeoutMs: 90_000,
    intervalMs: 250,
  }).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${logTail(proc.logFile)}`);
  });
  const res = await fetch(`http://127.0.0.1:${String(port)}/readyz`);
  expect(res.status).toBe(200);
  console.log(
    `hot reload: normalizer ready again ${String(Date.now() - t0)} ms after the synced change`,
  );
  const exit = await stopProcess(proc, 'SIGTERM', 30_000);
  expect(exit.signal).toBeNull();
});
