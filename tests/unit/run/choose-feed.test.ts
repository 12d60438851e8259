import { describe, expect, it } from 'vitest';
import { chooseFeed } from '../../../services/run/main.js';

describe('ledgerflux run: the feed', () => {
  it('--feed wins over COINBASE_FEED; the default is the Exchange; anything else is refused', () => {
    expect(chooseFeed(undefined, undefined)).toBe('exchange');
    expect(chooseFeed(undefined, ' ')).toBe('exchange');
    expect(chooseFeed(undefined, 'advanced')).toBe('advanced');
    expect(chooseFeed('exchange', 'advanced')).toBe('exchange');
    expect(chooseFeed('advanced', undefined)).toBe('advanced');
    expect(chooseFeed('ws-feed', undefined)).toBeUndefined();
    expect(chooseFeed(undefined, 'Advanced')).toBeUndefined();
  });
});
