import { scanJson, type Token } from './json-scan.js';

/**
 * Classifies one Exchange feed frame for routing. Pure: no I/O, no clock. Schema checks
 * are the normalizer's job; here a frame is only unparsable (not a JSON object, or no
 * string `type`) or routable by its `type` and `product_id`.
 */
export type Classified =
  | { kind: 'unparsable'; error: string }
  | { kind: 'control'; type: string; value: Record<string, unknown> }
  | {
      kind: 'product';
      type: string;
      product: string;
      /** How the msg id is built (DESIGN.md "Raw frames"). */
      id:
        | { scope: 'trade'; tradeId: string }
        | { scope: 'ticker'; sequence: string }
        | { scope: 'connection' };
      /** The exchange's `time` string, when present. */
      time: string | undefined;
    };

const PRODUCT = /^[A-Z0-9]{1,15}-[A-Z0-9]{1,15}$/;
const TYPE = /^[A-Za-z0-9_-]{1,64}$/;
const INTEGER = /^[0-9]{1,30}$/;

const KEYS = new Set(['type', 'product_id', 'trade_id', 'sequence', 'time']);

export function classifyExchangeFrame(text: string): Classified {
  const scan = scanJson(text, KEYS);
  if (!scan.ok) return { kind: 'unparsable', error: `not JSON: ${scan.error}` };
  if (!scan.object) return { kind: 'unparsable', error: 'not a JSON object' };
  const f = scan.fields;
  const type = str(f.get('type'));
  if (type === undefined || !TYPE.test(type)) {
    return { kind: 'unparsable', error: 'no usable "type"' };
  }
  const product = str(f.get('product_id'));
  if (product === undefined || !PRODUCT.test(product)) {
    // Control frames are rare and small: the caller reads their fields.
    return { kind: 'control', type, value: JSON.parse(text) as Record<string, unknown> };
  }
  const time = str(f.get('time'));
  if (type === 'match' || type === 'last_match') {
    const tradeId = integerString(f.get('trade_id'));
    // A match without a usable trade id cannot be deduplicated by id: it still goes in,
    // connection-scoped, and the normalizer rejects it with the schema reason.
    if (tradeId !== undefined)
      return { kind: 'product', type, product, id: { scope: 'trade', tradeId }, time };
  } else if (type === 'ticker') {
    const sequence = integerString(f.get('sequence'));
    if (sequence !== undefined)
      return { kind: 'product', type, product, id: { scope: 'ticker', sequence }, time };
  }
  return { kind: 'product', type, product, id: { scope: 'connection' }, time };
}

function str(t: Token | undefined): string | undefined {
  return t?.kind === 'string' ? t.value : undefined;
}

/** Exchange ids are JSON integers; a decimal string of digits is accepted too. */
function integerString(t: Token | undefined): string | undefined {
  if (t?.kind === 'number') {
    const v = Number(t.text);
    return Number.isSafeInteger(v) && v >= 0 ? String(v) : undefined;
  }
  if (t?.kind === 'string' && INTEGER.test(t.value)) return t.value.replace(/^0+(?=\d)/, '');
  return undefined;
}
