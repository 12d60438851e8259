/**
 * Fuzzing the normalizer with hostile raw frames (arbitrary bytes and JSON, huge numbers,
 * deep nesting, wrong types, damaged real frames moved to the subject's product):
 *
 * - pure: the mapper never throws and rejects with a reason exactly what breaks the
 *   venue schema; the product processor never throws, publishes only messages that pass
 *   the MD_NORM schema (contiguous seq, unique msg ids) and holds a bounded window;
 *   the plausibility checks never throw on any string;
 * - real: a normalizer process consuming those frames from MD_RAW sends exactly the
 *   rejected ones to MD_DLQ (reason, one-line error), counts every rejected and ignored
 *   frame, acks everything, and stays up.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { H, headerText } from '../../services/common/schemas/headers.js';
import { NormalizedSchema, type Normalized } from '../../services/common/schemas/normalized.js';
import { ensureTopology } from '../../services/common/topology.js';
import { mapExchangeText } from '../../services/normalizer/core/map-exchange.js';
import type { MapResult } from '../../services/normalizer/core/map-common.js';
import { tickerMessage, tradeMessage } from '../../services/normalizer/core/messages.js';
import {
  ProductProcessor,
  type Output,
  type RawFrame,
} from '../../services/normalizer/core/product-processor.js';
import { isAbsurdSpread, isPriceJump } from '../../services/normalizer/core/validate.js';
import { freePort } from '../harness/free-port.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { startService, type ServiceProcess } from '../harness/service.js';
import { readStream } from '../harness/streams.js';
import { waitFor } from '../harness/wait.js';
import { fuzzRuns, hostileText, hostileTextFor, nastyString } from './arbitraries.js';

const PRODUCT = 'BTC-USD';
const RECV_US = Date.UTC(2026, 8, 1) * 1000;
const CONNS = ['a'.repeat(32), 'b'.repeat(32), 'c'.repeat(32)];
const OPTS = {
  windowMs: 250,
  windowMsgs: 20,
  topN: 5,
  bookMinIntervalMs: 50,
  validate: { priceJumpPct: 10, absurdSpreadPct: 5 },
};

function jsonParses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** What the shard worker writes as Lf-Error must be a header NATS accepts. */
function expectHeaderSafe(error: string): void {
  natsHeaders().set(H.error, headerText(error, 500));
}

describe('normalizer core under hostile frames', () => {
  it('the mapper never throws; it rejects with a reason, and what it maps is valid MD_NORM', () => {
    const counts: Partial<Record<MapResult['kind'], number>> = {};
    fc.assert(
      fc.property(fc.oneof(hostileTextFor(PRODUCT), hostileText), (text) => {
        const r = mapExchangeText(text, { recvUs: RECV_US, product: PRODUCT });
        counts[r.kind] = (counts[r.kind] ?? 0) + 1;
        if (!jsonParses(text)) expect(r).toMatchObject({ kind: 'invalid', reason: 'unparsable' });
        if (r.kind === 'invalid') {
          expect(['schema', 'unparsable']).toContain(r.reason);
          expect(r.error.length).toBeGreaterThan(0);
          expectHeaderSafe(r.error);
        } else if (r.kind === 'trade') {
          NormalizedSchema.parse(tradeMessage(r, { seq: 1, recvUs: RECV_US }));
        } else if (r.kind === 'ticker') {
          NormalizedSchema.parse(tickerMessage(r, { seq: 1, recvUs: RECV_US }));
        } else if (r.kind === 'ignore') {
          expect(r.type.length).toBeLessThanOrEqual(64);
        }
      }),
      { numRuns: fuzzRuns(3_000) },
    );
    console.log(`fuzz normalizer mapper: ${JSON.stringify(counts)}`);
  });

  it('the product processor never throws and publishes only valid, contiguous, unique messages', () => {
    let runs = 0;
    let frames = 0;
    let outputs = 0;
    let invalid = 0;
    const step = fc.record({
      text: hostileTextFor(PRODUCT),
      conn: fc.constantFrom(...CONNS),
      connSeq: fc.oneof(fc.nat({ max: 5 }), fc.nat()),
      advanceMs: fc.nat({ max: 400 }),
      tick: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60, size: 'medium' }), (steps) => {
        runs++;
        const p = new ProductProcessor(PRODUCT, OPTS);
        const all: Output[] = [p.announceRestart(RECV_US).outputs].flat();
        let now = 1_000;
        steps.forEach((s, i) => {
          frames++;
          now += s.advanceMs;
          const f: RawFrame = {
            feed: 'coinbase',
            src: i + 1,
            recvUs: RECV_US + now * 1000,
            connId: s.conn,
            connSeq: s.connSeq,
            type: 'x',
            text: s.text,
          };
          const r = p.onFrame(f, now);
          const mapped = mapExchangeText(s.text, { recvUs: f.recvUs, product: PRODUCT });
          // Rejected exactly when the venue schema is broken, with the mapper's reason.
          expect(r.invalid?.reason).toBe(mapped.kind === 'invalid' ? mapped.reason : undefined);
          if (r.invalid !== undefined) {
            invalid++;
            expectHeaderSafe(r.invalid.error);
            // Nothing of the rejected frame itself; outputs released for earlier frames
            // (an expired reorder window) are there, and the shell must publish them.
            expect(r.held).toBe(false);
            expect(r.outputs.filter((o) => o.ackFor === f.src)).toEqual([]);
          }
          all.push(...r.outputs);
          if (s.tick) all.push(...p.tick(now).outputs);
          expect(p.heldTrades).toBeLessThanOrEqual(OPTS.windowMsgs);
        });
        all.push(...p.tick(now + 10_000).outputs);
        outputs += all.length;
        const ids = new Set<string>();
        const seqs: Record<string, number> = {};
        for (const o of all) {
          const m: Normalized = NormalizedSchema.parse(JSON.parse(JSON.stringify(o.message)));
          expect(m.product).toBe(PRODUCT);
          expect(m.type).toBe(o.kind);
          expect(m.seq).toBe((seqs[o.kind] ?? 0) + 1);
          seqs[o.kind] = m.seq;
          expect(ids.has(o.msgId), o.msgId).toBe(false);
          ids.add(o.msgId);
        }
      }),
      { numRuns: fuzzRuns(200) },
    );
    console.log(
      `fuzz normalizer processor: ${String(runs)} runs, ${String(frames)} frames, ` +
        `${String(invalid)} rejected, ${String(outputs)} messages`,
    );
  });

  it('the plausibility checks never throw on any strings', () => {
    const anyDecimal = fc.oneof(
      nastyString,
      fc.constantFrom('0', '-0', '.5', '5.', '1e5', 'NaN', '-1', '9'.repeat(64), '9'.repeat(65)),
    );
    fc.assert(
      fc.property(anyDecimal, anyDecimal, fc.double(), (a, b, pct) => {
        expect(typeof isAbsurdSpread(a, b, pct)).toBe('boolean');
        expect(typeof isPriceJump(a, b, pct)).toBe('boolean');
        expect(typeof isPriceJump(undefined, b, pct)).toBe('boolean');
      }),
      { numRuns: fuzzRuns(2_000) },
    );
  });
});

describe('a real normalizer consuming hostile frames', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let svc: ServiceProcess | undefined;
  beforeAll(async () => {
    server = await startNats();
    nc = await connectNats({
      servers: [server.url],
      name: 'test',
      log: createLogger('test', 'silent'),
      publishing: true,
    });
    await ensureTopology(nc, { replicas: 1 });
  });
  afterAll(async () => {
    await svc?.stop();
    await nc.close();
    await server.stop();
  });

  it('sends exactly the rejected frames to MD_DLQ, counts every one, acks all, stays up', async () => {
    const seed = 14;
    const texts = fc.sample(hostileTextFor(PRODUCT), { numRuns: fuzzRuns(1_500), seed });
    const js = jetstream(nc);
    const expectedDlq = new Map<number, string>();
    let ignored = 0;
    let connSeq = 0;
    for (const [i, text] of texts.entries()) {
      // One frame in 40 arrives with headers that break the MD_RAW contract.
      const badHeaders = i % 40 === 39;
      const h = natsHeaders();
      h.set(H.recvUs, badHeaders ? '-1' : String(RECV_US + i));
      h.set(H.connId, CONNS[0] as string);
      h.set(H.connSeq, String(++connSeq));
      h.set(H.type, 'x');
      const ack = await js.publish(`md.raw.coinbase.0.${PRODUCT}`, text, {
        msgID: `fuzz:${String(i)}`,
        headers: h,
      });
      const mapped = mapExchangeText(text, { recvUs: RECV_US + i, product: PRODUCT });
      if (badHeaders) expectedDlq.set(ack.seq, 'bad_header');
      else if (mapped.kind === 'invalid') expectedDlq.set(ack.seq, mapped.reason);
      else if (mapped.kind === 'ignore') ignored++;
    }

    const metricsPort = await freePort();
    svc = await startService('normalizer', {
      NATS_URL: server.url,
      PRODUCTS: PRODUCT,
      SHARDS: '1',
      SHARD: '0',
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'error',
    });
    const jsm = await jetstreamManager(nc);
    await waitFor(
      'every raw frame acked',
      async () => {
        const c = await jsm.consumers.info('MD_RAW', 'normalizer-0').catch(() => undefined);
        return c !== undefined && c.num_pending === 0 && c.num_ack_pending === 0
          ? c.delivered.stream_seq >= texts.length
          : false;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const scrape = await (await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`)).text();
    const metric = (name: string, match = '') =>
      scrape
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && l.includes(match))
        .reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);

    const dlq = await readStream(nc, 'MD_DLQ');
    const got = new Map(dlq.map((m) => [Number(m.headers[H.srcSeq]), m.headers[H.reason] ?? '']));
    console.log(
      `fuzz normalizer (real, seed ${String(seed)}): ${String(texts.length)} frames -> ` +
        `MD_DLQ ${String(dlq.length)} (${JSON.stringify(countValues(got))}), ignored ${String(ignored)}`,
    );
    expect(got).toEqual(expectedDlq);
    for (const m of dlq) {
      expect(m.headers[H.error]).toBeTruthy();
      expect(m.msgId).toBe(`dlq:${m.headers[H.srcSeq] ?? ''}`);
    }
    expect(metric('ledgerflux_normalizer_frames_in_total')).toBe(texts.length);
    for (const [reason, n] of Object.entries(countValues(got)))
      expect(metric('ledgerflux_normalizer_dlq_frames_total', `reason="${reason}"`)).toBe(n);
    expect(metric('ledgerflux_normalizer_ignored_frames_total')).toBe(ignored);
    // Whatever was published is valid MD_NORM, each kind's seq contiguous.
    const norm = await readStream(nc, 'MD_NORM');
    const seqs: Record<string, number> = {};
    for (const m of norm) {
      const msg = NormalizedSchema.parse(JSON.parse(m.text()));
      expect(msg.seq).toBe((seqs[msg.type] ?? 0) + 1);
      seqs[msg.type] = msg.seq;
    }
    expect(svc.proc.running()).toBe(true);
  });
});

function countValues(m: ReadonlyMap<number, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of m.values()) out[v] = (out[v] ?? 0) + 1;
  return out;
}
