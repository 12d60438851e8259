import { LedgerFluxClient } from '../../client/client.js';
import type { ClientEvent } from '../../client/types.js';
import type { Level, Trade } from '../../common/schemas/normalized.js';
import type { CandlesBody, Current, ProductsBody } from '../rest/schemas.js';
import { ApiError, getJson, takeApiKey, webSocketUrl } from './api.js';
import { drawCandleChart, drawPriceChart } from './chart.js';
import {
  applyBook,
  applyTicker,
  applyTrade,
  candleBars,
  emptyQuote,
  foldTrade,
  pushPoint,
  timeMs,
  type CandleBar,
  type PricePoint,
  type Quote,
} from './model.js';
import { newProbe } from './probe.js';
import {
  EventsList,
  ProductsTable,
  byId,
  renderBook,
  renderConnection,
  showBanner,
} from './view.js';

/**
 * The live page: products from REST (`/v1/products`, current state from MD_NORM), then
 * everything live over /ws through the client library, which reconnects and resumes by
 * offset. Candles of the selected product come from REST and are extended by live trades.
 */

const INTERVALS = {
  '1m': 60_000,
  '5m': 300_000,
  '15m': 900_000,
  '1h': 3_600_000,
  '1d': 86_400_000,
} as const;
type Interval = keyof typeof INTERVALS;
const MAX_POINTS = 2_000;
const CANDLES_SHOWN = 120;
const CANDLE_REFRESH_MS = 30_000;
const BOOK_LEVELS = 10;

function pageElements() {
  return {
    products: byId('products-body', HTMLTableSectionElement),
    book: byId('book-body', HTMLTableSectionElement),
    events: byId('events', HTMLOListElement),
    intervals: byId('intervals', HTMLElement),
    banner: byId('banner', HTMLElement),
    conn: byId('conn', HTMLElement),
    price: byId('price-chart', HTMLCanvasElement),
    candles: byId('candle-chart', HTMLCanvasElement),
    footer: byId('footer', HTMLElement),
  };
}
type Elements = ReturnType<typeof pageElements>;
const NEEDS_KEY = 'This gateway needs an API key: open the page with ?api_key=…';

class Page {
  readonly probe = newProbe();
  private readonly quotes = new Map<string, Quote>();
  private readonly points = new Map<string, PricePoint[]>();
  private readonly lastTradeId = new Map<string, bigint>();
  private readonly books = new Map<string, { bids: Level[]; asks: Level[] }>();
  private readonly table: ProductsTable;
  private readonly events: EventsList;
  private readonly client: LedgerFluxClient;
  private selected: string;
  private interval: Interval = '1m';
  private candles: CandleBar[] = [];
  private candleNote: string | undefined;
  private candleRequest = 0;
  private readonly dirtyRows = new Set<string>();
  private dirty = { price: true, candles: true, book: true };
  private frameRequested = false;

  constructor(
    private readonly dom: Elements,
    products: readonly Current[],
    private readonly apiKey: string | undefined,
  ) {
    const ids = products.map((p) => p.product);
    const hash = decodeURIComponent(location.hash.slice(1)).toUpperCase();
    this.selected = ids.includes(hash) ? hash : (ids[0] ?? '');
    this.events = new EventsList(dom.events);
    this.table = new ProductsTable(dom.products, ids, (p) => {
      this.select(p);
    });
    const now = Date.now();
    for (const c of products) this.seed(c, now);
    window.__ledgerflux = this.probe;
    this.client = new LedgerFluxClient({
      url: webSocketUrl(),
      ...(apiKey === undefined ? {} : { apiKey }),
      conflateMs: 250,
    });
    this.client.on((e) => {
      this.onEvent(e);
    });
    this.client.subscribe({ channels: ['ticker', 'trades', 'book'], products: ids });
    dom.intervals.querySelectorAll('button').forEach((b) => {
      b.addEventListener('click', () => {
        this.setInterval(b.dataset.interval as Interval);
      });
    });
    window.addEventListener('resize', () => {
      this.dirty = { price: true, candles: true, book: true };
      this.schedule();
    });
    setInterval(() => void this.loadCandles(), CANDLE_REFRESH_MS);
    setInterval(() => {
      this.renderFooter();
    }, 1_000);
    this.select(this.selected);
  }

  /** The REST current state, before the WebSocket snapshot arrives. */
  private seed(c: Current, now: number): void {
    let q = emptyQuote(c.product);
    if (c.ticker !== null) q = applyTicker(q, c.ticker, now);
    if (c.book !== null) {
      q = applyBook(q, c.book, now);
      this.books.set(c.product, { bids: c.book.bids, asks: c.book.asks });
    }
    if (q.last === undefined && c.last_trade !== null) q = { ...q, last: c.last_trade.price };
    this.quotes.set(c.product, q);
    this.points.set(c.product, []);
    this.dirtyRows.add(c.product);
  }

  private select(product: string): void {
    this.selected = product;
    this.table.select(product);
    document.querySelectorAll('.sel-product').forEach((s) => {
      s.textContent = product;
    });
    history.replaceState(history.state, '', `#${encodeURIComponent(product)}`);
    this.candles = [];
    this.candleNote = 'loading candles…';
    this.dirty = { price: true, candles: true, book: true };
    this.schedule();
    void this.loadCandles();
  }

  private setInterval(interval: Interval): void {
    if (!(interval in INTERVALS)) return;
    this.interval = interval;
    this.dom.intervals.querySelectorAll('button').forEach((b) => {
      b.setAttribute('aria-pressed', String(b.dataset.interval === interval));
    });
    this.candles = [];
    this.candleNote = 'loading candles…';
    this.dirty.candles = true;
    this.schedule();
    void this.loadCandles();
  }

  private async loadCandles(): Promise<void> {
    const request = ++this.candleRequest;
    const { selected: product, interval } = this;
    const w = INTERVALS[interval];
    const bucket = Math.floor(Date.now() / w) * w;
    const from = new Date(bucket - (CANDLES_SHOWN - 1) * w).toISOString();
    const to = new Date(bucket + w).toISOString();
    const path = `v1/products/${encodeURIComponent(product)}/candles?interval=${interval}&from=${from}&to=${to}`;
    try {
      const body = await getJson<CandlesBody>(path, this.apiKey);
      if (request !== this.candleRequest) return;
      const bars = candleBars(body.candles);
      // Live buckets newer than the stored ones stay (the snapshotter commits in batches).
      const newest = bars.at(-1)?.t ?? -Infinity;
      this.candles = [...bars, ...this.candles.filter((c) => c.t > newest)];
      this.candleNote = undefined;
      this.probe.restCandles = bars.length;
    } catch (err) {
      if (request !== this.candleRequest) return;
      const why = err instanceof ApiError ? err.message : 'request failed';
      this.candleNote = `history unavailable (${why}); candles from live trades only`;
      this.events.add('error', ` candles: ${why}`, Date.now());
    }
    this.dirty.candles = true;
    this.schedule();
  }

  private onEvent(e: ClientEvent): void {
    const now = Date.now();
    switch (e.type) {
      case 'snapshot':
      case 'update':
        if (e.channel === 'trades') {
          for (const t of Array.isArray(e.data) ? e.data : [e.data]) this.onTrade(t, now);
        } else if (e.channel === 'ticker') {
          const ticker = e.data;
          if (ticker !== null) this.quote(e.product, (q) => applyTicker(q, ticker, now));
        } else if (e.data !== null) {
          const book = e.data;
          this.books.set(e.product, { bids: book.bids, asks: book.asks });
          this.quote(e.product, (q) => applyBook(q, book, now));
          if (e.product === this.selected) this.dirty.book = true;
        }
        break;
      case 'gap':
        this.probe.gaps.push({ product: e.product, from: e.from, to: e.to, reason: e.reason });
        this.events.add(
          'gap',
          `${e.product} trades ${String(e.from)}–${String(e.to)} missing (${e.reason}${e.recovering ? ', recovering' : ''})`,
          now,
        );
        break;
      case 'recovered':
        this.events.add('info', `${e.product} missed trades delivered again`, now);
        break;
      case 'status':
        this.probe.statuses.push({ product: e.product, event: e.event, reason: e.reason });
        this.events.add('status', `${e.product} ${e.event} (${e.reason})`, now);
        break;
      case 'error':
        this.probe.errors.push({ code: e.code, message: e.message });
        this.events.add('error', `${e.code}: ${e.message}`, now);
        if (e.code === 'UNAUTHORIZED') {
          showBanner(this.dom.banner, NEEDS_KEY);
        }
        break;
      case 'connected':
        this.probe.connects++;
        this.setConnection('connected');
        this.events.add(
          'connected',
          this.probe.connects > 1 ? 'reconnected; resuming from the last offsets' : 'connected',
          now,
        );
        break;
      case 'disconnected':
        this.setConnection(e.reconnecting === true ? 'reconnecting' : 'disconnected');
        this.events.add(
          'disconnected',
          `closed (${String(e.code ?? '?')})${e.reconnecting === true ? ', reconnecting' : ''}`,
          now,
        );
        break;
    }
    this.schedule();
  }

  private onTrade(t: Trade, now: number): void {
    (this.probe.trades[t.product] ??= []).push(t.trade_id);
    const id = BigInt(t.trade_id);
    const last = this.lastTradeId.get(t.product);
    // A fresh snapshot (after OFFSET_EXPIRED) repeats trades already drawn.
    if (last !== undefined && id <= last) return;
    this.lastTradeId.set(t.product, id);
    this.quote(t.product, (q) => applyTrade(q, t, now));
    const point = { t: timeMs(t.time, now), price: Number(t.price) };
    pushPoint(this.points.get(t.product) ?? [], point, MAX_POINTS);
    if (t.product === this.selected) {
      foldTrade(this.candles, INTERVALS[this.interval], point.t, point.price, Number(t.size));
      this.dirty.price = true;
      this.dirty.candles = true;
    }
  }

  private quote(product: string, f: (q: Quote) => Quote): void {
    const q = this.quotes.get(product);
    if (q === undefined) return;
    this.quotes.set(product, f(q));
    this.dirtyRows.add(product);
  }

  private setConnection(state: Page['probe']['connection']): void {
    this.probe.connection = state;
    renderConnection(this.dom.conn, state);
    if (state === 'connected') showBanner(this.dom.banner, undefined);
  }

  private schedule(): void {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.render();
    });
  }

  private render(): void {
    for (const p of this.dirtyRows) {
      const q = this.quotes.get(p);
      if (q !== undefined) this.table.render(q);
    }
    this.dirtyRows.clear();
    if (this.dirty.price) {
      this.probe.pricePoints = drawPriceChart(this.dom.price, this.points.get(this.selected) ?? []);
      this.probe.draws++;
    }
    if (this.dirty.candles) {
      const w = INTERVALS[this.interval];
      this.probe.candles = drawCandleChart(this.dom.candles, this.candles, w, this.candleNote);
    }
    if (this.dirty.book) {
      const b = this.books.get(this.selected);
      renderBook(
        this.dom.book,
        b?.bids.slice(0, BOOK_LEVELS) ?? [],
        b?.asks.slice(0, BOOK_LEVELS) ?? [],
      );
    }
    this.dirty = { price: false, candles: false, book: false };
  }

  private renderFooter(): void {
    const offsets = Object.entries(this.client.offsets())
      .map(([p, o]) => `${p} ${String(o)}`)
      .join(' · ');
    this.dom.footer.textContent = `resume offsets: ${offsets || '—'}`;
  }
}

async function loadProducts(dom: Elements, apiKey: string | undefined): Promise<Current[]> {
  const banner = dom.banner;
  for (let attempt = 0; ; attempt++) {
    try {
      const body = await getJson<ProductsBody>(`v1/products?depth=${String(BOOK_LEVELS)}`, apiKey);
      showBanner(banner, undefined);
      return body.products;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        showBanner(banner, NEEDS_KEY);
        renderConnection(dom.conn, 'disconnected');
        throw err;
      }
      const why = err instanceof Error ? err.message : 'request failed';
      showBanner(banner, `Cannot load the products (${why}); retrying…`);
      await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
    }
  }
}

async function boot(): Promise<void> {
  const dom = pageElements();
  const apiKey = takeApiKey();
  const products = await loadProducts(dom, apiKey);
  new Page(dom, products, apiKey);
}

void boot().catch(() => undefined);
