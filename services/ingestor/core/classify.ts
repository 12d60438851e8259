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
      value: Record<string, unknown>;
    };

const PRODUCT = /^[A-Z0-9]{1,15}-[A-Z0-9]{1,15}$/;
const TYPE = /^[A-Za-z0-9_-]{1,64}$/;
const INTEGER = /^[0-9]{1,30}$/;

export function classifyExchangeFrame(text: string): Classified {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return {
      kind: 'unparsable',
      error: `not JSON: ${err instanceof Error ? err.message : 'parse error'}`,
    };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'unparsable', error: 'not a JSON object' };
  }
  const obj = value as Record<string, unknown>;
  const type = obj.type;
  if (typeof type !== 'string' || !TYPE.test(type)) {
    return { kind: 'unparsable', error: 'no usable "type"' };
  }
  const product = obj.product_id;
  if (typeof product !== 'string' || !PRODUCT.test(product)) {
    return { kind: 'control', type, value: obj };
  }
  const time = typeof obj.time === 'string' ? obj.time : undefined;
  if (type === 'match' || type === 'last_match') {
    const tradeId = integerString(obj.trade_id);
    // A match without a usable trade id cannot be deduplicated by id: it still goes in,
    // connection-scoped, and the normalizer rejects it with the schema reason.
    if (tradeId !== undefined)
      return { kind: 'product', type, product, id: { scope: 'trade', tradeId }, time, value: obj };
  } else if (type === 'ticker') {
    const sequence = integerString(obj.sequence);
    if (sequence !== undefined)
      return {
        kind: 'product',
        type,
        product,
        id: { scope: 'ticker', sequence },
        time,
        value: obj,
      };
  }
  return { kind: 'product', type, product, id: { scope: 'connection' }, time, value: obj };
}

/** Exchange ids are JSON integers; a decimal string of digits is accepted too. */
function integerString(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && INTEGER.test(v)) return v.replace(/^0+(?=\d)/, '');
  return undefined;
}
