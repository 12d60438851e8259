import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterEach, expect, it } from 'vitest';
import { ErrorCode } from '../../services/common/errors.js';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { ensureTopology } from '../../services/common/topology.js';
import { SerializedPublisher } from '../../services/normalizer/serialized-publisher.js';
import { startNats, type NatsServer } from '../harness/nats.js';

let server: NatsServer | undefined;
let nc: NatsConnection | undefined;

afterEach(async () => {
  await nc?.close();
  await server?.stop();
  nc = undefined;
  server = undefined;
});

/**
 * Regression (found by tests/k8s/smoke.test.ts, prod overlay): a normalizer stopped while a
 * publish was still retrying exited 1 instead of 0. The publish rejected its caller, who
 * handles PUBLISHER_CLOSED, but the per-subject chain kept a second promise derived from
 * it (`finally`), rejected too and handled by nobody: an unhandled rejection, which ends
 * the process before the shard's final checkpoint.
 */
it('a publish refused after stop() rejects its caller only, with no unhandled rejection', async () => {
  server = await startNats();
  const log = createLogger('test', 'silent');
  nc = await connectNats({ servers: [server.url], name: 'test', log, publishing: true });
  await ensureTopology(nc, { replicas: 1 });
  const publisher = new SerializedPublisher(nc, await jetstreamManager(nc), 'MD_NORM', log);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    publisher.stop();
    const subject = 'md.norm.coinbase.BTC-USD.trade';
    const payload = new TextEncoder().encode('{}');
    await expect(publisher.publish(subject, payload, 'id-1', {})).rejects.toMatchObject({
      code: ErrorCode.PUBLISHER_CLOSED,
    });
    // Node reports an unhandled rejection once the microtask queue has drained.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
    expect(publisher.inFlight).toBe(0);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
