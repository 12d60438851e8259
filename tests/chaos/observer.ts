import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Sql } from 'postgres';
import WebSocket from 'ws';
import { LedgerFluxClient } from '../../services/client/client.js';
import type { ClientEvent } from '../../services/client/types.js';
import { waitFor } from '../harness/wait.js';
import type { ProductObservation } from './oracle.js';

/**
 * What users see during a chaos run: a WebSocket client (the project's client library,
 * reconnecting with resume) subscribed to every product's trades from offset 0, and
 * PostgreSQL. Also measures stalls: from a failure until the first trade made after it
 * reaches the client, and PostgreSQL.
 */
export class Observer {
  readonly trades = new Map<string, string[]>();
  readonly gaps = new Map<string, number[]>();
  /** Everything but data, for the report of a failed run. */
  readonly events: string[] = [];
  private newestMs = 0;
  /** Arrival times (ms) of trades at the client, for the longest silence in a window. */
  private readonly arrivals: number[] = [];
  private client: LedgerFluxClient;

  constructor(
    url: string,
    private readonly products: readonly string[],
  ) {
    for (const p of products) {
      this.trades.set(p, []);
      this.gaps.set(p, []);
    }
    this.client = new LedgerFluxClient({
      url,
      WebSocket,
      reconnect: { initialMs: 50, maxMs: 500 },
    });
    this.client.on((e: ClientEvent) => {
      this.onEvent(e);
    });
    this.client.subscribe({
      channels: ['trades'],
      products,
      from: Object.fromEntries(products.map((x) => [x, 0])),
    });
  }

  get count(): number {
    let n = 0;
    for (const t of this.trades.values()) n += t.length;
    return n;
  }

  close(): void {
    this.client.close();
  }

  /** Ms from `sinceMs` until the client got a trade the simulator made after `sinceMs`. */
  async clientStall(sinceMs: number, timeoutMs = 90_000): Promise<number> {
    await waitFor('a trade made after the failure at the client', () => this.newestMs > sinceMs, {
      timeoutMs,
      intervalMs: 10,
    });
    return Date.now() - sinceMs;
  }

  /** The longest time without a trade at the client between `fromMs` and `toMs`. */
  longestSilence(fromMs: number, toMs = Date.now()): number {
    let prev = fromMs;
    let longest = 0;
    for (const t of this.arrivals) {
      if (t < fromMs) continue;
      if (t > toMs) break;
      longest = Math.max(longest, t - prev);
      prev = t;
    }
    return Math.max(longest, toMs - prev);
  }

  /** The same for PostgreSQL (polled every 100 ms). */
  static async dbStall(sql: Sql, sinceMs: number, timeoutMs = 90_000): Promise<number> {
    const since = new Date(sinceMs);
    await waitFor(
      'a trade made after the failure in PostgreSQL',
      async () => {
        const [r] = await sql<{ n: number }[]>`
          select count(*)::int as n from (select 1 from trades where time > ${since} limit 1) x`;
        return (r?.n ?? 0) > 0;
      },
      { timeoutMs, intervalMs: 100 },
    );
    return Date.now() - sinceMs;
  }

  /**
   * Once the pipeline is drained: the client and PostgreSQL both hold as many trades per
   * product as MD_NORM does; then their observations.
   */
  async settle(
    nc: NatsConnection,
    sql: Sql,
    timeoutMs = 60_000,
  ): Promise<Map<string, ProductObservation>> {
    const jsm = await jetstreamManager(nc);
    const out = new Map<string, ProductObservation>();
    for (const product of this.products) {
      const subject = `md.norm.coinbase.${product}.trade`;
      const info = await jsm.streams.info('MD_NORM', { subjects_filter: subject });
      const want = info.state.subjects?.[subject] ?? 0;
      await waitFor(
        `${product}: ${String(want)} trades at the client and in PostgreSQL`,
        async () => {
          const [r] = await sql<{ n: number }[]>`
            select count(*)::int as n from trades where product = ${product}`;
          const got = this.trades.get(product)?.length ?? 0;
          if (got >= want && (r?.n ?? 0) >= want) return true;
          throw new Error(`client ${String(got)}, PostgreSQL ${String(r?.n ?? 0)}`);
        },
        { timeoutMs, intervalMs: 250 },
      );
      const db = await sql<{ trade_id: string; norm_offset: string }[]>`
        select trade_id::text, norm_offset::text from trades where product = ${product} order by trade_id`;
      const gapRows = await sql<{ from_id: string; to_id: string }[]>`
        select from_id::text, to_id::text from gaps where product = ${product} order by from_id`;
      const dbGaps: number[] = [];
      for (const g of gapRows)
        for (let id = Number(g.from_id); id <= Number(g.to_id); id++) dbGaps.push(id);
      out.set(product, {
        client: this.trades.get(product) ?? [],
        db: db.map((r) => ({ trade_id: r.trade_id, norm_offset: Number(r.norm_offset) })),
        clientGaps: this.gaps.get(product) ?? [],
        dbGaps,
      });
    }
    return out;
  }

  private onEvent(e: ClientEvent): void {
    if (e.type === 'update' && e.channel === 'trades') {
      this.trades.get(e.product)?.push(e.data.trade_id);
      const t = Date.parse(e.data.time);
      if (t > this.newestMs) this.newestMs = t;
      this.arrivals.push(Date.now());
      return;
    }
    if (e.type === 'snapshot') return;
    if (e.type === 'gap' && e.reason === 'upstream_drop')
      for (let id = e.from; id <= e.to; id++) this.gaps.get(e.product)?.push(id);
    this.events.push(`${new Date().toISOString()} ${JSON.stringify(e)}`);
    if (this.events.length > 500) this.events.splice(0, 100);
  }
}
