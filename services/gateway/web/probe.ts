/**
 * What the page exposes as `window.__ledgerflux`: the trades it was delivered and the
 * chart counters, so a browser test can compare them with MD_NORM (and a person can look
 * in the console). Plain data only.
 */
export interface PageProbe {
  /** Connection state as shown. */
  connection: 'connecting' | 'connected' | 'reconnecting' | 'disconnected';
  /** Times the WebSocket (re)connected. */
  connects: number;
  /** Per product, every trade id delivered (snapshot trades, then updates), in order. */
  trades: Record<string, string[]>;
  gaps: { product: string; from: number; to: number; reason: string }[];
  statuses: { product: string; event: string; reason: string }[];
  errors: { code: string; message: string }[];
  /** Points in the price chart at its last draw, candles in the candle chart. */
  pricePoints: number;
  candles: number;
  /** Candles received from REST at the last load. */
  restCandles: number;
  draws: number;
}

declare global {
  interface Window {
    __ledgerflux?: PageProbe;
  }
}

export function newProbe(): PageProbe {
  return {
    connection: 'connecting',
    connects: 0,
    trades: {},
    gaps: [],
    statuses: [],
    errors: [],
    pricePoints: 0,
    candles: 0,
    restCandles: 0,
    draws: 0,
  };
}
