import type { ProcessorOptions } from '../../../services/normalizer/core/product-processor.js';

/** Product-processor options of the unit tests: the default windows, books published at once. */
export const PROCESSOR_OPTS: ProcessorOptions = {
  windowMs: 250,
  windowMsgs: 100,
  topN: 5,
  bookMinIntervalMs: 0,
  validate: { priceJumpPct: 10, absurdSpreadPct: 5 },
};
