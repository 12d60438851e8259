/**
 * Fuzzing the gateway's protocol: arbitrary JSON and bytes, huge numbers, deep nesting,
 * wrong types in every field of every request, binary and oversized frames.
 *
 * - pure: parseClientFrame never throws; it accepts only schema-valid requests and
 *   refuses everything else with a protocol error code and a bounded message that does
 *   not echo the client's values; every frame built from a valid MD_NORM message passes
 *   the server frame schema;
 * - real (a gateway on a real nats-server, messages flowing): every client frame gets
 *   exactly one answer, in order (`subscribed`, `pong` or an `error` frame), an oversized
 *   one FRAME_TOO_LARGE and close 1009; the error counter agrees with the error frames
 *   sent; nothing is logged as an error and a well-behaved client is served throughout.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NormalizedSchema,
  STATUS_EVENTS,
  type Normalized,
} from '../../services/common/schemas/normalized.js';
import { messageFrame } from '../../services/gateway/core/frames.js';
import {
  ERROR_CODES,
  ServerFrameSchema,
  parseClientFrame,
} from '../../services/gateway/core/protocol.js';
import { startGatewayEnv, TestClient, type GatewayEnv } from '../harness/gateway.js';
import { captureLogger } from '../harness/log-capture.js';
import { waitFor } from '../harness/wait.js';
import { deepNesting, fuzzRuns, hostileText, hostileValueText, hugeNumber } from './arbitraries.js';

/** Marks client-chosen strings, so a test can see whether an answer echoes them. */
const ECHO = 'ZqXECHOqZ';

const product = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('BTC-USD', 'ETH-USD', 'SOL-USD') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((s) => `${ECHO}${s}`) },
);
const channel = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('ticker', 'trades', 'book') },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }).map((s) => `${ECHO}${s}`) },
);
/** A field's raw JSON text: usually sensible, sometimes the wrong type or absurd. */
const field = (sensible: fc.Arbitrary<unknown>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 12, arbitrary: sensible.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: hostileValueText },
    { weight: 1, arbitrary: hugeNumber },
  );

const fields = {
  channels: field(fc.array(channel, { minLength: 1, maxLength: 3 })),
  products: field(fc.array(product, { minLength: 1, maxLength: 4 })),
  snapshot: field(fc.boolean()),
  from: field(fc.dictionary(product, fc.oneof(fc.nat({ max: 50 }), fc.integer()), { maxKeys: 2 })),
  conflate_ms: field(fc.nat({ max: 2_000 })),
  id: field(fc.oneof(fc.nat(), fc.string({ maxLength: 10 }))),
};
const unknownField = { [`${ECHO}extra`]: field(fc.jsonValue({ maxDepth: 1 })) };
const asText = (r: Record<string, string>): string =>
  `{${Object.entries(r)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(',')}}`;

/** Requests as text: each op with its fields (each may be of the wrong type), or anything. */
const request = fc.oneof(
  fc
    .record(
      { op: field(fc.constant('subscribe')), ...fields },
      { requiredKeys: ['op', 'channels', 'products'] },
    )
    .map(asText),
  fc
    .record(
      {
        op: field(fc.constant('unsubscribe')),
        channels: fields.channels,
        products: fields.products,
        id: fields.id,
      },
      { requiredKeys: ['op', 'channels', 'products'] },
    )
    .map(asText),
  fc
    .record(
      { op: field(fc.constant('ping')), id: hostileValueText },
      {
        requiredKeys: ['op'],
      },
    )
    .map(asText),
  fc
    .record(
      { op: field(fc.string({ maxLength: 12 })), ...fields, ...unknownField },
      { requiredKeys: ['op'] },
    )
    .map(asText),
);

const clientText = fc.oneof(
  { weight: 6, arbitrary: request },
  { weight: 2, arbitrary: hostileText },
  { weight: 1, arbitrary: deepNesting.map((d) => `{"op":"ping","id":${d}}`) },
);

describe('gateway protocol parser under hostile frames', () => {
  it('never throws; accepts only valid requests; refuses with a code, never echoing input', () => {
    const outcomes: Record<string, number> = {};
    fc.assert(
      fc.property(clientText, (text) => {
        const r = parseClientFrame(text);
        const key = r.ok ? r.frame.op : r.code;
        outcomes[key] = (outcomes[key] ?? 0) + 1;
        if (r.ok) {
          // Only configured products get further; the hub answers UNKNOWN_PRODUCT.
          if (r.frame.op !== 'ping') {
            for (const p of r.frame.products) expect(p).toMatch(/^[A-Z0-9]{1,15}-[A-Z0-9]{1,15}$/);
          }
          return;
        }
        expect(ERROR_CODES).toContain(r.code);
        expect(r.message.length).toBeLessThanOrEqual(200);
        expect(r.message).not.toContain(ECHO);
        if (r.id !== undefined) {
          expect(typeof r.id === 'number' ? Number.isSafeInteger(r.id) : r.id.length <= 64).toBe(
            true,
          );
        }
      }),
      { numRuns: fuzzRuns(3_000) },
    );
    console.log(`fuzz gateway parser: ${JSON.stringify(outcomes)}`);
  });

  it('every frame built from a valid MD_NORM message passes the server frame schema', () => {
    const decimal = fc.stringMatching(/^-?[0-9]{1,20}(\.[0-9]{1,12})?$/);
    // Gap ids travel as JSON numbers (exact below 2^53, as Coinbase ids are).
    const tradeId = fc.nat({ max: Number.MAX_SAFE_INTEGER }).map(String);
    const common = {
      v: fc.constant(1 as const),
      venue: fc.constant('coinbase' as const),
      product: fc.constantFrom('BTC-USD', 'ETH-USD'),
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      time: fc.string({ maxLength: 40 }),
      recv_us: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      flags: fc.constant([]),
    };
    const message = fc.oneof(
      fc.record({
        ...common,
        type: fc.constant('trade' as const),
        trade_id: tradeId,
        price: decimal,
        size: decimal,
        side: fc.constantFrom('buy' as const, 'sell' as const),
      }),
      fc.record({
        ...common,
        type: fc.constant('ticker' as const),
        price: decimal,
        best_bid: decimal,
        best_ask: decimal,
      }),
      fc.record({
        ...common,
        type: fc.constant('book' as const),
        bids: fc.array(fc.tuple(decimal, decimal), { maxLength: 5 }),
        asks: fc.array(fc.tuple(decimal, decimal), { maxLength: 5 }),
      }),
      fc.record(
        {
          ...common,
          type: fc.constant('status' as const),
          event: fc.constantFrom(...STATUS_EVENTS),
          reason: fc.string({ unit: 'binary', maxLength: 30 }),
          from: tradeId,
          to: tradeId,
        },
        {
          requiredKeys: [
            'v',
            'venue',
            'product',
            'seq',
            'time',
            'recv_us',
            'flags',
            'type',
            'event',
            'reason',
          ],
        },
      ),
    );
    fc.assert(
      fc.property(message, fc.nat({ max: Number.MAX_SAFE_INTEGER }), (m, offset) => {
        const msg: Normalized = NormalizedSchema.parse(m);
        const f = messageFrame(msg, offset, JSON.stringify(msg));
        ServerFrameSchema.parse(JSON.parse(f.bytes.toString('utf8')));
      }),
      { numRuns: fuzzRuns(2_000) },
    );
  });
});

/** The answers a client frame may get, by what the parser makes of it. */
function allowedAnswers(text: string | undefined): readonly string[] {
  if (text === undefined) return ['error']; // binary
  const p = parseClientFrame(text);
  if (!p.ok) return ['error'];
  switch (p.frame.op) {
    case 'ping':
      return ['pong'];
    case 'unsubscribe':
      return ['subscribed'];
    case 'subscribe':
      // The hub still checks products against the configuration and the limits.
      return ['subscribed', 'error'];
  }
}
const ANSWERS = new Set(['subscribed', 'pong', 'error']);

describe('a real gateway under hostile frames', () => {
  let e: GatewayEnv;
  const { log, lines } = captureLogger('gateway', 'info');
  const MAX_FRAME = 2_048;
  beforeAll(async () => {
    e = await startGatewayEnv(
      {
        GATEWAY_RATE_LIMIT_PER_S: '100000',
        GATEWAY_RATE_LIMIT_BURST: '100000',
        GATEWAY_MAX_FRAME_BYTES: String(MAX_FRAME),
        RESUME_BUFFER: '20',
      },
      { log },
    );
  });
  afterAll(async () => e.stop());

  const frame = fc.oneof(
    { weight: 8, arbitrary: clientText.map((text) => ({ text })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((binary) => ({ binary })) },
  );
  /** Optionally ends with a frame past the limit (a lot past it: `ws` cuts it itself). */
  const tail = fc.option(fc.constantFrom(MAX_FRAME + 1, 20_000, 64 * MAX_FRAME + 1), {
    nil: undefined,
  });

  it('answers every frame once and in order, closes an oversized one with 1009, counts every error', async () => {
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
    try {
      await hostileRounds();
    } finally {
      stop.abort();
      await flowing;
    }
  });

  async function hostileRounds(): Promise<void> {
    const watcher = await TestClient.open(e.url, { slim: true });
    watcher.send({ op: 'subscribe', channels: ['trades'], products: ['BTC-USD'] });
    const errorsBefore = await syncErrors();
    const totals = { sent: 0, errorFrames: 0, closed: 0 };
    const oversized = (n: number): { text: string } => ({
      text: `{"op":"ping","id":"${'x'.repeat(n)}"}`,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(frame, { minLength: 1, maxLength: 12 }),
        tail,
        async (frames, big) => {
          const c = await TestClient.open(e.url, { slim: true });
          const allowed: (readonly string[])[] = [];
          // A frame over the limit ends the connection: FRAME_TOO_LARGE then 1009, or
          // past 64x the limit `ws` cuts it with 1009 before the gateway sees it.
          let cut = false;
          let tooLarge = false;
          for (const f of big === undefined ? frames : [...frames, oversized(big)]) {
            const size = 'binary' in f ? f.binary.byteLength : Buffer.byteLength(f.text);
            if (size > MAX_FRAME) {
              // Answers still queued when `ws` cuts the socket are lost: let them out.
              c.send({ op: 'ping', id: 'sync' });
              await c.next((x) => x.op === 'pong' && x.id === 'sync', 'the sync pong');
            }
            if ('binary' in f) c.ws.send(f.binary, { binary: true });
            else c.ws.send(f.text);
            totals.sent++;
            if (size > MAX_FRAME) {
              tooLarge = size <= 64 * MAX_FRAME;
              if (tooLarge) allowed.push(['error']);
              cut = true;
              break;
            }
            allowed.push(allowedAnswers('binary' in f ? undefined : f.text));
          }
          if (cut) {
            expect((await c.closed).code).toBe(1009);
            totals.closed++;
          } else {
            c.send({ op: 'ping', id: 'end' });
            await c.next((x) => x.op === 'pong' && x.id === 'end', 'the final pong');
          }
          const answers = c.frames.filter(
            (x) =>
              ANSWERS.has(x.op) &&
              !(x.op === 'error' && x.code === 'OFFSET_EXPIRED') &&
              !(x.op === 'pong' && (x.id === 'end' || x.id === 'sync')),
          );
          expect(answers).toHaveLength(allowed.length);
          answers.forEach((x, i) => {
            expect(allowed[i]).toContain(x.op);
            if (x.op === 'error') expect(ERROR_CODES).toContain(x.code);
          });
          if (tooLarge) expect(answers.at(-1)).toMatchObject({ code: 'FRAME_TOO_LARGE' });
          totals.errorFrames += answers.filter((x) => x.op === 'error').length;
          c.ws.terminate();
        },
      ),
      { numRuns: fuzzRuns(200) },
    );
    const errorsAfter = await syncErrors();
    console.log(
      `fuzz gateway (real): ${String(totals.sent)} frames, ${String(totals.errorFrames)} ` +
        `error frames, ${String(totals.closed)} closed with 1009`,
    );
    // Every error frame sent is counted (OFFSET_EXPIRED comes later, asynchronously).
    expect(errorsAfter - errorsBefore).toBe(totals.errorFrames);
    expect(e.gw.readiness().ready).toBe(true);
    // The well-behaved client was served all along, and still is.
    const live = await e.pub.publish(e.pub.trade('BTC-USD'));
    await watcher.next((f) => f.op === 'update' && f.offset === live, 'live update');
    await watcher.close();
    await waitFor('fuzz connections closed', () => e.gw.stats().connections === 0);
    expect(lines().filter((l) => typeof l.level === 'number' && l.level >= 50)).toEqual([]);
  }

  async function syncErrors(): Promise<number> {
    return (
      (await e.metric('ledgerflux_gateway_client_errors_total')) -
      (await e.metric('ledgerflux_gateway_client_errors_total', { code: 'OFFSET_EXPIRED' }))
    );
  }
});
