import { nowUs } from '../services/common/schemas/headers.js';

/** What the raw chain's sink process reports to the bench, every 20 ms. */
export interface SinkReport {
  received: number;
  latenciesMs: number[];
}

const dec = new TextDecoder();

/**
 * The raw chain's payload is its publish time in epoch µs after a mark: `w` during the
 * warm-up, `m` in the measured window. The latency of a measured message, else undefined.
 */
export function measuredLatencyMs(payload: Uint8Array): number | undefined {
  const text = dec.decode(payload);
  if (!text.startsWith('m')) return undefined;
  return (nowUs() - Number(text.slice(1))) / 1000;
}
