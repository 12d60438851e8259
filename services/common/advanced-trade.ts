/**
 * The Coinbase Advanced Trade market-data channels that need no authentication
 * (PROTOCOL.md §2.1, §2.3): the names the ingestor subscribes and the simulator serves.
 */
export const ADVANCED_CHANNELS = [
  'heartbeats',
  'ticker',
  'market_trades',
  'level2',
  'candles',
  'status',
] as const;
export type AdvancedChannel = (typeof ADVANCED_CHANNELS)[number];
