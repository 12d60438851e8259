import type { Level } from '../../common/schemas/normalized.js';
import { change24h, subtractDecimal, type Quote } from './model.js';
import type { PageProbe } from './probe.js';

/**
 * The DOM side of the page: the products table (rows built once, cells updated), the
 * order book, the events list, the connection pill and the banner. Text only through
 * textContent: nothing from the network is parsed as HTML.
 */

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  text = '',
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.textContent = text;
  return e;
}

export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const e = document.getElementById(id);
  if (!(e instanceof type)) throw new Error(`#${id} is missing from the page`);
  return e;
}

const DASH = '—';

interface Row {
  tr: HTMLTableRowElement;
  cells: Record<'last' | 'bid' | 'ask' | 'spread' | 'change' | 'trades', HTMLTableCellElement>;
  shownLast?: string;
}

export class ProductsTable {
  private readonly rows = new Map<string, Row>();

  constructor(
    tbody: HTMLTableSectionElement,
    products: readonly string[],
    onSelect: (product: string) => void,
  ) {
    for (const product of products) {
      const tr = el('tr', { 'data-product': product, 'aria-selected': 'false', tabindex: '0' });
      tr.append(el('td', {}, product));
      const cell = (name: string) =>
        tr.appendChild(el('td', { class: 'num', 'data-col': name }, DASH));
      const cells = {
        last: cell('last'),
        bid: cell('bid'),
        ask: cell('ask'),
        spread: cell('spread'),
        change: cell('change'),
        trades: cell('trades'),
      };
      tr.addEventListener('click', () => {
        onSelect(product);
      });
      tr.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') onSelect(product);
      });
      tbody.append(tr);
      this.rows.set(product, { tr, cells });
    }
  }

  select(product: string): void {
    for (const [p, r] of this.rows) r.tr.setAttribute('aria-selected', String(p === product));
  }

  render(q: Quote): void {
    const r = this.rows.get(q.product);
    if (r === undefined) return;
    const { cells } = r;
    if (q.last !== undefined && q.last !== r.shownLast) {
      cells.last.textContent = q.last;
      if (r.shownLast !== undefined && q.move !== 'none') {
        // Restart the animation: drop the class, force a style flush, add it again.
        cells.last.classList.remove('flash-up', 'flash-down');
        cells.last.getBoundingClientRect();
        cells.last.classList.add(q.move === 'up' ? 'flash-up' : 'flash-down');
      }
      r.shownLast = q.last;
    }
    cells.bid.textContent = q.bid ?? DASH;
    cells.ask.textContent = q.ask ?? DASH;
    cells.spread.textContent =
      q.bid !== undefined && q.ask !== undefined ? subtractDecimal(q.ask, q.bid) : DASH;
    const ch = change24h(q);
    cells.change.textContent = ch ?? DASH;
    cells.change.className = `num ${ch === undefined ? '' : ch.startsWith('-') ? 'neg' : 'pos'}`;
    cells.trades.textContent = String(q.trades);
  }
}

export function renderBook(tbody: HTMLTableSectionElement, bids: Level[], asks: Level[]): void {
  const rows: HTMLTableRowElement[] = [];
  for (let i = 0; i < Math.max(bids.length, asks.length, 1); i++) {
    const tr = el('tr');
    const b = bids[i];
    const a = asks[i];
    tr.append(
      el('td', { class: 'num bid' }, b?.[1] ?? ''),
      el('td', { class: 'num bid' }, b?.[0] ?? (i === 0 && a === undefined ? DASH : '')),
      el('td', { class: 'num ask' }, a?.[0] ?? ''),
      el('td', { class: 'num ask' }, a?.[1] ?? ''),
    );
    rows.push(tr);
  }
  tbody.replaceChildren(...rows);
}

export type EventKind = 'gap' | 'status' | 'connected' | 'disconnected' | 'error' | 'info';

export class EventsList {
  constructor(
    private readonly list: HTMLOListElement,
    private readonly max = 200,
  ) {}

  add(kind: EventKind, text: string, nowMs: number): void {
    const li = el('li', { 'data-kind': kind });
    li.append(
      el('time', {}, new Date(nowMs).toISOString().slice(11, 19)),
      el('span', { class: 'kind' }, kind),
      el('span', { class: 'text' }, text.trim()),
    );
    this.list.prepend(li);
    while (this.list.childElementCount > this.max) this.list.lastElementChild?.remove();
  }
}

const PILL_TEXT: Record<PageProbe['connection'], string> = {
  connecting: 'connecting…',
  connected: 'live',
  reconnecting: 'reconnecting…',
  disconnected: 'disconnected',
};

export function renderConnection(pill: HTMLElement, state: PageProbe['connection']): void {
  pill.dataset.state = state;
  pill.textContent = PILL_TEXT[state];
}

export function showBanner(banner: HTMLElement, text: string | undefined): void {
  banner.hidden = text === undefined;
  banner.textContent = text ?? '';
}
