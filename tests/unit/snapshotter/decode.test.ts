import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NormalizedSchema, type Normalized } from '../../../services/common/schemas/normalized.js';
import { NORM_KINDS, parseNormSubject } from '../../../services/common/subjects.js';
import { decodeNormalized } from '../../../services/snapshotter/decode.js';
import { mutated, normalizedInputs } from '../common/normalized-arbitraries.js';

const enc = (x: unknown) => new TextEncoder().encode(typeof x === 'string' ? x : JSON.stringify(x));
const trade = {
  v: 1,
  type: 'trade',
  venue: 'coinbase',
  product: 'BTC-USD',
  seq: 1,
  time: '2024-01-01T00:00:00.000001Z',
  recv_us: 1,
  flags: [],
  trade_id: '7',
  price: '1.5',
  size: '2',
  side: 'buy',
};
const SUBJECT = 'md.norm.coinbase.BTC-USD.trade';

describe('decodeNormalized', () => {
  it('takes a message that passes the schema and agrees with its subject', () => {
    expect(decodeNormalized(SUBJECT, enc(trade))).toEqual(trade);
  });

  it('refuses disagreement with the subject, bad JSON, schema failures and NUL', () => {
    expect(decodeNormalized('md.norm.coinbase.ETH-USD.trade', enc(trade))).toBeUndefined();
    expect(decodeNormalized('md.norm.coinbase.BTC-USD.ticker', enc(trade))).toBeUndefined();
    expect(decodeNormalized('md.raw.coinbase.0.BTC-USD', enc(trade))).toBeUndefined();
    expect(decodeNormalized(SUBJECT, enc('{"v":1,'))).toBeUndefined();
    expect(decodeNormalized(SUBJECT, enc({ ...trade, price: '1e5' }))).toBeUndefined();
    expect(decodeNormalized(SUBJECT, enc({ ...trade, time: 'a\u0000b' }))).toBeUndefined();
  });
});

/** decodeNormalized as it was before the hand-written reader: zod decides. */
function bySchema(subject: string, data: Uint8Array): Normalized | undefined {
  const s = parseNormSubject(subject);
  if (s === undefined) return undefined;
  const text = new TextDecoder().decode(data);
  if (text.includes('\\u0000')) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const d = NormalizedSchema.safeParse(raw).data;
  return d?.venue === s.venue && d.product === s.product && d.type === s.kind ? d : undefined;
}

describe('decodeNormalized = the schema-only decoder', () => {
  it('property: same answer on near-valid messages, subjects that agree or not, and broken text', () => {
    const subject = fc.oneof(
      fc
        .tuple(fc.constantFrom('BTC-USD', 'ETH-USD', 'BTC.USD'), fc.constantFrom(...NORM_KINDS))
        .map(([p, k]) => `md.norm.coinbase.${p}.${k}`),
      fc.constantFrom('md.norm.kraken.BTC-USD.trade', 'md.raw.coinbase.0.BTC-USD', ''),
    );
    const text = fc.oneof(
      { weight: 8, arbitrary: normalizedInputs.map((m) => JSON.stringify(m)) },
      { weight: 1, arbitrary: mutated.map((m) => JSON.stringify(m).slice(0, -1)) },
      { weight: 1, arbitrary: mutated.map((m) => JSON.stringify({ ...m, reason: 'a\u0000b' })) },
    );
    fc.assert(
      fc.property(subject, text, (subj, t) => {
        const data = new TextEncoder().encode(t);
        const want = bySchema(subj, data);
        const got = decodeNormalized(subj, data);
        if (want === undefined) expect(got).toBeUndefined();
        else expect(got).toStrictEqual(want);
      }),
      { numRuns: 5_000 },
    );
  });
});
