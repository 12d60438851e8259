import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  classifyFrame,
  parseRecordingLine,
  ReplayBook,
  ReplayClock,
  retime,
  toLastMatch,
} from '../../../services/sim/core/replay.js';
import { formatMicros, parseMicros } from '../../../services/sim/core/time.js';
import { fixed, toUnits, trimmed } from '../../../services/sim/core/decimal.js';
import { FIXTURE_DIR } from './fixtures.js';

const lines = (file: string) =>
  readFileSync(join(FIXTURE_DIR, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');

describe('recording lines', () => {
  it('routes real frames to their channels and skips session artifacts', () => {
    const frames = lines('unattributed-idx59533280927-exchange-2026-08-25.jsonl').map((l) =>
      parseRecordingLine(l),
    );
    expect(frames.map((f) => [f?.kind, f?.channel, f?.skip])).toEqual([
      ['subscriptions', undefined, true],
      ['snapshot', 'level2_batch', false],
      ['last_match', 'matches', true],
      ['match', 'matches', false],
      ['l2update', 'level2_batch', false],
      ['error', undefined, true],
    ]);
    expect(frames[3]?.tradeId).toBe(1081862675);
    expect(frames[3]?.product).toBe('BTC-USD');
  });

  it('unwraps {"lf":1,"recv_us":…,"frame":…} lines and keeps the raw frame bytes', () => {
    const raw = lines('unattributed-idx13986645148-exchange-2022-05.jsonl')[1] ?? ''; // status with 1e-08
    const f = parseRecordingLine(JSON.stringify({ lf: 1, recv_us: 1653484016000000, frame: raw }));
    expect(f?.raw).toBe(raw);
    expect(f?.raw).toContain('1e-08');
    expect(f?.recvUs).toBe(1653484016000000);
    expect(f?.channel).toBe('status');
  });

  it('sends non-JSON and unknown frames to everyone (channel undefined), never throws', () => {
    for (const raw of [
      '\u0000invalid (un)subscribe msg',
      '{"type":"brand_new","x":1}',
      '[1,2]',
      '{',
    ]) {
      const f = classifyFrame(raw);
      expect(f.channel).toBeUndefined();
      expect(f.skip).toBe(false);
    }
    expect(parseRecordingLine('   ')).toBeUndefined();
  });

  it('retimes only the time value, byte for byte elsewhere', () => {
    const raw = lines('unattributed-idx59533280927-exchange-2026-08-25.jsonl')[3] ?? '';
    const t = parseMicros('2030-01-02T03:04:05.123456Z') ?? 0;
    const out = retime(raw, t);
    expect(out).toBe(raw.replace('2026-08-25T03:35:57.198335Z', '2030-01-02T03:04:05.123456Z'));
    expect(toLastMatch(raw)).toBe(raw.replace('"type":"match"', '"type":"last_match"'));
  });

  it('paces by recv_us or time, never backwards, scaled by speed', () => {
    const clock = new ReplayClock(2);
    const at = (time: string) => classifyFrame(`{"type":"heartbeat","time":"${time}"}`);
    expect(clock.due(at('2022-10-25T12:27:38.000000Z'))).toBe(0);
    expect(clock.due(at('2022-10-25T12:27:40.000000Z'))).toBe(1_000_000);
    expect(clock.due(at('2022-10-25T12:27:39.000000Z'))).toBe(1_000_000); // reversed time order
    expect(clock.due(at('0001-01-01T00:00:00.000000Z'))).toBe(1_000_000); // invalid time: with the previous
    expect(new ReplayClock('max').due(at('2030-01-01T00:00:00Z'))).toBe(0);
  });

  it('keeps the recorded book for late subscribers', () => {
    const book = new ReplayBook();
    const frames = lines('bennycode-coinbase-pro-node-ws-fixtures.jsonl').map((l) =>
      classifyFrame(l),
    );
    for (const f of frames) if (f.kind === 'snapshot' || f.kind === 'l2update') book.apply(f);
    const snap = JSON.parse(book.snapshot('BTC-USD') ?? '{}') as {
      bids: [string, string][];
      asks: [string, string][];
    };
    // The l2update set 47009.58 and deleted 47004.34 (not present) with "0.00000000".
    expect(snap.asks.map((l) => l[0])).toContain('47009.58');
    expect(snap.asks[0]?.[0]).toBe('47009.28');
    expect(snap.bids[0]?.[0]).toBe('47007.48');
    expect(book.snapshot('ETH-USD')).toBeUndefined();
  });
});

describe('decimals and times', () => {
  it('formats integers of increments as Coinbase spells them', () => {
    expect(fixed(8069153, 2)).toBe('80691.53');
    expect(fixed(5, 8)).toBe('0.00000005');
    expect(fixed(0, 8)).toBe('0.00000000');
    expect(trimmed(5_980_000, 2)).toBe('59800');
    expect(trimmed(5_687_380, 2)).toBe('56873.8');
    expect(trimmed(5_000_000, 8)).toBe('0.05');
    expect(toUnits('0.001', 8)).toBe(100_000);
  });

  it('formats and parses microsecond times', () => {
    const us = parseMicros('2021-04-17T16:43:37.089723Z') ?? 0;
    expect(formatMicros(us)).toBe('2021-04-17T16:43:37.089723Z');
    expect(formatMicros((parseMicros('2019-08-01T00:00:03.818Z') ?? 0) + 1)).toBe(
      '2019-08-01T00:00:03.818001Z',
    );
    expect(parseMicros('0001-01-01T00:00:00.000000Z')).toBeUndefined();
  });
});
