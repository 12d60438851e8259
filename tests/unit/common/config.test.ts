import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigError,
  databaseUrl,
  hideUrlPasswords,
  loadConfig,
  natsServers,
  natsServiceFields,
  port,
  positiveInt,
  productList,
} from '../../../services/common/config.js';

const Schema = z.object({
  ...natsServiceFields,
  PRODUCTS: productList('BTC-USD,ETH-USD,SOL-USD'),
  SHARDS: positiveInt(1),
  GATEWAY_PORT: port(8080),
  FLAG: z.stringbool().default(false),
});

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(Schema, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(Schema, {});
    expect(c.NATS_URL).toEqual(['nats://127.0.0.1:4222']);
    expect(c.PRODUCTS).toEqual(['BTC-USD', 'ETH-USD', 'SOL-USD']);
    expect(c.SHARDS).toBe(1);
    expect(c.GATEWAY_PORT).toBe(8080);
    expect(c.LOG_LEVEL).toBe('info');
    expect(c.FLAG).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('parses lists, numbers and booleans', () => {
    const c = loadConfig(Schema, {
      NATS_URL: 'nats://a:1, nats://b:2',
      PRODUCTS: 'btc-usd, ETH-USD,btc-usd',
      SHARDS: '4',
      FLAG: 'false',
    });
    expect(c.NATS_URL).toEqual(['nats://a:1', 'nats://b:2']);
    expect(c.PRODUCTS).toEqual(['BTC-USD', 'ETH-USD']);
    expect(c.SHARDS).toBe(4);
    expect(c.FLAG).toBe(false);
  });

  it('names every bad variable at once, with what it got', () => {
    const p = problems({
      SHARDS: '0',
      GATEWAY_PORT: '70000',
      PRODUCTS: 'BTCUSD',
      LOG_LEVEL: 'loud',
      FLAG: 'maybe',
    });
    const names = p.map((line) => line.split(':')[0]);
    expect(names.sort()).toEqual(
      ['FLAG', 'GATEWAY_PORT', 'LOG_LEVEL', 'PRODUCTS.0', 'SHARDS'].sort(),
    );
    expect(p.find((l) => l.startsWith('SHARDS'))).toContain('(got "0")');
    expect(p.find((l) => l.startsWith('PRODUCTS'))).toContain('product ids look like BTC-USD');
  });

  it('treats empty values as unset', () => {
    expect(loadConfig(Schema, { SHARDS: '' }).SHARDS).toBe(1);
  });

  it('rejects a NATS URL without a scheme', () => {
    expect(problems({ NATS_URL: '127.0.0.1:4222' })[0]).toMatch(/^NATS_URL\.0: a nats:\/\/ URL/);
  });

  it('the error message lists every problem', () => {
    try {
      loadConfig(Schema, { SHARDS: 'x', GATEWAY_PORT: '-1' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(
        /invalid configuration:\n {2}.*SHARDS[\s\S]*GATEWAY_PORT|GATEWAY_PORT[\s\S]*SHARDS/,
      );
    }
  });
});

describe('secrets in configuration errors (issue 15)', () => {
  const WithSecrets = z.object({
    DATABASE_URL: databaseUrl,
    NATS_URL: natsServers,
    GATEWAY_DB_PASSWORD: z.string().min(64),
  });

  it('names a bad secret variable without its value, and hides URL passwords', () => {
    let message = '';
    try {
      loadConfig(WithSecrets, {
        DATABASE_URL: 'mysql://snap:hunter2-db@127.0.0.1/x',
        NATS_URL: 'http://gw:hunter2-nats@127.0.0.1:4222',
        GATEWAY_DB_PASSWORD: 'hunter2-short',
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/DATABASE_URL: .*mysql:\/\/snap:\*\*\*@127\.0\.0\.1\/x/);
    expect(message).toMatch(/GATEWAY_DB_PASSWORD: .*a value, not shown/);
    expect(message).toMatch(/NATS_URL/);
    expect(message).not.toMatch(/hunter2/);
  });

  it('hideUrlPasswords keeps everything but the password', () => {
    expect(hideUrlPasswords('postgres://u:p%40ss@h:5432/db?x=1')).toBe(
      'postgres://u:***@h:5432/db?x=1',
    );
    expect(hideUrlPasswords('nats://a:b@h1:4222,nats://c:d@h2:4222')).toBe(
      'nats://a:***@h1:4222,nats://c:***@h2:4222',
    );
    expect(hideUrlPasswords('postgres://u@h/db')).toBe('postgres://u@h/db');
    expect(hideUrlPasswords('nats://h:4222')).toBe('nats://h:4222');
  });
});
