/**
 * The live page in a real browser (Debian's chromium through playwright-core) on the real
 * pipeline: simulator → ingestor → normalizer → MD_NORM → gateway (WebSocket + REST +
 * page) and the snapshotter for candles. The table fills and moves, both charts draw,
 * gaps and status events show, and after the gateway restarts on its port the page
 * resumes without losing or repeating a trade (checked against MD_NORM).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PageProbe } from '../../services/gateway/web/probe.js';
import type { Trade } from '../../services/common/schemas/normalized.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';
import { startRestGateway } from '../harness/rest-gateway.js';
import { readStream } from '../harness/streams.js';
import { waitFor } from '../harness/wait.js';
import { launchChromium, openPage, screenshot, type PageProblems } from './chromium.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'];
let p: Pipeline;
let browser: Browser;
let page: Page;
let problems: PageProblems;

beforeAll(async () => {
  // Trades are dropped now and then, so the normalizer announces gaps the page must show.
  [p, browser] = await Promise.all([
    startPipeline(PRODUCTS, { rate: 120, faults: { drop: { p: 0.03 } } }),
    launchChromium(),
  ]);
  ({ page, problems } = await openPage(browser, `${p.gateway.base}/`));
}, 120_000);
afterAll(async () => {
  await browser.close().catch(() => undefined);
  await p.stop();
});

const probe = () => page.evaluate<PageProbe | undefined>(() => window.__ledgerflux);
const cell = (product: string, col: string) =>
  page.locator(`#products tr[data-product="${product}"] td[data-col="${col}"]`).innerText();
const decimal = /^[0-9]+\.[0-9]+$/;

/** Pixels of a canvas whose colour passes `test` (r, g, b). */
function countPixels(id: string, kind: 'line' | 'candle'): Promise<number> {
  return page.evaluate(
    ([canvasId, k]) => {
      const c = document.getElementById(canvasId) as HTMLCanvasElement;
      const d = c.getContext('2d')?.getImageData(0, 0, c.width, c.height).data ?? [];
      let n = 0;
      for (let i = 0; i < d.length; i += 4) {
        const [r, g, b] = [d[i] ?? 0, d[i + 1] ?? 0, d[i + 2] ?? 0];
        // The line is blue (#4aa8ff); candles are green (#26a269) or red (#e5534b).
        if (
          k === 'line' ? b > 200 && r < 130 && g > 120 : (g > 140 && r < 80) || (r > 200 && g < 110)
        )
          n++;
      }
      return n;
    },
    [id, kind] as const,
  );
}

describe('the live page', () => {
  it('loads, fills the products table, and its prices move as the simulator trades', async () => {
    expect(await page.title()).toBe('LedgerFlux · live market data');
    await waitFor('connected', async () => (await probe())?.connection === 'connected');
    for (const product of PRODUCTS) {
      await waitFor(`${product} last, bid and ask`, async () => {
        const shown = await Promise.all(['last', 'bid', 'ask'].map((c) => cell(product, c)));
        return shown.every((v) => decimal.test(v));
      });
      // One read of the row: prices keep moving between separate reads.
      const [bid, ask, spread] = await page.evaluate((p) => {
        const row = document.querySelector(`#products tr[data-product="${p}"]`);
        const read = (c: string) => Number(row?.querySelector(`td[data-col="${c}"]`)?.textContent);
        return [read('bid'), read('ask'), read('spread')];
      }, product);
      expect(spread).toBeCloseTo(ask - bid, 8);
      expect(await cell(product, 'change')).toMatch(/^[+-][0-9]+\.[0-9]{2}%$/);
    }
    const before = await Promise.all(PRODUCTS.map((x) => cell(x, 'trades')));
    const lastBefore = await cell('BTC-USD', 'last');
    await waitFor(
      'trades to arrive and the BTC-USD price to change',
      async () => {
        const now = await Promise.all(PRODUCTS.map((x) => cell(x, 'trades')));
        return (
          now.every((n, i) => Number(n) > Number(before[i])) &&
          (await cell('BTC-USD', 'last')) !== lastBefore
        );
      },
      { timeoutMs: 30_000 },
    );
  });

  it('draws the live price line and the candles (from REST, extended live)', async () => {
    await waitFor('price points', async () => ((await probe())?.pricePoints ?? 0) > 20, {
      timeoutMs: 30_000,
    });
    await waitFor('candles', async () => ((await probe())?.candles ?? 0) >= 1, {
      timeoutMs: 30_000,
    });
    const drawsBefore = (await probe())?.draws ?? 0;
    await waitFor('more draws', async () => ((await probe())?.draws ?? 0) > drawsBefore + 5);
    expect(await countPixels('price-chart', 'line')).toBeGreaterThan(300);
    expect(await countPixels('candle-chart', 'candle')).toBeGreaterThan(20);
    // Candles came from PostgreSQL too, once the snapshotter stored the first trades.
    await page.locator('#intervals button[data-interval="5m"]').click();
    await waitFor('REST candles', async () => ((await probe())?.restCandles ?? 0) >= 1, {
      timeoutMs: 30_000,
    });
    await page.locator('#products tr[data-product="ETH-USD"]').click();
    await waitFor(
      'ETH-USD selected',
      async () => (await page.locator('.sel-product').first().innerText()) === 'ETH-USD',
    );
    await waitFor('ETH-USD chart', async () => ((await probe())?.pricePoints ?? 0) > 5);
    expect(await page.locator('#book-body tr').count()).toBe(10);
  });

  it('shows gap and status events as they happen', async () => {
    await waitFor('a gap event', async () => ((await probe())?.gaps.length ?? 0) > 0, {
      timeoutMs: 30_000,
    });
    expect(await page.locator('#events li[data-kind="gap"]').count()).toBeGreaterThan(0);
    // An abrupt feed disconnect: the ingestor reconnects, resubscribes and the normalizer
    // announces the books invalid until their fresh snapshots arrive.
    const shown = await page.locator('#events li[data-kind="status"]').count();
    const seen = (await probe())?.statuses.length ?? 0;
    p.sim.setFaults({ close: { code: 1006 } });
    await waitFor('new status events', async () => ((await probe())?.statuses.length ?? 0) > seen, {
      timeoutMs: 30_000,
    });
    await waitFor(
      'shown',
      async () => (await page.locator('#events li[data-kind="status"]').count()) > shown,
    );
    expect(await page.locator('#events li[data-kind="status"] .text').first().innerText()).toMatch(
      /^[A-Z]+-USD (feed_reconnected|book_invalid|book_resynced|feed_stale|feed_ok) \(.+\)$/,
    );
    console.log(
      `status events after the fault: ${JSON.stringify((await probe())?.statuses.slice(seen))}`,
    );
    await screenshot(page, 'browser-page.png');
  });

  it('recovers after the gateway restarts on its port, without losing or repeating a trade', async () => {
    const jsm = await jetstreamManager(p.nc);
    const lastId = async (product: string) => {
      const m = await jsm.direct.getMessage('MD_NORM', {
        last_by_subj: `md.norm.coinbase.${product}.trade`,
      });
      return m === null ? 0 : Number(m.json<Trade>().trade_id);
    };
    await waitFor('connected', async () => (await probe())?.connection === 'connected');
    const connects = (await probe())?.connects ?? 0;
    const atStop: number[] = [];
    await p.restartGateway(async () => {
      await waitFor(
        'the page to notice',
        async () => (await probe())?.connection === 'reconnecting',
      );
      for (const product of PRODUCTS) atStop.push(await lastId(product));
      // Trading goes on while the gateway is down.
      await waitFor(
        'trades while the gateway is down',
        async () => (await lastId('BTC-USD')) > (atStop[0] ?? 0) + 10,
        {
          timeoutMs: 30_000,
        },
      );
    });
    await waitFor(
      'reconnected',
      async () => {
        const s = await probe();
        return s?.connection === 'connected' && s.connects > connects;
      },
      { timeoutMs: 30_000 },
    );
    const target = await Promise.all(PRODUCTS.map(lastId));
    await waitFor(
      'the page to catch up with MD_NORM',
      async () => {
        const s = await probe();
        return PRODUCTS.every((x, i) => Number(s?.trades[x]?.at(-1) ?? 0) >= (target[i] ?? 0));
      },
      { timeoutMs: 30_000 },
    );
    const got = (await probe())?.trades ?? {};
    for (const [i, product] of PRODUCTS.entries()) {
      const ids = (got[product] ?? []).map(Number);
      const first = ids[0] ?? 0;
      const last = ids.at(-1) ?? 0;
      const stored = (await readStream(p.nc, 'MD_NORM', `md.norm.coinbase.${product}.trade`))
        .map((m) => Number((JSON.parse(m.text()) as Trade).trade_id))
        .filter((id) => id >= first && id <= last);
      expect(ids, `${product}: every stored trade once, in order`).toEqual(stored);
      expect(
        last,
        `${product}: the page got trades published while the gateway was down`,
      ).toBeGreaterThan(atStop[i] ?? Infinity);
      console.log(
        `${product}: ${String(ids.length)} trades on the page, ${String(first)}..${String(last)}`,
      );
    }
    expect(
      await page.locator('#events li[data-kind="connected"] .text').first().innerText(),
    ).toMatch(/^reconnected; resuming from the last offsets$/);
    await screenshot(page, 'browser-page-after-restart.png');
    expect(problems.errors.filter((e) => !/WebSocket connection to .* failed/.test(e))).toEqual([]);
    expect(problems.failed.filter((f) => !/\/ws\b/.test(f))).toEqual([]);
  });
});

describe('API keys (GATEWAY_API_KEYS)', () => {
  it('uses ?api_key= for REST and /ws and drops it from the address bar; without one it says so', async () => {
    const g = await startRestGateway({
      natsUrl: p.server.url,
      databaseUrl: p.dbUrl,
      products: PRODUCTS,
      webDir: p.webDir,
      env: { GATEWAY_API_KEYS: 'browser-key' },
    });
    try {
      const keyed = await openPage(browser, `${g.base}/?api_key=browser-key#SOL-USD`);
      await waitFor('keyed page live', async () => {
        const s = await keyed.page.evaluate<PageProbe | undefined>(() => window.__ledgerflux);
        return s?.connection === 'connected' && (s.trades['SOL-USD']?.length ?? 0) > 0;
      });
      expect(keyed.page.url()).toBe(`${g.base}/#SOL-USD`);
      expect(await keyed.page.locator('.sel-product').first().innerText()).toBe('SOL-USD');
      const open = await openPage(browser, `${g.base}/`);
      await waitFor('the banner', () => open.page.locator('#banner').isVisible());
      expect(await open.page.locator('#banner').innerText()).toMatch(
        /needs an API key.*\?api_key=/,
      );
      expect(await open.page.locator('#conn').getAttribute('data-state')).toBe('disconnected');
      await keyed.page.close();
      await open.page.close();
    } finally {
      await g.stop();
    }
  });
});
