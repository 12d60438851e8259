import { scanJson, type Token } from './json-scan.js';

/**
 * Classifies one Advanced Trade frame for routing (PROTOCOL.md §2.2). Pure. A frame is
 * unparsable (not a JSON object; neither a `channel` nor an error `type`), a control
 * frame (no product: subscriptions, heartbeats, status, errors), one product's frame, or
 * a frame that spans several products, split here into one frame per product (the only
 * transformation the ingestor makes; DESIGN.md "Raw frames").
 *
 * Products are found by their `"product_id":"…"` keys without building the object tree
 * (a level2 snapshot is ~5 MB); only a frame naming two or more products is parsed.
 */
export type AdvancedClassified =
  | { kind: 'unparsable'; error: string }
  | {
      kind: 'control';
      type: string;
      sequenceNum: number | undefined;
      value: Record<string, unknown>;
    }
  | {
      kind: 'product';
      type: string;
      product: string;
      sequenceNum: number | undefined;
      /** The envelope's `timestamp`. */
      time: string | undefined;
    }
  | {
      kind: 'split';
      type: string;
      sequenceNum: number | undefined;
      time: string | undefined;
      /** One frame per product, in the order the products first appear. */
      parts: { product: string; text: string }[];
      /** Events (or items) naming no product, kept as a control frame. */
      rest: string | undefined;
    };

const PRODUCT = /^[A-Z0-9]{1,15}-[A-Z0-9]{1,15}$/;
const CHANNEL = /^[A-Za-z0-9_-]{1,64}$/;
const PRODUCT_KEY = /"product_id"\s*:\s*"([^"\\]{1,64})"/g;
const KEYS = new Set(['channel', 'type', 'sequence_num', 'timestamp']);

export function classifyAdvancedFrame(text: string): AdvancedClassified {
  const scan = scanJson(text, KEYS);
  if (!scan.ok) return { kind: 'unparsable', error: `not JSON: ${scan.error}` };
  if (!scan.object) return { kind: 'unparsable', error: 'not a JSON object' };
  const f = scan.fields;
  const channel = str(f.get('channel'));
  const sequenceNum = uint(f.get('sequence_num'));
  const time = str(f.get('timestamp'));
  if (channel === undefined || !CHANNEL.test(channel)) {
    // Errors are not enveloped: {"type":"error","message":…} (PROTOCOL.md §2.1).
    const type = str(f.get('type'));
    if (type === undefined || !CHANNEL.test(type))
      return { kind: 'unparsable', error: 'no usable "channel" or "type"' };
    return {
      kind: 'control',
      type,
      sequenceNum,
      value: JSON.parse(text) as Record<string, unknown>,
    };
  }
  const products = new Set<string>();
  for (const m of text.matchAll(PRODUCT_KEY)) {
    const p = m[1];
    if (p !== undefined && PRODUCT.test(p)) products.add(p);
  }
  const [only] = products;
  if (only === undefined)
    return {
      kind: 'control',
      type: channel,
      sequenceNum,
      value: JSON.parse(text) as Record<string, unknown>,
    };
  if (products.size === 1)
    return { kind: 'product', type: channel, product: only, sequenceNum, time };
  const { parts, rest } = splitByProduct(JSON.parse(text) as Record<string, unknown>);
  return { kind: 'split', type: channel, sequenceNum, time, parts, rest };
}

/**
 * Splits an envelope's events per product: an event with its own `product_id` (l2_data)
 * goes whole; an event listing items (`trades`, `tickers`, `candles`, …) is copied once
 * per product with that product's items. Everything else of the envelope is kept as is.
 */
export function splitByProduct(frame: Record<string, unknown>): {
  parts: { product: string; text: string }[];
  rest: string | undefined;
} {
  const byProduct = new Map<string, unknown[]>();
  const rest: unknown[] = [];
  const add = (product: string | undefined, event: unknown) => {
    if (product === undefined) {
      rest.push(event);
      return;
    }
    let list = byProduct.get(product);
    if (list === undefined) {
      list = [];
      byProduct.set(product, list);
    }
    list.push(event);
  };
  const events = Array.isArray(frame.events) ? (frame.events as unknown[]) : [];
  for (const event of events) {
    const own = productOf(event);
    const listKey = own === undefined ? itemListKey(event) : undefined;
    if (own !== undefined || listKey === undefined) {
      add(own, event);
      continue;
    }
    const e = event as Record<string, unknown>;
    const items = e[listKey] as unknown[];
    const groups = new Map<string | undefined, unknown[]>();
    for (const item of items) {
      const p = productOf(item);
      const g = groups.get(p) ?? [];
      g.push(item);
      groups.set(p, g);
    }
    for (const [p, g] of groups) add(p, { ...e, [listKey]: g });
  }
  const parts = [...byProduct].map(([product, evs]) => ({
    product,
    text: JSON.stringify({ ...frame, events: evs }),
  }));
  return {
    parts,
    rest: rest.length === 0 ? undefined : JSON.stringify({ ...frame, events: rest }),
  };
}

function productOf(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const p = (v as { product_id?: unknown }).product_id;
  return typeof p === 'string' && PRODUCT.test(p) ? p : undefined;
}

/** The key of an event's item array whose items carry products (`trades`, `tickers`, …). */
function itemListKey(event: unknown): string | undefined {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return undefined;
  for (const [k, v] of Object.entries(event)) {
    if (Array.isArray(v) && v.some((x) => productOf(x) !== undefined)) return k;
  }
  return undefined;
}

function str(t: Token | undefined): string | undefined {
  return t?.kind === 'string' ? t.value : undefined;
}

function uint(t: Token | undefined): number | undefined {
  if (t?.kind !== 'number') return undefined;
  const v = Number(t.text);
  return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}
