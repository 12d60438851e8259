/**
 * The whole chain under the simulator's faults, with the normalizer, the snapshotter and
 * the gateway each killed and restarted mid-run: every trade the simulator emitted and
 * did not drop reaches a WebSocket client (client library) and PostgreSQL exactly once
 * and in trade-id order, gaps are announced exactly where the simulator dropped, and
 * REST agrees with the stream. Once per feed: Exchange and Advanced Trade.
 */
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LedgerFluxClient } from '../../services/client/client.js';
import type { ClientEvent } from '../../services/client/types.js';
import { missedIds } from '../../services/sim/core/control-log.js';
import { TEST_REORDER_WINDOW_MS, startPipeline, type Pipeline } from '../harness/pipeline.js';
import { startService } from '../harness/service.js';
import { drainDurables, readStream } from '../harness/streams.js';
import { waitFor } from '../harness/wait.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD'];

/** What a failed catch-up wait reports: counts, ids missing, ids extra or repeated. */
function describeDifference(got: readonly string[], want: readonly string[]): string {
  const have = new Set(got);
  const wanted = new Set(want);
  const missing = want.filter((id) => !have.has(id));
  const extra = got.filter((id, i) => !wanted.has(id) || got.indexOf(id) !== i);
  return `${String(got.length)} of ${String(want.length)}; missing [${missing.slice(0, 20).join(',')}]; extra or repeated [${extra.slice(0, 20).join(',')}]`;
}

describe.each(['exchange', 'advanced'] as const)(
  'the pipeline end to end under faults and restarts (COINBASE_FEED=%s)',
  (feed) => {
    let p: Pipeline | undefined;
    let client: LedgerFluxClient | undefined;
    afterAll(async () => {
      client?.close();
      await p?.stop();
    });

    it('delivers every trade once and in order to a client and to PostgreSQL, and announces exactly the drops', async () => {
      p = await startPipeline(PRODUCTS, {
        feed,
        rate: 150,
        faults: { drop: { p: 0.03 }, dup: { p: 0.03 }, reorder: { p: 0.05, k: 3 } },
      });
      const pipe = p;
      const trades = new Map<string, string[]>(PRODUCTS.map((x) => [x, []]));
      const gaps = new Map<string, number[]>(PRODUCTS.map((x) => [x, []]));
      // Everything but data, for the report of a failed wait.
      const events: string[] = [];
      const connect = () => {
        const c = new LedgerFluxClient({
          url: `ws://127.0.0.1:${String(pipe.gateway.port)}/ws`,
          WebSocket,
          reconnect: { initialMs: 50, maxMs: 500 },
        });
        c.on((e: ClientEvent) => {
          if (e.type !== 'update' && e.type !== 'snapshot')
            events.push(`${new Date().toISOString()} ${JSON.stringify(e)}`);
          if (e.type === 'update' && e.channel === 'trades')
            trades.get(e.product)?.push(e.data.trade_id);
          if (e.type === 'gap' && e.reason === 'upstream_drop')
            for (let id = e.from; id <= e.to; id++) gaps.get(e.product)?.push(id);
        });
        c.subscribe({
          channels: ['trades'],
          products: PRODUCTS,
          from: Object.fromEntries(PRODUCTS.map((x) => [x, 0])),
        });
        return c;
      };
      client = connect();
      const count = () => trades.get('BTC-USD')?.length ?? 0;
      await waitFor('trades at the client', () => count() > 20, { timeoutMs: 30_000 });

      // Kill -9 and restart each service in turn while the feed runs.
      const [normalizer, snapshotter] = pipe.services;
      await normalizer?.kill();
      pipe.services[0] = await startService('normalizer', {
        NATS_URL: pipe.server.url,
        PRODUCTS: PRODUCTS.join(','),
        SHARDS: '1',
        SHARD: '0',
        METRICS_PORT: '0',
        REORDER_WINDOW_MS: TEST_REORDER_WINDOW_MS,
      });
      let before = count();
      await waitFor('trades after the normalizer restart', () => count() > before + 10, {
        timeoutMs: 30_000,
      });
      await snapshotter?.kill();
      pipe.services[1] = await startService('snapshotter', {
        NATS_URL: pipe.server.url,
        DATABASE_URL: pipe.dbUrl,
        METRICS_PORT: '0',
        BATCH_MS: '100',
      });
      before = count();
      await waitFor('trades after the snapshotter restart', () => count() > before + 10, {
        timeoutMs: 30_000,
      });
      await pipe.restartGateway();
      before = count();
      await waitFor('trades after the gateway restart', () => count() > before + 10, {
        timeoutMs: 30_000,
      });

      // Stop the feed and let everything drain.
      await pipe.sim.stop();
      await pipe.ingestor.stop();
      // MD_NORM is complete only once the normalizer has worked through MD_RAW.
      await drainDurables(pipe.nc, 'MD_RAW', ['normalizer-0'], { outStream: 'MD_NORM' });
      const norm = async (product: string) =>
        (await readStream(pipe.nc, 'MD_NORM', `md.norm.coinbase.${product}.trade`)).map(
          (m) => (JSON.parse(m.text()) as { trade_id: string }).trade_id,
        );
      for (const product of PRODUCTS) {
        const stream = await waitFor(
          `${product}: the client caught up with MD_NORM`,
          async () => {
            const ids = await norm(product);
            const got = trades.get(product) ?? [];
            if (ids.length > 0 && ids.length === got.length) return ids;
            throw new Error(describeDifference(got, ids));
          },
          { timeoutMs: 30_000, intervalMs: 300 },
        ).catch((err: unknown) => {
          console.error(`client events:\n${events.slice(-40).join('\n')}`);
          throw err;
        });
        const got = trades.get(product) ?? [];
        console.info(
          `${feed} ${product}: ${String(got.length)} trades, ${String(gaps.get(product)?.length ?? 0)} gap ids`,
        );
        expect(got, `${product}: the client got MD_NORM's trades, once, in order`).toEqual(stream);
        expect([...got].sort((a, b) => Number(a) - Number(b))).toEqual(got);
        const db = await waitFor(
          `${product}: PostgreSQL caught up`,
          async () => {
            const rows = await pipe.sql<
              { trade_id: string }[]
            >`select trade_id::text from trades where product = ${product} order by trade_id`;
            if (rows.length === stream.length) return rows.map((r) => r.trade_id);
            throw new Error(
              describeDifference(
                rows.map((r) => r.trade_id),
                stream,
              ),
            );
          },
          { timeoutMs: 30_000, intervalMs: 300 },
        ).catch((err: unknown) => {
          console.error(`killed snapshotter's log:\n${snapshotter?.logTail(40) ?? ''}`);
          console.error(`snapshotter log:\n${pipe.services[1]?.logTail(60) ?? ''}`);
          throw err;
        });
        expect(db, `${product}: PostgreSQL has the same trades`).toEqual(stream);
        // The oracle: announced gaps are exactly the simulator's drops (below the last trade).
        const plog = pipe.sim.log().products[product];
        const last = Number(stream.at(-1));
        const drops =
          plog === undefined ? [] : missedIds(plog, 'fault_drop').filter((id) => id < last);
        expect(
          gaps.get(product)?.filter((id) => id < last),
          `${product}: gaps = drops`,
        ).toEqual(drops);
        for (const id of drops) expect(stream).not.toContain(String(id));
        // REST agrees with the stream.
        const rest = (await (
          await fetch(
            `${pipe.gateway.base}/v1/products/${product}/trades?from_id=${stream[0] ?? '0'}&to_id=${String(last)}&limit=1000`,
          )
        ).json()) as { trades: { trade_id: string }[] };
        expect(rest.trades.map((t) => t.trade_id)).toEqual(stream.slice(0, 1000));
      }
      expect(PRODUCTS.reduce((n, x) => n + (gaps.get(x)?.length ?? 0), 0)).toBeGreaterThan(0);
    });
  },
);
