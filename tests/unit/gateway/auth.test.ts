import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ApiKeys, keyOf } from '../../../services/gateway/auth.js';

const req = (url: string, authorization?: string) =>
  ({
    url,
    headers: authorization === undefined ? {} : { authorization },
  }) as unknown as IncomingMessage;

describe('ApiKeys', () => {
  it('is open when no key is configured', () => {
    const keys = new ApiKeys([]);
    expect(keys.open).toBe(true);
    expect(keys.authorize(req('/ws'), true)).toBe(true);
  });

  it('accepts exactly the configured keys', () => {
    const keys = new ApiKeys(['alpha', 'beta']);
    expect(keys.check('alpha')).toBe(true);
    expect(keys.check('beta')).toBe(true);
    for (const bad of [undefined, '', 'alph', 'alphaa', 'ALPHA'])
      expect(keys.check(bad)).toBe(false);
  });

  it('reads Bearer everywhere and ?api_key= only where allowed', () => {
    expect(keyOf(req('/ws', 'Bearer k1'), false)).toBe('k1');
    expect(keyOf(req('/ws?api_key=k2'), true)).toBe('k2');
    expect(keyOf(req('/ws?api_key=k2'), false)).toBeUndefined();
    expect(keyOf(req('/ws', 'Basic abc'), true)).toBeUndefined();
    const keys = new ApiKeys(['k2']);
    expect(keys.authorize(req('/trades?api_key=k2'), false)).toBe(false);
    expect(keys.authorize(req('/ws?x=1&api_key=k2'), true)).toBe(true);
  });
});
