/**
 * Fuzzing the ingestor's frame handling with hostile frames (arbitrary bytes, arbitrary
 * JSON, huge numbers, deep nesting, wrong types, damaged real frames):
 *
 * - pure: json-scan agrees with JSON.parse; the router never throws, keeps every frame
 *   (MD_RAW byte for byte, or MD_DLQ with a reason), builds only publishes NATS accepts,
 *   and holds per-product state for configured products only;
 * - real: the ingestor reading those frames from a WebSocket feed stores each one in
 *   MD_RAW or MD_DLQ (or counts it as a duplicate), and stays up.
 */
import type { AddressInfo } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { DLQ_REASONS } from '../../services/common/subjects.js';
import { ensureTopology } from '../../services/common/topology.js';
import { loadIngestorConfig } from '../../services/ingestor/config.js';
import { classifyExchangeFrame } from '../../services/ingestor/core/classify.js';
import { scanJson } from '../../services/ingestor/core/json-scan.js';
import { DLQ_KEEP_BYTES, FrameRouter, type Routed } from '../../services/ingestor/core/route.js';
import { Ingestor } from '../../services/ingestor/service.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { readStream } from '../harness/streams.js';
import { waitFor } from '../harness/wait.js';
import { fuzzRuns, hostileBytes, hostileText } from './arbitraries.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD'];
const CONN = '0123456789abcdef0123456789abcdef';
const RECV_US = 1_700_000_000_000_000;
const TYPE = /^[A-Za-z0-9_-]{1,64}$/;
const SUBJECT = /^md\.raw\.coinbase\.(ctl\.[A-Za-z0-9_-]{1,64}|[01]\.(BTC-USD|ETH-USD))$/;
const dec = new TextDecoder();

function parsed(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Byte equality without vitest's element-wise diffing of large buffers. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** What JSON.parse says a frame is: routable needs an object with a usable `type`. */
function routable(text: string): boolean {
  const p = parsed(text);
  if (!p.ok || typeof p.value !== 'object' || p.value === null || Array.isArray(p.value))
    return false;
  const type = (p.value as { type?: unknown }).type;
  return typeof type === 'string' && TYPE.test(type);
}

/** A publish NATS takes: a valid subject, a bounded msg id, headers the client encodes. */
function expectPublishable(o: Extract<Routed, { kind: 'publish' | 'dlq' }>): void {
  expect(o.req.msgId.length).toBeLessThanOrEqual(256);
  expect(o.req.msgId).not.toMatch(/\s/);
  const h = natsHeaders();
  for (const [k, v] of Object.entries(o.req.headers ?? {})) {
    expect(v.length, k).toBeLessThanOrEqual(256);
    h.set(k, v); // throws on what the client refuses (line breaks)
  }
}

describe('ingestor core under hostile frames', () => {
  it('json-scan accepts exactly what JSON.parse accepts and reads the same fields', () => {
    let n = 0;
    fc.assert(
      fc.property(hostileText, (text) => {
        n++;
        const keys = new Set(['type', 'product_id']);
        const scan = scanJson(text, keys);
        const p = parsed(text);
        expect(scan.ok).toBe(p.ok);
        if (!scan.ok || !p.ok) return;
        const isObject = typeof p.value === 'object' && p.value !== null && !Array.isArray(p.value);
        expect(scan.object).toBe(isObject);
        if (!isObject) return;
        for (const k of keys) {
          const v = (p.value as Record<string, unknown>)[k];
          const t = scan.fields.get(k);
          if (typeof v === 'string') expect(t).toEqual({ kind: 'string', value: v });
          else if (typeof v === 'number') expect(t?.kind).toBe('number');
          else if (v !== undefined && Object.hasOwn(p.value as object, k))
            expect(t).toEqual({ kind: 'other' });
        }
        // classify agrees on what is routable
        expect(classifyExchangeFrame(text).kind === 'unparsable').toBe(!routable(text));
      }),
      { numRuns: fuzzRuns(2_000) },
    );
    console.log(`fuzz json-scan/classify: ${String(n)} frames`);
  });

  it('the router never throws, keeps every frame, builds valid publishes, bounds its state', () => {
    let runs = 0;
    let frames = 0;
    const kinds = { publish: 0, duplicate: 0, dlq: 0, sequence: 0 };
    fc.assert(
      fc.property(fc.array(hostileBytes, { maxLength: 40, size: 'medium' }), (batch) => {
        runs++;
        const r = new FrameRouter({
          feed: 'coinbase',
          shards: 2,
          products: PRODUCTS,
          maxFrameBytes: 64 * 1024,
          recentTrades: 50,
        });
        r.newConnection(CONN);
        const stored = new Map<string, Set<string>>();
        for (const bytes of batch) {
          frames++;
          const o = r.route(bytes, undefined, RECV_US);
          kinds[o.kind]++;
          if (bytes.byteLength > 64 * 1024) {
            expect(o).toMatchObject({ kind: 'dlq', reason: 'too_large' });
            if (o.kind !== 'dlq') continue;
            expect(o.req.payload.byteLength).toBe(DLQ_KEEP_BYTES);
            expect(sameBytes(o.req.payload, bytes.subarray(0, DLQ_KEEP_BYTES))).toBe(true);
            expectPublishable(o);
            continue;
          }
          const text = dec.decode(bytes);
          if (!routable(text)) {
            expect(o).toMatchObject({ kind: 'dlq', reason: 'unparsable' });
            if (o.kind !== 'dlq') continue;
            expect(o.req.subject).toBe('md.dlq.coinbase.unparsable');
            expect(DLQ_REASONS).toContain(o.req.headers?.['Lf-Reason']);
            expect(sameBytes(o.req.payload, bytes)).toBe(true);
            expectPublishable(o);
            continue;
          }
          if (o.kind === 'duplicate') {
            // Only a trade id this connection's router stored before.
            expect(stored.get(o.product)?.has(o.tradeId)).toBe(true);
            continue;
          }
          expect(o.kind).toBe('publish');
          if (o.kind !== 'publish') continue;
          expect(o.req.subject).toMatch(SUBJECT);
          expect(sameBytes(o.req.payload, bytes)).toBe(true);
          expectPublishable(o);
          if (o.product !== undefined) expect(PRODUCTS).toContain(o.product);
          if (o.product !== undefined && o.tradeId !== undefined) {
            const set = stored.get(o.product) ?? new Set<string>();
            set.add(o.tradeId);
            stored.set(o.product, set);
          }
        }
        expect(r.trackedProducts).toBeLessThanOrEqual(PRODUCTS.length);
      }),
      { numRuns: fuzzRuns(400) },
    );
    console.log(
      `fuzz ingestor router: ${String(runs)} runs, ${String(frames)} frames ` +
        `(publish ${String(kinds.publish)}, duplicate ${String(kinds.duplicate)}, dlq ${String(kinds.dlq)})`,
    );
  });
});

const ACK = JSON.stringify({
  type: 'subscriptions',
  channels: ['heartbeat', 'ticker', 'matches', 'level2_batch'].map((name) => ({
    name,
    product_ids: PRODUCTS,
  })),
});

/** A WebSocket "feed" that acks the subscribe and then sends the given frames. */
async function hostileFeed(frames: readonly Uint8Array[]): Promise<{
  url: string;
  connections: () => number;
  sent: () => number;
  close: () => Promise<void>;
}> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  let connections = 0;
  let sent = 0;
  wss.on('connection', (ws) => {
    connections++;
    ws.once('message', () => {
      ws.send(ACK);
      if (connections > 1) return;
      for (const f of frames) {
        // Text frames may carry invalid UTF-8 here: `ws` sends what it is given.
        ws.send(f, { binary: sent % 7 === 3 });
        sent++;
      }
    });
  });
  return {
    url: `ws://127.0.0.1:${String((wss.address() as AddressInfo).port)}`,
    connections: () => connections,
    sent: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => {
          resolve();
        });
      }),
  };
}

describe('the real ingestor reading hostile frames', () => {
  let server: NatsServer;
  let nc: NatsConnection;
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
    await nc.close();
    await server.stop();
  });

  // Regression (hostile-input fuzzing): `ws` failed the whole feed connection (1007) on
  // a text frame that is not UTF-8; the ingestor reconnected and lost what followed.
  it('keeps a text frame that is not UTF-8, and the connection with it', async () => {
    const heartbeat = (seq: number) =>
      Buffer.from(
        JSON.stringify({
          type: 'heartbeat',
          product_id: 'ETH-USD',
          sequence: seq,
          last_trade_id: 1,
        }),
      );
    const notUtf8 = Buffer.concat([
      Buffer.from('{"type":"x","y":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    const feed = await hostileFeed([heartbeat(1), notUtf8, Buffer.from([0xc3]), heartbeat(2)]);
    const registry = new Registry();
    const ingestor = new Ingestor(
      loadIngestorConfig({ NATS_URL: server.url, COINBASE_WS_URL: feed.url, PRODUCTS: 'ETH-USD' }),
      nc,
      createLogger('ingestor', 'silent'),
      registry,
    );
    await ingestor.start();
    try {
      const stored = await waitFor('both heartbeats stored', async () => {
        const raw = await readStream(nc, 'MD_RAW', 'md.raw.coinbase.0.ETH-USD');
        const hb = raw.filter((m) => m.headers['Lf-Type'] === 'heartbeat');
        return hb.length === 2 ? raw : undefined;
      });
      expect(stored.length).toBeGreaterThan(0);
      const kept = await readStream(nc, 'MD_RAW', 'md.raw.coinbase.ctl.x');
      expect(kept.map((m) => Buffer.from(m.data))).toEqual([notUtf8]);
      const dlq = await readStream(nc, 'MD_DLQ');
      expect(dlq.map((m) => Buffer.from(m.data))).toContainEqual(Buffer.from([0xc3]));
      expect(feed.connections()).toBe(1);
    } finally {
      await ingestor.stop();
      await feed.close();
      await jetstreamManager(nc).then(async (jsm) => {
        await jsm.streams.purge('MD_RAW');
        await jsm.streams.purge('MD_DLQ');
      });
    }
  });

  it('stores every frame in MD_RAW or MD_DLQ (or counts it a duplicate), and stays up', async () => {
    const seed = 14;
    const sample = fc.sample(hostileBytes, { numRuns: fuzzRuns(2_000), seed });
    // Two frames past NATS max_payload: MD_DLQ `too_large`, cut to 64 KiB.
    const big = Buffer.from(
      JSON.stringify({ type: 'snapshot', product_id: 'BTC-USD', bids: [['1', 'x'.repeat(9e6)]] }),
    );
    const frames = [...sample, big, big.subarray(0, 8_500_000)];
    const feed = await hostileFeed(frames);
    const registry = new Registry();
    const ingestor = new Ingestor(
      loadIngestorConfig({
        NATS_URL: server.url,
        COINBASE_WS_URL: feed.url,
        PRODUCTS: PRODUCTS.join(','),
        SHARDS: '2',
        FEED_STALE_MS: '120000',
      }),
      nc,
      createLogger('ingestor', 'silent'),
      registry,
    );
    const metric = async (name: string, labels: Record<string, string> = {}) =>
      ((await registry.getSingleMetric(name)?.get())?.values ?? [])
        .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
        .reduce((a, v) => a + v.value, 0);
    await ingestor.start();
    try {
      const settled = async () =>
        (await metric('ledgerflux_ingestor_published_total')) +
        (await metric('ledgerflux_ingestor_duplicate_trades_total'));
      // Every frame, the ack and the two `connected` markers settle (stored, duplicate, ...).
      await waitFor(
        'every frame settled',
        async () => feed.sent() === frames.length && (await settled()) >= frames.length + 3,
        { timeoutMs: 60_000, intervalMs: 200 },
      ).catch(async (err: unknown) => {
        const snapshot = await registry.metrics();
        throw new Error(
          `${String(err)}; sent ${String(feed.sent())} of ${String(frames.length)}\n` +
            snapshot
              .split('\n')
              .filter((l) =>
                /^ledgerflux_ingestor_(published|duplicate|dlq|reconnects|frames)/.test(l),
              )
              .join('\n'),
        );
      });
      const raw = await readStream(nc, 'MD_RAW');
      const dlq = await readStream(nc, 'MD_DLQ');
      const fromFeed = raw.filter(
        (m) => !(m.headers['Lf-Type'] === 'lf_feed' && m.subject !== 'md.raw.coinbase.ctl.lf_feed'),
      );
      const duplicates = {
        router: await metric('ledgerflux_ingestor_duplicate_trades_total'),
        jetstream: await metric('ledgerflux_ingestor_published_total', { outcome: 'duplicate' }),
      };
      const notStored =
        (await metric('ledgerflux_ingestor_published_total', { outcome: 'rejected' })) +
        (await metric('ledgerflux_ingestor_published_total', { outcome: 'lost' }));
      console.log(
        `fuzz ingestor (real, seed ${String(seed)}): ${String(frames.length)} frames -> ` +
          `MD_RAW ${String(fromFeed.length)}, MD_DLQ ${String(dlq.length)}, ` +
          `duplicates ${String(duplicates.router)} by trade id + ${String(duplicates.jetstream)} by msg id`,
      );
      expect(notStored).toBe(0);
      // The feed's own `subscriptions` ack is one more frame (md.raw.coinbase.ctl.subscriptions).
      expect(fromFeed.length + dlq.length + duplicates.router + duplicates.jetstream).toBe(
        frames.length + 1,
      );
      // Every DLQ entry says why, and the counter per reason agrees with the stream.
      for (const reason of ['unparsable', 'too_large']) {
        const entries = dlq.filter((m) => m.headers['Lf-Reason'] === reason);
        expect(await metric('ledgerflux_ingestor_dlq_frames_total', { reason })).toBe(
          entries.length,
        );
        for (const m of entries) expect(m.headers['Lf-Error']).toBeTruthy();
      }
      expect(dlq.filter((m) => m.headers['Lf-Reason'] === 'too_large')).toHaveLength(2);
      // MD_RAW holds the frames byte for byte.
      const sentSet = new Set([ACK, ...frames].map((f) => Buffer.from(f).toString('base64')));
      for (const m of fromFeed)
        expect(sentSet.has(Buffer.from(m.data).toString('base64'))).toBe(true);
      // Still the one connection: no frame made it reconnect.
      expect(feed.connections()).toBe(1);
      expect(await metric('ledgerflux_ingestor_reconnects_total')).toBe(0);
    } finally {
      await ingestor.stop();
      await feed.close();
    }
  });
});
