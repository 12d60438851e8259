/**
 * The container image run for real (`make image-test` builds it first): the ingestor,
 * a normalizer and the gateway, each a container of the one image, against the harness's
 * nats-server and the simulator on 127.0.0.1 (podman's host network). They report ready,
 * data flows from the simulator through MD_RAW and MD_NORM to a WebSocket client, every
 * process is unprivileged, and `podman stop` ends each by SIGTERM with exit code 0. The
 * dev image reloads a service when a synced source file changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LedgerFluxClient } from '../../services/client/client.js';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { expandRanges } from '../../services/sim/core/ranges.js';
import { startSimulator, type Simulator } from '../../services/sim/server.js';
import { freePort } from '../harness/free-port.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { readStream } from '../harness/streams.js';
import { waitFor } from '../harness/wait.js';
import { DEV_IMAGE, IMAGE, podman, runOnce, startContainer, type Container } from './podman.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD'];
const PREFIX = `lf-image-test-${String(process.pid)}`;
/** Readiness can take a while on two shared cores: Node starts, connects, verifies streams. */
const READY_MS = 90_000;

async function status(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

async function waitReady(c: Container, url: string): Promise<void> {
  try {
    await waitFor(`${c.name} ${url} = 200`, async () => (await status(url)) === 200, {
      timeoutMs: READY_MS,
      intervalMs: 250,
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- ${c.name} logs ---\n${await c.logs()}`, {
      cause: err,
    });
  }
}

/** Every trade id the simulator wrote to a socket, per product. */
function deliveredTradeIds(sim: Simulator, product: string): Set<number> {
  const ids = new Set<number>();
  for (const ranges of Object.values(sim.log().products[product]?.delivered ?? {}))
    for (const id of expandRanges(ranges)) ids.add(id);
  return ids;
}

/** The Uid line of /proc/1/status: real, effective, saved and filesystem uid of PID 1. */
async function pid1Uids(c: Container): Promise<number[]> {
  const statusText = await c.exec(['cat', '/proc/1/status']);
  const line = statusText.split('\n').find((l) => l.startsWith('Uid:')) ?? '';
  return line.split(/\s+/).slice(1).filter(Boolean).map(Number);
}

describe(`the image ${IMAGE}`, () => {
  let nats: NatsServer;
  let sim: Simulator;
  const containers = new Map<'ingestor' | 'normalizer' | 'gateway', Container>();
  let gatewayPort = 0;
  let client: LedgerFluxClient | undefined;

  beforeAll(async () => {
    nats = await startNats();
    sim = await startSimulator({ seed: 11, products: PRODUCTS, rate: 100 });
    // The one privileged step, from the image too.
    await runOnce(IMAGE, ['migrate', '--nats-only'], { env: { NATS_URL: nats.url } });
    const common = { NATS_URL: nats.url, PRODUCTS: PRODUCTS.join(','), SHARDS: '1' };
    const [ingestorPort, normalizerPort] = [await freePort(), await freePort()];
    gatewayPort = await freePort();
    const ingestor = await startContainer(`${PREFIX}-ingestor`, IMAGE, ['ingestor'], {
      ...common,
      COINBASE_WS_URL: sim.url,
      METRICS_PORT: String(ingestorPort),
    });
    containers.set('ingestor', ingestor);
    const normalizer = await startContainer(`${PREFIX}-normalizer`, IMAGE, ['normalizer'], {
      ...common,
      SHARD: '0',
      METRICS_PORT: String(normalizerPort),
    });
    containers.set('normalizer', normalizer);
    const gateway = await startContainer(`${PREFIX}-gateway`, IMAGE, ['gateway'], {
      ...common,
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_PORT: String(gatewayPort),
    });
    containers.set('gateway', gateway);
    await Promise.all([
      waitReady(ingestor, `http://127.0.0.1:${String(ingestorPort)}/readyz`),
      waitReady(normalizer, `http://127.0.0.1:${String(normalizerPort)}/readyz`),
      waitReady(gateway, `http://127.0.0.1:${String(gatewayPort)}/readyz`),
    ]);
  });

  afterAll(async () => {
    client?.close();
    await Promise.all([...containers.values()].map((c) => c.remove()));
    await sim.stop().catch(() => undefined);
    await nats.stop().catch(() => undefined);
  });

  it('runs Node 24 with the OCI labels, a non-root user and no build-time CA bundle', async () => {
    const info = JSON.parse(await podman(['image', 'inspect', IMAGE])) as {
      Size: number;
      Config: { User: string; Env: string[]; Labels: Record<string, string> };
    }[];
    const image = info[0];
    expect(image).toBeDefined();
    if (image === undefined) return;
    console.log(
      `image ${IMAGE}: ${String(image.Size)} bytes (${(image.Size / 1e6).toFixed(1)} MB)`,
    );
    expect(image.Config.User).toBe('1000:1000');
    for (const key of ['title', 'description', 'licenses', 'version', 'revision', 'base.name'])
      expect(image.Config.Labels[`org.opencontainers.image.${key}`], key).toBeTruthy();
    // The CA bundle was a build secret: no trace in the environment or the filesystem.
    expect(image.Config.Env.filter((e) => /CA_CERTS|cafile|npm_config/i.test(e))).toEqual([]);
    await runOnce(IMAGE, ['-c', 'test ! -e /run/secrets/npm_ca'], { entrypoint: '/bin/sh' });
    expect((await runOnce(IMAGE, ['--version'], { entrypoint: 'node' })).trim()).toMatch(/^v24\./);
  });

  it('runs every service as PID 1 under uid 1000, never root', async () => {
    for (const [service, c] of containers) {
      expect(await pid1Uids(c), service).toEqual([1000, 1000, 1000, 1000]);
      const cmdline = (await c.exec(['cat', '/proc/1/cmdline'])).split('\0');
      // Node itself is PID 1 (env execs it), so its own SIGTERM handler is what counts.
      expect(cmdline.slice(0, 3), service).toEqual(['node', '/usr/local/bin/ledgerflux', service]);
    }
  });

  it('the ingestor stores the simulated feed in MD_RAW', async () => {
    const log = createLogger('test', 'silent');
    const nc = await connectNats({ servers: [nats.url], name: 'image-test', log });
    try {
      const trades = await waitFor(
        'match frames in MD_RAW',
        async () => {
          const stored = await readStream(nc, 'MD_RAW', 'md.raw.coinbase.*.BTC-USD');
          const ids = stored
            .filter((m) => m.headers['Lf-Type'] === 'match')
            .map((m) => (JSON.parse(m.text()) as { trade_id: number }).trade_id);
          return ids.length >= 10 && ids;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      const delivered = deliveredTradeIds(sim, 'BTC-USD');
      expect(trades.filter((id) => !delivered.has(id))).toEqual([]);
      expect(new Set(trades).size).toBe(trades.length);
    } finally {
      await nc.close();
    }
  });

  it('the gateway serves the page and streams live trades to a WebSocket client', async () => {
    const page = await fetch(`http://127.0.0.1:${String(gatewayPort)}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    const received: number[] = [];
    client = new LedgerFluxClient({
      url: `ws://127.0.0.1:${String(gatewayPort)}/ws`,
      WebSocket,
      reconnect: { initialMs: 100, maxMs: 1_000 },
    });
    client.on((e) => {
      if (e.type === 'update' && e.channel === 'trades' && e.product === 'BTC-USD')
        received.push(Number(e.data.trade_id));
    });
    client.subscribe({ channels: ['trades'], products: ['BTC-USD'], snapshot: false });
    await waitFor('10 live trades through the gateway', () => received.length >= 10, {
      timeoutMs: 60_000,
    });
    const got = received.slice();
    // In trade-id order, each once, and each one the simulator actually sent.
    expect(got.every((id, i) => i === 0 || id > (got[i - 1] ?? 0))).toBe(true);
    const delivered = deliveredTradeIds(sim, 'BTC-USD');
    expect(got.filter((id) => !delivered.has(id))).toEqual([]);
  });

  it('podman stop ends each service by SIGTERM with exit code 0', async () => {
    client?.close();
    for (const service of ['gateway', 'normalizer', 'ingestor'] as const) {
      const c = containers.get(service);
      if (c === undefined) throw new Error(`no ${service} container`);
      // --time 10: past it podman sends SIGKILL, and the exit code would be 137.
      const ms = await c.stop(10);
      const code = await c.exitCode();
      const logs = await c.logs();
      console.log(`podman stop ${service}: ${(ms / 1000).toFixed(2)} s, exit code ${String(code)}`);
      expect(code, `${service} exit code\n${logs}`).toBe(0);
      expect(logs, service).toMatch(/"reason":"SIGTERM"[^\n]*"msg":"shutting down"/);
      expect(logs, service).toMatch(/"msg":"stopped"/);
    }
  });
});

describe(`the dev image ${DEV_IMAGE}`, () => {
  let dev: Container | undefined;
  afterAll(async () => {
    await dev?.remove();
  });

  it('restarts the service when a source file changes (skaffold file sync)', async () => {
    const port = await freePort();
    dev = await startContainer(`${PREFIX}-dev-sim`, DEV_IMAGE, ['sim', '--host', '127.0.0.1'], {
      SIM_PORT: String(port),
      PRODUCTS: 'BTC-USD',
    });
    const c = dev;
    const readyLines = async () => (await c.logs()).split('ledgerflux sim ready').length - 1;
    await waitReady(c, `http://127.0.0.1:${String(port)}/healthz`);
    await waitFor('the first start', async () => (await readyLines()) === 1);
    // What skaffold's sync does: the container's own (unprivileged) user writes the file.
    await c.exec(['sh', '-c', 'echo "// synced $(date +%s%N)" >> services/sim/main.ts']);
    await waitFor('a restart after the change', async () => (await readyLines()) === 2, {
      timeoutMs: READY_MS,
      intervalMs: 250,
    });
    await waitReady(c, `http://127.0.0.1:${String(port)}/healthz`);
    expect(await pid1Uids(c)).toEqual([1000, 1000, 1000, 1000]);
    const ms = await c.stop(10);
    const code = await c.exitCode();
    console.log(`podman stop dev: ${(ms / 1000).toFixed(2)} s, exit code ${String(code)}`);
    expect(code, await c.logs()).toBe(0);
  });
});
