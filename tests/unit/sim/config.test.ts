import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../services/common/config.js';
import { parseSimArgs } from '../../../services/sim/config.js';

describe('ledgerflux sim flags', () => {
  it('has the documented defaults', () => {
    const c = parseSimArgs([], {});
    expect(c.options).toMatchObject({
      port: 9200,
      host: '0.0.0.0',
      products: ['BTC-USD', 'ETH-USD', 'SOL-USD'],
      seed: 1,
      rate: 200,
      depth: 50,
      faults: {},
    });
    expect(c.logLevel).toBe('info');
  });

  it('reads flags over the environment', () => {
    const c = parseSimArgs(
      [
        '--port',
        '0',
        '--products',
        'btc-usd,ETH-EUR',
        '--rate',
        'max',
        '--depth',
        'full',
        '--seed',
        '9',
        '--max-buffer',
        '65536',
      ],
      { SIM_PORT: '9300', PRODUCTS: 'SOL-USD', LOG_LEVEL: 'warn' },
    );
    expect(c.options).toMatchObject({
      port: 0,
      products: ['BTC-USD', 'ETH-EUR'],
      rate: 'max',
      depth: 'full',
      seed: 9,
      maxBufferBytes: 65536,
    });
    expect(c.logLevel).toBe('warn');
    expect(parseSimArgs(['--rate', '0'], {}).options.rate).toBe('max');
  });

  it('turns fault flags into the fault JSON', () => {
    const c = parseSimArgs(
      [
        '--drop',
        '0.01',
        '--dup',
        '3',
        '--reorder',
        '0.05',
        '--reorder-k',
        '5',
        '--stall',
        '3000@100',
        '--close',
        '500:4000',
      ],
      {},
    );
    expect(c.options.faults).toEqual({
      drop: { p: 0.01 },
      dup: { count: 3 },
      reorder: { p: 0.05, k: 5 },
      stall: { ms: 3000, after_frames: 100 },
      close: { after_frames: 500, code: 4000 },
    });
    expect(
      parseSimArgs(['--faults', '{"malformed":{"count":2}}', '--drop', '1'], {}).options.faults,
    ).toEqual({
      malformed: { count: 2 },
      drop: { count: 1 },
    });
  });

  it('configures replay', () => {
    const c = parseSimArgs(['--replay', 'rec.jsonl', '--speed', 'max', '--retime'], {});
    expect(c.options.replay).toEqual({
      file: 'rec.jsonl',
      speed: 'max',
      retime: true,
      waitForSubscriber: true,
    });
    expect(c.options.products).toBeUndefined();
  });

  it('rejects bad values with a ConfigError naming the flag', () => {
    for (const argv of [
      ['--rate', 'fast'],
      ['--drop', '-1'],
      ['--drop', '2.5'],
      ['--close', '1:1005'],
      ['--nope'],
      ['--faults', '{'],
      ['--ack-style', 'x'],
    ]) {
      expect(() => parseSimArgs(argv, {}), argv.join(' ')).toThrow(ConfigError);
    }
  });

  it('serves Advanced Trade with --feed advanced or COINBASE_FEED; --seq-skip and --idle-close-ms apply to it', () => {
    expect(parseSimArgs([], {}).options.feed).toBe('exchange');
    expect(parseSimArgs([], { COINBASE_FEED: 'advanced' }).options.feed).toBe('advanced');
    const c = parseSimArgs(
      ['--feed', 'advanced', '--seq-skip', '2', '--idle-close-ms', '1000'],
      {},
    );
    expect(c.options).toMatchObject({
      feed: 'advanced',
      idleCloseMs: 1000,
      faults: { seq_skip: { count: 2 } },
    });
    expect(() => parseSimArgs(['--feed', 'pro'], {})).toThrow(ConfigError);
    expect(() => parseSimArgs(['--feed', 'advanced', '--replay', 'x.jsonl'], {})).toThrow(
      /Exchange feed only/,
    );
  });
});
