import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanJson } from '../../../services/ingestor/core/json-scan.js';

const KEYS = new Set(['type', 'product_id', 'trade_id', 'sequence', 'time', 'é"k']);

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** What JSON.parse says the top-level fields are, in the scanner's terms. */
function expected(text: string): Map<string, unknown> {
  const v = JSON.parse(text) as unknown;
  const out = new Map<string, unknown>();
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return out;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (!KEYS.has(k)) continue;
    out.set(
      k,
      typeof x === 'string'
        ? { kind: 'string', value: x }
        : typeof x === 'number'
          ? { kind: 'number', value: x }
          : { kind: 'other' },
    );
  }
  return out;
}

function actual(text: string): Map<string, unknown> | false {
  const r = scanJson(text, KEYS);
  if (!r.ok) return false;
  const out = new Map<string, unknown>();
  if (!r.object) return out;
  for (const [k, t] of r.fields)
    out.set(k, t.kind === 'number' ? { kind: 'number', value: Number(t.text) } : t);
  return out;
}

/** Valid JSON, and small edits of it (most of which are invalid). */
const jsonish = fc.oneof(
  fc.json(),
  fc
    .record({
      type: fc.string(),
      product_id: fc.string(),
      trade_id: fc.oneof(
        fc.integer(),
        fc.string(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
      ),
      time: fc.string(),
      x: fc.jsonValue(),
    })
    .map((o) => JSON.stringify(o)),
  fc.tuple(fc.json(), fc.nat(), fc.nat(3), fc.string({ maxLength: 2 })).map(([j, at, cut, ins]) => {
    const i = at % (j.length + 1);
    return j.slice(0, i) + ins + j.slice(i + cut);
  }),
  fc.string(),
);

describe('scanJson', () => {
  it('accepts exactly what JSON.parse accepts, and finds the same top-level fields', () => {
    fc.assert(
      fc.property(jsonish, (text) => {
        const got = actual(text);
        expect(got !== false).toBe(parses(text));
        if (got !== false) expect(got).toEqual(expected(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('handles escapes, repeated keys (the last wins), deep nesting and odd literals', () => {
    const frame =
      '{"type":"ma\\u0074ch","x":[{"a":[1,2,{"b":null}]}],"product_id":"BTC-USD","product_id":"ETH-USD","trade_id":-0.5e+3,"é\\"k":"\\n"}';
    expect(actual(frame)).toEqual(expected(frame));
    const deep = `{"type":"t","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    expect(actual(deep)).toEqual(expected(deep));
    for (const bad of [
      '{"a":01}',
      '{"a":1.}',
      '{"a":.5}',
      '{"a":"\\x"}',
      '{"a":tru}',
      '{"a":1,}',
      '[1,]',
      '{"a" 1}',
      '{"a":"\u0001"}',
      '',
      ' ',
      '{"a":1}x',
      '\u0000invalid (un)subscribe msg',
    ]) {
      expect(scanJson(bad, KEYS).ok, JSON.stringify(bad)).toBe(false);
      expect(parses(bad)).toBe(false);
    }
  });
});
