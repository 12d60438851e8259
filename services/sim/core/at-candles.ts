/**
 * Five-minute candles per product for the Advanced Trade `candles` channel, folded from the
 * market's trades: a snapshot is the last 100 buckets oldest first, and an update is the
 * current bucket, sent only when it changed (PROTOCOL.md §2.3: one update per product
 * every ~5–10 s in the capture). Pure: trades and times come in as arguments.
 */
import type { CandleJson } from './at-frames.js';
import { trimmed, toUnits } from './decimal.js';
import { productSpec } from './products.js';

const BUCKET_S = 300;
const KEEP = 100;

interface Candle {
  start: number;
  open: string;
  high: string;
  low: string;
  close: string;
  /** Base units of 10^-sizeDecimals. */
  volume: number;
}

export class CandleBook {
  private readonly candles = new Map<string, Candle[]>();
  private readonly changed = new Set<string>();

  /** A trade (price and size as on the wire) at `timeUs`. */
  trade(product: string, price: string, size: string, timeUs: number): void {
    const start = Math.floor(timeUs / 1e6 / BUCKET_S) * BUCKET_S;
    let list = this.candles.get(product);
    if (list === undefined) {
      list = [];
      this.candles.set(product, list);
    }
    const units = toUnits(size, productSpec(product).sizeDecimals);
    const last = list[list.length - 1];
    if (last !== undefined && last.start === start) {
      if (Number(price) > Number(last.high)) last.high = price;
      if (Number(price) < Number(last.low)) last.low = price;
      last.close = price;
      last.volume += units;
    } else if (last === undefined || start > last.start) {
      list.push({ start, open: price, high: price, low: price, close: price, volume: units });
      if (list.length > KEEP) list.splice(0, list.length - KEEP);
    } else {
      return; // a trade older than the current bucket: the market never makes one
    }
    this.changed.add(product);
  }

  /** The last 100 candles, oldest first. */
  snapshot(product: string): CandleJson[] {
    return (this.candles.get(product) ?? []).map((c) => this.json(product, c));
  }

  /** Products whose current candle changed since the last call, with that candle. */
  takeChanged(): { product: string; candle: CandleJson }[] {
    const out: { product: string; candle: CandleJson }[] = [];
    for (const product of this.changed) {
      const c = this.candles.get(product)?.at(-1);
      if (c !== undefined) out.push({ product, candle: this.json(product, c) });
    }
    this.changed.clear();
    return out;
  }

  private json(product: string, c: Candle): CandleJson {
    return {
      start: String(c.start),
      high: c.high,
      low: c.low,
      open: c.open,
      close: c.close,
      volume: trimmed(c.volume, productSpec(product).sizeDecimals),
      product_id: product,
    };
  }
}
