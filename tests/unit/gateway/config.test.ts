import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../services/common/config.js';
import { loadGatewayConfig } from '../../../services/gateway/config.js';

describe('gateway config', () => {
  it('has the documented defaults', () => {
    const c = loadGatewayConfig({});
    expect(c).toMatchObject({
      GATEWAY_PORT: 8080,
      PRODUCTS: ['BTC-USD', 'ETH-USD', 'SOL-USD'],
      GATEWAY_API_KEYS: [],
      RESUME_BUFFER: 10_000,
      RESUME_MAX_AGE_MS: 300_000,
      RESUME_MAX_CONCURRENT: 8,
      GATEWAY_MAX_SUBSCRIPTIONS: 100,
    });
  });

  it('splits API keys and trims them', () => {
    expect(loadGatewayConfig({ GATEWAY_API_KEYS: ' a , b,,c ' }).GATEWAY_API_KEYS).toEqual([
      'a',
      'b',
      'c',
    ]);
  });

  it('refuses bad values, and a hard buffer bound not above the slow threshold', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadGatewayConfig(env);
      } catch (err) {
        if (err instanceof ConfigError) return err.problems.join('\n');
        throw err;
      }
      return '';
    };
    expect(problems({ GATEWAY_PORT: 'x', RESUME_BUFFER: '0' })).toMatch(
      /GATEWAY_PORT[\s\S]*RESUME_BUFFER/,
    );
    expect(problems({ GATEWAY_SLOW_BYTES: '100000', GATEWAY_MAX_BUFFER_BYTES: '50000' })).toContain(
      'GATEWAY_MAX_BUFFER_BYTES',
    );
  });
});
