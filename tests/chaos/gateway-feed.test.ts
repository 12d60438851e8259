/**
 * The gateway's shared MD_NORM consumer is an ordered consumer: R1, ephemeral, living on
 * one server of the cluster. Kill -9 that server while MD_NORM keeps growing: the feed
 * must go on (re-created by the client or by the gateway's watchdog) from right after the
 * last offset it delivered, every offset once and in order.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats, type NatsConnection } from '../../services/common/nats.js';
import { ensureTopology } from '../../services/common/topology.js';
import { Feed } from '../../services/gateway/feed.js';
import { createGatewayMetrics } from '../../services/gateway/metrics.js';
import { startNatsCluster, type NatsCluster } from '../harness/nats-cluster.js';
import { NormPublisher } from '../harness/norm-publisher.js';
import { waitFor } from '../harness/wait.js';
import { counterValue } from './rig.js';

const log = createLogger('test', 'silent');

describe('the gateway feed when the server of its consumer dies', () => {
  let cluster: NatsCluster | undefined;
  let nc: NatsConnection | undefined;
  let feed: Feed | undefined;
  afterAll(async () => {
    await feed?.stop();
    await nc?.close().catch(() => undefined);
    await cluster?.stop();
  });

  it('resumes after the last delivered offset: no gap, no duplicate', async () => {
    cluster = await startNatsCluster(3);
    const c = cluster;
    nc = await connectNats({ servers: c.urls, name: 'feed-test', log, publishing: true });
    await ensureTopology(nc, { replicas: 3 });
    const registry = new Registry();
    const metrics = createGatewayMetrics(registry);
    const f = new Feed(nc, { products: ['BTC-USD'], windowMs: 60_000, log, metrics });
    feed = f;
    const offsets: number[] = [];
    await f.start({
      seed: () => undefined,
      setFloor: () => undefined,
      onMessage: (m) => offsets.push(m.offset),
      onCaughtUp: () => undefined,
    });

    const pub = new NormPublisher(nc);
    const state = { publishing: true };
    const published: number[] = [];
    const loop = (async () => {
      while (state.publishing) {
        try {
          published.push(await pub.publish(pub.trade('BTC-USD')));
        } catch {
          // An election: the next one goes through.
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor('messages at the feed', () => offsets.length > 50, { timeoutMs: 30_000 });

    // The ordered consumer's server: its name starts with the feed's prefix.
    const jsm = await jetstreamManager(nc);
    let host: string | undefined;
    for await (const ci of jsm.consumers.list('MD_NORM')) {
      if (ci.name.startsWith('gateway_')) host = ci.cluster?.leader;
    }
    expect(host, 'the shared consumer is found').toBeDefined();
    const killedAt = offsets.length;
    await c.node(host ?? '').kill();
    const t0 = Date.now();
    await waitFor('the feed moving again', () => offsets.length > killedAt + 100, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    const resumedMs = Date.now() - t0;
    state.publishing = false;
    await loop;
    const last = published.at(-1) ?? 0;
    await waitFor('the feed caught up', () => (offsets.at(-1) ?? 0) >= last, {
      timeoutMs: 30_000,
    });
    const recreated = counterValue(
      await registry.metrics(),
      'ledgerflux_gateway_feed_recreated_total',
    );
    console.info(
      `consumer on ${String(host)} killed: feed moving again after ${String(resumedMs)} ms, watchdog re-creations ${String(recreated)}`,
    );
    // Every MD_NORM offset from the first delivered on, once and in order.
    const first = offsets[0] ?? 0;
    const end = offsets.at(-1) ?? 0;
    expect(end).toBeGreaterThanOrEqual(last);
    expect(offsets).toEqual(Array.from({ length: end - first + 1 }, (_, i) => first + i));
  });
});
