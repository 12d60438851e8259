/**
 * Slow clients: a client that stops reading is conflated, gets a slow_client gap and is
 * closed with 4000, while a fast client gets every message and the gateway's buffers
 * stay within the stated bound; the client library recovers a slow_client gap.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Normalized } from '../../services/common/schemas/normalized.js';
import { LedgerFluxClient } from '../../services/client/client.js';
import type { ClientEvent } from '../../services/client/types.js';
import { startGatewayEnv, TestClient, type GatewayEnv } from '../harness/gateway.js';
import type { NormPublisher } from '../harness/norm-publisher.js';
import { waitFor } from '../harness/wait.js';

const KIB = 1024;
const SLOW_BYTES = 64 * KIB;
const MAX_BUFFER_BYTES = 256 * KIB;
/**
 * The bound stated for one client: its socket buffer stays near GATEWAY_SLOW_BYTES (the
 * gateway stops writing there) plus at most one flush; its outbox stays under
 * GATEWAY_MAX_BUFFER_BYTES (folded past it). 64 KiB of slack for the frames of one write.
 */
const PER_CLIENT_BOUND = SLOW_BYTES + MAX_BUFFER_BYTES + 64 * KIB;

const envs: GatewayEnv[] = [];
afterEach(async () => {
  for (const e of envs.splice(0)) await e.stop();
});

/** Books are large (~4 KiB) so kernel socket buffers fill quickly. */
function burst(pub: NormPublisher, n: number): Normalized[] {
  const out: Normalized[] = [];
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) out.push(pub.book('BTC-USD', 100));
    else if (i % 3 === 1) out.push(pub.trade('BTC-USD'));
    else out.push(pub.ticker('BTC-USD', String(i)));
  }
  return out;
}

describe('slow clients', () => {
  it('conflates, sends a slow_client gap, closes with 4000; the fast client gets everything; memory stays bounded', async () => {
    const e = await startGatewayEnv({
      GATEWAY_SLOW_BYTES: String(SLOW_BYTES),
      GATEWAY_MAX_BUFFER_BYTES: String(MAX_BUFFER_BYTES),
      GATEWAY_SLOW_MAX_MS: '1500',
      GATEWAY_HEARTBEAT_MS: '200',
      GATEWAY_CLOSE_GRACE_MS: '15000',
      RESUME_BUFFER: '2000',
    });
    envs.push(e);
    const sub = { op: 'subscribe', channels: ['ticker', 'trades', 'book'], products: ['BTC-USD'] };
    const fast = await TestClient.open(e.url, { slim: true });
    const slow = await TestClient.open(e.url, { slim: true });
    fast.send(sub);
    slow.send(sub);
    await slow.next((f) => f.op === 'snapshot' && f.channel === 'book');
    slow.ws.pause();

    const rssBefore = process.memoryUsage().rss;
    let maxClient = 0;
    let maxTotal = 0;
    let maxRss = rssBefore;
    const sampler = setInterval(() => {
      const stats = e.gw.stats();
      maxClient = Math.max(maxClient, stats.maxClientBufferedBytes);
      maxTotal = Math.max(maxTotal, stats.bufferedBytes);
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }, 5);
    const published: { type: Normalized['type']; tradeId: number; offset: number }[] = [];
    const stop = new AbortController();
    const publishing = (async () => {
      while (!stop.signal.aborted) {
        const msgs = burst(e.pub, 600);
        const offsets = await e.pub.publishAll(msgs, 64);
        msgs.forEach((m, i) => {
          const tradeId = m.type === 'trade' ? Number(m.trade_id) : 0;
          published.push({ type: m.type, tradeId, offset: offsets[i] ?? -1 });
        });
      }
    })();
    await waitFor(
      'slow client closed with 4000',
      async () => (await e.metric('ledgerflux_gateway_disconnects_total', { code: '4000' })) >= 1,
      { timeoutMs: 25_000 },
    );
    stop.abort();
    await publishing;
    clearInterval(sampler);
    expect(await e.metric('ledgerflux_gateway_conflated_updates_total')).toBeGreaterThan(0);
    expect(await e.metric('ledgerflux_gateway_slow_client_gaps_total')).toBeGreaterThan(0);

    // The fast client got every message, in order, nothing folded.
    const all = published.map((p) => p.offset);
    await fast.next((f) => f.offset === all.at(-1), 'fast client at the end', 20_000);
    const fastOffsets = fast.frames.filter((f) => f.op === 'update').map((f) => f.offset);
    expect(fastOffsets).toEqual(all);
    expect(fast.frames.some((f) => f.conflated === true || f.op === 'gap')).toBe(false);

    // The slow client reads its backlog: conflated updates, the gap, then 4000.
    slow.ws.resume();
    expect((await slow.closed).code).toBe(4000);
    expect(slow.frames.some((f) => f.op === 'update' && f.conflated === true)).toBe(true);
    const gaps = slow.frames.filter((f) => f.op === 'gap');
    expect(gaps.length).toBeGreaterThan(0);
    const trades = published.filter((p) => p.type === 'trade');
    const tradeAt = new Map(trades.map((p) => [p.offset, p.tradeId]));
    for (const g of gaps) {
      expect(g).toMatchObject({ reason: 'slow_client', channel: 'trades', offset: g.to_offset });
      expect(g.from).toBe(tradeAt.get(g.from_offset as number));
      expect(g.to).toBe(tradeAt.get(g.to_offset as number));
    }
    // Nothing silently lost: every trade up to the last one it heard of was delivered or announced.
    const seen = new Set(
      slow.frames.filter((f) => f.op === 'update').map((f) => f.offset as number),
    );
    const lastHeard = Math.max(
      ...slow.frames.map((f) => (typeof f.offset === 'number' ? f.offset : 0)),
    );
    for (const t of trades.filter((p) => p.offset <= lastHeard)) {
      const covered = gaps.some(
        (g) => (g.from_offset as number) <= t.offset && t.offset <= (g.to_offset as number),
      );
      expect(seen.has(t.offset) || covered, `trade @${t.offset}`).toBe(true);
    }
    const rssGrowthMiB = (maxRss - rssBefore) / 2 ** 20;
    console.log(
      `slow-client test: ${all.length} messages, max per-client buffer ${(maxClient / KIB).toFixed(0)} KiB ` +
        `(bound ${(PER_CLIENT_BOUND / KIB).toFixed(0)} KiB), all clients ${(maxTotal / KIB).toFixed(0)} KiB, ` +
        `RSS growth ${rssGrowthMiB.toFixed(1)} MiB`,
    );
    expect(maxClient).toBeLessThanOrEqual(PER_CLIENT_BOUND);
    expect(maxTotal).toBeLessThanOrEqual(2 * PER_CLIENT_BOUND);
    // The whole test process (publisher, clients, ring of 2,000 messages of up to 4 KiB):
    // unbounded buffering of the paused client would add its whole backlog (~40 MiB).
    expect(rssGrowthMiB).toBeLessThan(200);
    await fast.close();
  });

  it('the client library recovers a slow_client gap: every trade once, in order', async () => {
    const e = await startGatewayEnv({
      GATEWAY_SLOW_BYTES: String(SLOW_BYTES),
      GATEWAY_MAX_BUFFER_BYTES: String(MAX_BUFFER_BYTES),
      GATEWAY_SLOW_MAX_MS: '20000',
    });
    envs.push(e);
    const client = new LedgerFluxClient({ url: e.url, WebSocket, maxQueue: 50 });
    client.subscribe({ channels: ['trades', 'ticker'], products: ['BTC-USD'] });
    const events: ClientEvent[] = [];
    const it = client.events();
    // Take the two snapshots, then stop consuming: the queue fills, the socket pauses.
    while (events.filter((x) => x.type === 'snapshot').length < 2) {
      const r = await it.next();
      if (!r.done) events.push(r.value);
    }
    const published: { msg: Normalized; offset: number }[] = [];
    const stop = new AbortController();
    const publishing = (async () => {
      while (!stop.signal.aborted) {
        const msgs = burst(e.pub, 300);
        const offsets = await e.pub.publishAll(msgs, 64);
        msgs.forEach((msg, i) => published.push({ msg, offset: offsets[i] ?? -1 }));
      }
    })();
    await waitFor(
      'a slow_client gap for the paused client',
      async () => (await e.metric('ledgerflux_gateway_slow_client_gaps_total')) >= 1,
      // The kernel's loopback buffers (megabytes) fill before the gateway's outbox does:
      // on a loaded machine the publisher needs well over 25 s for that.
      { timeoutMs: 60_000 },
    );
    stop.abort();
    await publishing;
    const lastTrade = published.filter((p) => p.msg.type === 'trade').at(-1)?.offset ?? 0;
    const consuming = (async () => {
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        events.push(r.value);
      }
    })();
    await waitFor(
      'the last trade',
      () => events.some((x) => x.type === 'update' && x.offset === lastTrade),
      { timeoutMs: 20_000 },
    );
    const snapTrades =
      events.find((x) => x.type === 'snapshot' && x.channel === 'trades')?.offset ?? 0;
    const want = published
      .filter((p) => p.msg.type === 'trade' && p.offset > snapTrades)
      .map((p) => p.offset);
    const gotTrades = events.flatMap((x) =>
      x.type === 'update' && x.channel === 'trades' ? [x.offset] : [],
    );
    expect(gotTrades).toEqual(want);
    const gap = events.find((x) => x.type === 'gap');
    expect(gap).toMatchObject({ reason: 'slow_client', recovering: true });
    expect(events.some((x) => x.type === 'recovered')).toBe(true);
    const tickers = events.flatMap((x) =>
      x.type === 'update' && x.channel === 'ticker' ? [x.offset] : [],
    );
    expect(tickers).toEqual([...new Set(tickers)].sort((a, b) => a - b));
    client.close();
    await consuming;
  }, 120_000);
});
