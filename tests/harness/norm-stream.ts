import type { NatsConnection } from '@nats-io/nats-core';
import { Publisher } from '../../services/common/publisher.js';
import { H, nowUs } from '../../services/common/schemas/headers.js';
import type { Level, Normalized } from '../../services/common/schemas/normalized.js';
import { normMsgId, normSubject } from '../../services/common/subjects.js';
import { createLogger } from '../../services/common/logger.js';
import { rng } from './rng.js';

/**
 * A seeded, realistic MD_NORM stream (trades with contiguous ids and announced gaps,
 * tickers, top-N books, status events; exchange times mostly increasing, with the small
 * disorder that interleaving kinds produces) and a windowed publisher that stores it as
 * the normalizer would: subjects, msg ids, Lf-Src / Lf-Pub-Us headers.
 */

export interface NormStreamOptions {
  products: readonly string[];
  count: number;
  seed: number;
  startUs: number;
  /** Mean exchange-time step between two messages of a product. */
  stepUs?: number;
  /** Fraction of messages that are trades (default 0.5). */
  tradeShare?: number;
}

function iso(us: number, nanos: boolean): string {
  const ms = Math.floor(us / 1000);
  const frac = String(us % 1_000_000).padStart(6, '0');
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}${nanos ? '789' : ''}Z`;
}

interface ProductGen {
  clockUs: number;
  tradeId: number;
  cents: number;
  seq: Record<Normalized['type'], number>;
}

export function generateNormalized(o: NormStreamOptions): Normalized[] {
  const rand = rng(o.seed);
  const step = o.stepUs ?? 50_000;
  const tradeShare = o.tradeShare ?? 0.5;
  const gens = new Map<string, ProductGen>(
    o.products.map((p, i) => [
      p,
      {
        clockUs: o.startUs,
        tradeId: 1000 * (i + 1),
        cents: 1_000_000 * (i + 1),
        seq: { trade: 0, ticker: 0, book: 0, status: 0 },
      },
    ]),
  );
  const out: Normalized[] = [];
  const price = (cents: number) => (cents / 100).toFixed(2);
  while (out.length < o.count) {
    const product = o.products[Math.floor(rand() * o.products.length)] ?? 'BTC-USD';
    const g = gens.get(product);
    if (g === undefined) continue;
    g.clockUs += Math.floor(rand() * 2 * step);
    // Kinds interleave: a book or ticker may carry a time a little behind the last trade.
    const skew = rand() < 0.2 ? Math.floor(rand() * step) : 0;
    const timeUs = Math.max(o.startUs, g.clockUs - skew);
    const common = (type: Normalized['type']) => ({
      v: 1 as const,
      venue: 'coinbase' as const,
      product,
      seq: ++g.seq[type],
      time: iso(timeUs, rand() < 0.05),
      recv_us: timeUs + 1500,
      flags: [],
    });
    g.cents = Math.max(100, g.cents + Math.round((rand() - 0.5) * 200));
    const r = rand();
    if (r < tradeShare) {
      if (rand() < 0.03) {
        const from = g.tradeId;
        g.tradeId += 1 + Math.floor(rand() * 3);
        out.push({
          ...common('status'),
          type: 'status',
          event: 'gap',
          reason: 'upstream_drop',
          from: String(from),
          to: String(g.tradeId - 1),
        });
        continue;
      }
      out.push({
        ...common('trade'),
        type: 'trade',
        trade_id: String(g.tradeId++),
        price: price(g.cents),
        size: (0.0001 + rand() * 2).toFixed(8),
        side: rand() < 0.5 ? 'buy' : 'sell',
      });
    } else if (r < tradeShare + (1 - tradeShare) * 0.4) {
      out.push({
        ...common('ticker'),
        type: 'ticker',
        price: price(g.cents),
        best_bid: price(g.cents - 1),
        best_ask: price(g.cents + 1),
        best_bid_size: '1.50000000',
        ...(rand() < 0.7
          ? { open_24h: price(g.cents - 500), volume_24h: (rand() * 1e4).toFixed(8) }
          : {}),
        trade_id: String(g.tradeId - 1),
      });
    } else if (r < tradeShare + (1 - tradeShare) * 0.9) {
      const levels = (dir: number): Level[] =>
        Array.from({ length: 1 + Math.floor(rand() * 5) }, (_, i) => [
          price(g.cents + dir * (i + 1)),
          (rand() * 3).toFixed(8),
        ]);
      out.push({ ...common('book'), type: 'book', bids: levels(-1), asks: levels(1) });
    } else {
      const events = ['book_invalid', 'book_resynced', 'feed_stale', 'feed_ok'] as const;
      const event = events[Math.floor(rand() * events.length)] ?? 'feed_ok';
      out.push({ ...common('status'), type: 'status', event, reason: `test "${event}"` });
    }
  }
  return out;
}

export function normMsgIdOf(msg: Normalized, src: number): string {
  if (msg.type === 'trade') return normMsgId.trade('coinbase', msg.product, msg.trade_id);
  if (
    msg.type === 'status' &&
    msg.event === 'gap' &&
    msg.from !== undefined &&
    msg.to !== undefined
  )
    return normMsgId.gap('coinbase', msg.product, msg.from, msg.to);
  return normMsgId.output('coinbase', msg.product, msg.type, src, 0);
}

/**
 * Publishes messages to MD_NORM in order (a window of PubAcks in flight) and returns
 * their stream sequences. `srcBase` keeps Lf-Src (and so msg ids) unique across calls.
 */
export async function publishNormalized(
  nc: NatsConnection,
  msgs: readonly Normalized[],
  srcBase = 0,
  window = 256,
): Promise<number[]> {
  const pub = new Publisher(nc, { window, log: createLogger('norm-stream', 'silent') });
  const results: Promise<number>[] = [];
  let src = srcBase;
  for (const msg of msgs) {
    src++;
    if (!pub.hasRoom()) await pub.waitForRoom();
    results.push(
      pub
        .publish({
          subject: normSubject('coinbase', msg.product, msg.type),
          payload: new TextEncoder().encode(JSON.stringify(msg)),
          msgId: normMsgIdOf(msg, src),
          headers: { [H.src]: String(src), [H.pubUs]: String(nowUs()) },
        })
        .then((o) => {
          if (o.kind !== 'stored') throw new Error(`publish failed: ${JSON.stringify(o)}`);
          return o.seq;
        }),
    );
  }
  const seqs = await Promise.all(results);
  await pub.close();
  return seqs;
}
