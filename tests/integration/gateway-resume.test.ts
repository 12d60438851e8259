/**
 * Resume: by hand and through the client library, from the ring and from history (short-
 * lived ordered consumers), across a gateway restart; expired offsets; gaps and status
 * events of the normalizer delivered (and replayed) as gap/status frames.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Normalized } from '../../services/common/schemas/normalized.js';
import { STREAMS } from '../../services/common/topology.js';
import { LedgerFluxClient } from '../../services/client/client.js';
import type { ClientEvent } from '../../services/client/types.js';
import { startGatewayEnv, TestClient, type Frame, type GatewayEnv } from '../harness/gateway.js';
import type { NormPublisher } from '../harness/norm-publisher.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import { waitFor } from '../harness/wait.js';

const envs: GatewayEnv[] = [];
const proxies: TcpProxy[] = [];
const clients: LedgerFluxClient[] = [];
async function env(vars: Record<string, string> = {}): Promise<GatewayEnv> {
  const e = await startGatewayEnv(vars);
  envs.push(e);
  return e;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const p of proxies.splice(0)) await p.close();
  for (const e of envs.splice(0)) await e.stop();
});

type Channel = 'ticker' | 'trades' | 'book';
interface Published {
  msg: Normalized;
  offset: number;
}

/** A mixed flow for two products: trades, tickers, books, a gap and status events. */
function flow(pub: NormPublisher, n: number): Normalized[] {
  const out: Normalized[] = [];
  for (let i = 0; i < n; i++) {
    const product = i % 5 === 4 ? 'ETH-USD' : 'BTC-USD';
    if (i % 97 === 50) {
      pub.trade(product); // skipped id: announced as an upstream gap below
      const t = pub.trade(product);
      const missing = Number(t.trade_id) - 1;
      out.push(pub.status(product, 'gap', 'missing trades', missing, missing), t);
    } else if (i % 61 === 30) out.push(pub.status(product, 'book_invalid', 'crossed'));
    else if (i % 3 === 0) out.push(pub.ticker(product, String(i)));
    else if (i % 7 === 1) out.push(pub.book(product));
    else out.push(pub.trade(product));
  }
  return out;
}

async function publish(pub: NormPublisher, msgs: Normalized[]): Promise<Published[]> {
  const offsets = await pub.publishAll(msgs, 32);
  return msgs.map((msg, i) => ({ msg, offset: offsets[i] ?? -1 }));
}

/** What a subscriber of `channels` of `product` gets after `after`, as "op@offset". */
function expected(all: Published[], product: string, channels: Channel[], after: number): string[] {
  return all
    .filter((p) => p.msg.product === product && p.offset > after)
    .flatMap((p) => {
      const m = p.msg;
      if (m.type === 'status') {
        if (m.event !== 'gap') return [`status@${p.offset}`];
        return channels.includes('trades') ? [`gap@${p.offset}`] : [];
      }
      const ch = m.type === 'trade' ? 'trades' : m.type;
      return channels.includes(ch) ? [`update@${p.offset}`] : [];
    });
}

function got(frames: Frame[], product: string): string[] {
  return frames
    .filter((f) => ['update', 'gap', 'status'].includes(f.op) && f.product === product)
    .map((f) => `${f.op}@${String(f.offset)}`);
}

const lastOffset = (frames: Frame[], product: string) =>
  Math.max(
    ...frames
      .filter((f) => f.product === product && typeof f.offset === 'number')
      .map((f) => f.offset as number),
  );

describe('resume by hand', () => {
  it('replays exactly the missed messages from the ring (status and gaps included), then live', async () => {
    const e = await env();
    const channels: Channel[] = ['ticker', 'trades'];
    const first = await TestClient.open(e.url);
    first.send({ op: 'subscribe', channels, products: ['BTC-USD'] });
    const batch1 = await publish(e.pub, flow(e.pub, 200));
    const end1 = Math.max(...batch1.map((p) => p.offset));
    await waitFor(
      'first client at the end',
      () => e.gw.stats().head >= end1 && first.frames.length > 0,
    );
    await first.close();
    const seen = lastOffset(first.frames, 'BTC-USD');
    // While the second client resumes, messages keep flowing.
    const flowing = publish(e.pub, flow(e.pub, 400));
    const second = await TestClient.open(e.url);
    second.send({ op: 'subscribe', channels, products: ['BTC-USD'], from: { 'BTC-USD': seen } });
    const batch2 = await flowing;
    const all = [...batch1, ...batch2];
    const want = expected(all, 'BTC-USD', channels, seen);
    await waitFor(
      'every missed message',
      () => got(second.frames, 'BTC-USD').length >= want.length,
    );
    expect(got(second.frames, 'BTC-USD')).toEqual(want);
    expect(second.frames.some((f) => f.op === 'snapshot')).toBe(false);
    const gap = second.frames.find((f) => f.op === 'gap');
    expect(gap).toMatchObject({ channel: 'trades', reason: 'upstream_drop' });
    expect(gap?.from).toBe(gap?.to);
    expect(second.frames.some((f) => f.op === 'status' && f.event === 'book_invalid')).toBe(true);
    expect(await e.metric('ledgerflux_gateway_resumes_total', { source: 'ring' })).toBe(1);
    await second.close();
  });

  it('reads offsets older than the ring through short-lived ordered consumers, at most RESUME_MAX_CONCURRENT at a time', async () => {
    const e = await env({ RESUME_BUFFER: '10', RESUME_MAX_CONCURRENT: '1' });
    const batch1 = await publish(e.pub, flow(e.pub, 300));
    const from = [20, 60, 100, 150];
    let maxActive = 0;
    const sampler = setInterval(() => {
      maxActive = Math.max(maxActive, e.gw.stats().history.active);
    }, 1);
    const resumed = await Promise.all(
      from.map(async (offset) => {
        const c = await TestClient.open(e.url);
        c.send({
          op: 'subscribe',
          channels: ['trades', 'book'],
          products: ['BTC-USD'],
          from: { 'BTC-USD': offset },
        });
        return c;
      }),
    );
    const batch2 = await publish(e.pub, flow(e.pub, 200));
    const all = [...batch1, ...batch2];
    for (const [i, c] of resumed.entries()) {
      const want = expected(all, 'BTC-USD', ['trades', 'book'], from[i] ?? 0);
      await waitFor(`client ${i} complete`, () => got(c.frames, 'BTC-USD').length >= want.length);
      expect(got(c.frames, 'BTC-USD')).toEqual(want);
    }
    clearInterval(sampler);
    expect(maxActive).toBeLessThanOrEqual(1);
    expect(await e.metric('ledgerflux_gateway_resumes_total', { source: 'history' })).toBe(4);
    await Promise.all(resumed.map((c) => c.close()));
  });

  // Regression (hostile clients test): a client that resumed from history and stopped
  // reading held its history reader for good (replays are not degraded like live data,
  // so it never counted as slow); with RESUME_MAX_CONCURRENT of them no resume progressed.
  it('closes a resuming client that makes no room for GATEWAY_SLOW_MAX_MS with 4000, freeing its history reader', async () => {
    const e = await env({
      RESUME_BUFFER: '10',
      RESUME_MAX_CONCURRENT: '1',
      GATEWAY_SLOW_MAX_MS: '1000',
      GATEWAY_CLOSE_GRACE_MS: '30000',
    });
    // ~6 MB of books: more than the kernel's socket buffers take for a reader that stops.
    const books = await publish(
      e.pub,
      Array.from({ length: 1_500 }, () => e.pub.book('BTC-USD', 100)),
    );
    const sub = {
      op: 'subscribe',
      channels: ['book'],
      products: ['BTC-USD'],
      from: { 'BTC-USD': 1 },
    };
    const stalled = await TestClient.open(e.url, { slim: true });
    stalled.ws.once('message', () => {
      stalled.ws.pause();
    });
    stalled.send(sub);
    await waitFor(
      'the stalled client closed with 4000',
      async () => (await e.metric('ledgerflux_gateway_disconnects_total', { code: '4000' })) === 1,
    );
    const reader = await TestClient.open(e.url, { slim: true });
    reader.send(sub);
    const want = expected(books, 'BTC-USD', ['book'], 1);
    await waitFor(
      'the second resume complete',
      () => got(reader.frames, 'BTC-USD').length >= want.length,
    );
    expect(got(reader.frames, 'BTC-USD')).toEqual(want);
    stalled.ws.resume();
    expect((await stalled.closed).code).toBe(4000);
    await reader.close();
  });

  it('answers an offset the stream no longer holds with OFFSET_EXPIRED, then a snapshot, then live', async () => {
    const e = await env({ RESUME_BUFFER: '5' });
    await publish(e.pub, flow(e.pub, 80));
    const jsm = await jetstreamManager(e.nc);
    await jsm.streams.purge(STREAMS.norm, { keep: 20 });
    for (const from of [10, 1_000_000]) {
      const c = await TestClient.open(e.url);
      c.send({
        op: 'subscribe',
        channels: ['ticker', 'trades'],
        products: ['BTC-USD'],
        from: { 'BTC-USD': from },
      });
      const err = await c.next((f) => f.op === 'error', 'OFFSET_EXPIRED');
      expect(err).toMatchObject({ code: 'OFFSET_EXPIRED', product: 'BTC-USD' });
      await c.next((f) => f.op === 'snapshot' && f.channel === 'trades', 'trades snapshot');
      const order = c.frames.map((f) =>
        typeof f.channel === 'string' ? `${f.op}:${f.channel}` : f.op,
      );
      expect(order.slice(0, 4)).toEqual([
        'subscribed',
        'error',
        'snapshot:ticker',
        'snapshot:trades',
      ]);
      const live = await e.pub.publish(e.pub.trade('BTC-USD'));
      await c.next((f) => f.op === 'update' && f.offset === live, 'live after the snapshot');
      await c.close();
    }
    expect(await e.metric('ledgerflux_gateway_resumes_total', { source: 'expired' })).toBe(2);
  });

  it('a gateway started later snapshots older messages (direct get) and resumes from its ring', async () => {
    const e = await env({ RESUME_MAX_AGE_MS: '60000' });
    const old = await e.pub.publish(e.pub.ticker('ETH-USD', '7'));
    const batch = await publish(e.pub, flow(e.pub, 150));
    const late = await e.another({ RESUME_MAX_AGE_MS: '60000' });
    const c = await TestClient.open(late.url);
    c.send({
      op: 'subscribe',
      channels: ['trades', 'ticker'],
      products: ['BTC-USD'],
      from: { 'BTC-USD': 3 },
    });
    const want = expected(batch, 'BTC-USD', ['trades', 'ticker'], 3);
    await waitFor('resumed', () => got(c.frames, 'BTC-USD').length >= want.length);
    expect(got(c.frames, 'BTC-USD')).toEqual(want);
    // ETH-USD's first ticker is older than the window of a gateway with a 0 ms window.
    const tiny = await e.another({ RESUME_MAX_AGE_MS: '1' });
    const d = await TestClient.open(tiny.url);
    d.send({ op: 'subscribe', channels: ['ticker'], products: ['ETH-USD'] });
    const snap = await d.next((f) => f.op === 'snapshot', 'snapshot');
    const lastEthTicker = batch
      .filter((p) => p.msg.product === 'ETH-USD' && p.msg.type === 'ticker')
      .at(-1);
    expect(snap.offset).toBe(lastEthTicker?.offset ?? old);
    await Promise.all([c.close(), d.close()]);
  });
});

describe('client library', () => {
  it('reconnects after network cuts and resumes: every message once, in order', async () => {
    const e = await env();
    const proxy = await startTcpProxy(e.gw.port);
    proxies.push(proxy);
    const client = new LedgerFluxClient({
      url: `ws://127.0.0.1:${proxy.port}/ws`,
      WebSocket,
      reconnect: { initialMs: 20, maxMs: 100 },
    });
    clients.push(client);
    const events: ClientEvent[] = [];
    const iterating = (async () => {
      for await (const ev of client.events()) events.push(ev);
    })();
    client.subscribe({ channels: ['ticker', 'trades'], products: ['BTC-USD'] });
    await waitFor('snapshots', () => events.filter((x) => x.type === 'snapshot').length === 2);
    const publishing = publish(e.pub, flow(e.pub, 1_500));
    for (let cut = 1; cut <= 3; cut++) {
      // Cut a live connection each time: wait for the reconnect after the previous cut.
      await waitFor(
        `connection ${cut}`,
        () => events.filter((x) => x.type === 'connected').length >= cut,
        {
          intervalMs: 2,
        },
      );
      await waitFor(`flow before cut ${cut}`, () => e.gw.stats().head >= cut * 350, {
        intervalMs: 2,
      });
      proxy.cut();
    }
    const all = await publishing;
    const snapOffsets = events.flatMap((x) => (x.type === 'snapshot' ? [x.offset] : []));
    const after = Math.max(...snapOffsets);
    const want = expected(all, 'BTC-USD', ['ticker', 'trades'], after);
    const gotLib = () =>
      events.flatMap((x) =>
        x.type === 'update' || x.type === 'gap' || x.type === 'status'
          ? [`${x.type}@${x.offset}`]
          : [],
      );
    await waitFor('every message', () => gotLib().length >= want.length);
    expect(gotLib()).toEqual(want);
    expect(events.filter((x) => x.type === 'connected').length).toBeGreaterThanOrEqual(4);
    expect(events.filter((x) => x.type === 'snapshot')).toHaveLength(2);
    expect(client.offsets()['BTC-USD']).toBe(
      Math.max(...all.filter((p) => p.msg.product === 'BTC-USD').map((p) => p.offset)),
    );
    client.close();
    await iterating;
  });
});
