import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, test } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { ensureTopology, streamConfigs } from '../../services/common/topology.js';
import { natsServerBinary } from '../harness/binaries.js';
import { spawnTracked } from '../harness/processes.js';
import { waitFor } from '../harness/wait.js';
import { jetstreamLimits, natsConf } from './checks.js';
import { sharedConfig } from './env.js';
import {
  clientUrls,
  startOverlayNats,
  stopLocalNats,
  varz,
  type LocalNatsServer,
} from './local-nats.js';
import { natsLoginOf } from './credentials.js';
import { containersOf, renderDeployed, workloads, type Overlay } from './render.js';

/** Each overlay's nats.conf accepted and served by the real nats-server (local-nats.ts). */

let started: LocalNatsServer[] = [];

afterEach(async () => {
  await stopLocalNats(started);
  started = [];
});

describe.each(['dev', 'prod'] as Overlay[])('nats.conf of the %s overlay', (overlay) => {
  test('the real nats-server serves JetStream with it, and takes the streams at JS_REPLICAS', async () => {
    const objects = await renderDeployed(overlay);
    const replicas = Number(sharedConfig(objects).JS_REPLICAS);
    const servers = await startOverlayNats(objects);
    started = servers;
    for (const s of servers) {
      const v = await varz(s);
      expect(v.server_name).toBe(s.pod); // $POD_NAME from the downward API
      expect(v.max_payload).toBe(8 * 1024 * 1024);
      // The file store the server actually took is what the storage check computed.
      expect(v.jetstream?.config?.max_storage).toBe(jetstreamLimits(natsConf(objects)).file);
    }
    const log = createLogger('k8s-test', 'silent');
    // The services' own connect (it refuses a server whose max_payload is below 8 MiB),
    // with the migrate Job's credentials: the only user that may create streams.
    const nc = await connectNats({
      servers: clientUrls(servers),
      name: 'k8s-test',
      log,
      ...natsLoginOf(objects, 'migrate'),
    });
    try {
      // What the migrate Job runs: every stream and the KV bucket at the overlay's replicas
      // (a cluster first elects its meta leader: retry until it answers).
      await waitFor(
        'the JetStream topology',
        async () => {
          await ensureTopology(nc, { replicas });
          return true;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      const jsm = await jetstreamManager(nc);
      for (const cfg of streamConfigs({ replicas })) {
        const info = await waitFor(
          `${cfg.name} with its replicas current`,
          async () => {
            const i = await jsm.streams.info(cfg.name);
            const peers = i.cluster?.replicas ?? [];
            return peers.length === replicas - 1 && peers.every((p) => p.current) ? i : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 250 },
        );
        expect(info.config.num_replicas).toBe(replicas);
      }
      console.log(
        `${overlay}: ${String(servers.length)} nats-server ${(await varz(servers[0] as LocalNatsServer)).version}, streams at R${String(replicas)}`,
      );
    } finally {
      await nc.close();
    }
  });
});

test('the preStop hook puts the server into lame-duck mode and it exits by itself', async () => {
  const objects = await renderDeployed('dev');
  started = await startOverlayNats(objects);
  const [server] = started;
  if (server?.proc === undefined) throw new Error('not started');
  const sts = workloads(objects).find((w) => w.name === 'nats');
  const hook =
    sts === undefined ? undefined : containersOf(sts).main[0]?.lifecycle?.preStop?.exec?.command;
  expect(hook?.slice(0, 2)).toEqual(['sh', '-c']);
  // The hook's signal command, pid path moved; the `sleep` only holds off the kubelet.
  const script = hook?.[2] ?? '';
  const signal = /^nats-server --signal ldm=\/var\/run\/nats\/nats\.pid && sleep \d+$/.exec(script);
  expect(signal, script).not.toBeNull();
  const t0 = Date.now();
  const proc = spawnTracked({
    name: 'preStop',
    command: natsServerBinary(),
    args: ['--signal', `ldm=${path.join(server.dir, 'nats.pid')}`],
    logFile: path.join(server.dir, 'prestop.log'),
  });
  expect((await proc.exited).code).toBe(0);
  const exit = await server.proc.exited;
  console.log(
    `lame duck: nats-server exited (code ${String(exit.code)}) ${String(Date.now() - t0)} ms after the hook`,
  );
  expect(exit.code).toBe(0);
});
