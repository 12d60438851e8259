/**
 * Hostile input: random frames (text, JSON, near-valid requests with wrong types, random
 * offsets, binary, oversized) over real sockets while messages flow. The gateway never
 * crashes, never logs an error, and keeps serving a well-behaved client.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startGatewayEnv, TestClient, type GatewayEnv } from '../harness/gateway.js';
import { captureLogger } from '../harness/log-capture.js';
import { waitFor } from '../harness/wait.js';

let e: GatewayEnv;
const { log, lines } = captureLogger('gateway', 'info');
beforeAll(async () => {
  e = await startGatewayEnv(
    {
      GATEWAY_RATE_LIMIT_PER_S: '100000',
      GATEWAY_RATE_LIMIT_BURST: '100000',
      GATEWAY_MAX_FRAME_BYTES: '2048',
      RESUME_BUFFER: '20',
    },
    { log },
  );
});
afterAll(async () => e.stop());

const product = fc.oneof(
  fc.constantFrom('BTC-USD', 'ETH-USD', 'SOL-USD'),
  fc.string({ maxLength: 12 }),
);
const channel = fc.oneof(fc.constantFrom('ticker', 'trades', 'book'), fc.string({ maxLength: 8 }));
const offset = fc.oneof(
  fc.nat({ max: 400 }),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 5 }),
  fc.constant(null),
);
const request = fc
  .record(
    {
      op: fc.oneof(
        fc.constantFrom('subscribe', 'unsubscribe', 'ping'),
        fc.string({ maxLength: 10 }),
      ),
      channels: fc.oneof(fc.array(channel, { maxLength: 5 }), fc.jsonValue()),
      products: fc.oneof(fc.array(product, { maxLength: 5 }), fc.jsonValue()),
      snapshot: fc.oneof(fc.boolean(), fc.jsonValue()),
      from: fc.oneof(fc.dictionary(product, offset, { maxKeys: 3 }), fc.jsonValue()),
      conflate_ms: fc.oneof(fc.nat({ max: 2_000 }), fc.jsonValue()),
      id: fc.jsonValue({ maxDepth: 2 }),
      extra: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: ['op'] },
  )
  .map((r) => JSON.stringify(r));
const frame = fc.oneof(
  { weight: 6, arbitrary: request.map((text) => ({ text })) },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ text })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary) => ({ binary })) },
  {
    weight: 1,
    arbitrary: fc
      .nat({ max: 6_000 })
      .map((n) => ({ text: `{"op":"ping","id":"${'x'.repeat(n)}"}` })),
  },
);

it('random frames never crash the gateway', async () => {
  const stop = new AbortController();
  const flowing = (async () => {
    while (!stop.signal.aborted) {
      await e.pub.publishAll(
        [
          e.pub.trade('BTC-USD'),
          e.pub.ticker('ETH-USD'),
          e.pub.book('BTC-USD'),
          e.pub.status('BTC-USD', 'feed_ok', 'x'),
        ],
        4,
      );
    }
  })();
  let sent = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 15 }), async (frames) => {
      const c = await TestClient.open(e.url);
      for (const f of frames) {
        if ('binary' in f) c.ws.send(f.binary, { binary: true });
        else c.ws.send(f.text);
        sent++;
      }
      c.send({ op: 'ping', id: 'end' });
      // Either it answers the final ping, or it closed us for a frame it refused.
      await Promise.race([
        c.next((x) => x.op === 'pong' && x.id === 'end', 'final pong'),
        c.closed,
      ]);
      c.ws.terminate();
    }),
    { numRuns: 400 },
  );
  stop.abort();
  await flowing;

  expect(e.gw.readiness().ready).toBe(true);
  const ok = await TestClient.open(e.url);
  ok.send({ op: 'subscribe', channels: ['trades'], products: ['BTC-USD'] });
  await ok.next((f) => f.op === 'snapshot', 'snapshot');
  const live = await e.pub.publish(e.pub.trade('BTC-USD'));
  await ok.next((f) => f.op === 'update' && f.offset === live, 'live update');
  await ok.close();
  await waitFor('fuzz connections closed', () => e.gw.stats().connections === 0);
  expect(sent).toBeGreaterThan(150);
  expect(await e.metric('ledgerflux_gateway_client_errors_total')).toBeGreaterThan(50);
  expect(lines().filter((l) => typeof l.level === 'number' && l.level >= 50)).toEqual([]);
});
