import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';

/**
 * Hostile input for the fuzz tests: arbitrary bytes, arbitrary JSON, huge numbers, deep
 * nesting, wrong types and damaged copies of real recorded frames. Frames are built as
 * text, because JSON values cannot hold what a hostile peer can write (numbers past a
 * double, nesting past any stack, lone surrogates, duplicate keys).
 */

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/coinbase-exchange');

/** Every real recorded Exchange frame (tests/fixtures/SOURCES.md), as sent. */
export const REAL_FRAMES: readonly string[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.jsonl') && !f.startsWith('normalizer-'))
  .flatMap((f) => readFileSync(path.join(FIXTURES, f), 'utf8').split('\n'))
  .filter((l) => l.trim() !== '');

/** Number literals JSON allows that no double holds, and their awkward neighbours. */
export const HUGE_NUMBERS = [
  '1e400',
  '-1e400',
  '1e-400',
  '123456789012345678901234567890',
  '1234567890123456789012345678901',
  '9007199254740993',
  '18446744073709551616',
  '-9223372036854775809',
  '1.7976931348623157e309',
  '-0',
  '0e0',
  '1E+2',
  '0.000000000000000000000000000001',
  '9'.repeat(400),
  `0.${'0'.repeat(300)}1`,
] as const;

export const hugeNumber = fc.constantFrom(...HUGE_NUMBERS);

/** `[[[…]]]` / `{"a":{"a":…}}` nested `depth` deep, optionally broken near the bottom. */
export const deepNesting = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1_000, max: 20_000 })),
    object: fc.boolean(),
    broken: fc.constantFrom('', '\n x', ',', '"', '\r\n}'),
  })
  .map(({ depth, object, broken }) =>
    object
      ? `${'{"a":'.repeat(depth)}1${broken}${'}'.repeat(depth)}`
      : `${'['.repeat(depth)}${broken}${']'.repeat(depth)}`,
  );

/** Strings that break naive code: control characters, lone surrogates, quotes, huge. */
export const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    '\n',
    '\r\n',
    '\u0000',
    '\ud800',
    '\udfff',
    '"',
    '\\',
    '..',
    '*',
    '>',
    'BTC-USD\nETH-USD',
    'md.raw.>',
    '__proto__',
    'constructor',
    'x'.repeat(70_000),
  ),
);

/** Raw JSON text of a value of any type, including what JSON.stringify cannot produce. */
export const hostileValueText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: hugeNumber },
  { weight: 2, arbitrary: nastyString.map((s) => JSON.stringify(s)) },
  { weight: 1, arbitrary: deepNesting.filter((t) => !/[\n",]/.test(t)) },
  { weight: 1, arbitrary: fc.constantFrom('null', 'true', '[]', '{}', '""', '0', '-1', '1.5') },
);

const realFrame = fc.constantFrom(...REAL_FRAMES);

/** A real frame with one field (or a new one) replaced by a hostile value. */
export const mutatedFrame = fc
  .record({
    frame: realFrame,
    key: fc.oneof(
      fc.constantFrom(
        'type',
        'product_id',
        'trade_id',
        'sequence',
        'price',
        'size',
        'side',
        'time',
        'best_bid',
        'best_ask',
        'bids',
        'asks',
        'changes',
        'last_trade_id',
        'state',
        'conn',
      ),
      fc.string({ maxLength: 8 }),
    ),
    value: hostileValueText,
    duplicate: fc.boolean(),
  })
  .map(({ frame, key, value, duplicate }) => {
    const replaced = replaceField(frame, key, value);
    // A repeated key: JSON.parse keeps the last one, so must everything else.
    return duplicate ? `${replaced.slice(0, -1)},${JSON.stringify(key)}:${value}}` : replaced;
  });

/** A real frame cut short, or with some bytes changed. */
export const damagedFrame = fc
  .record({
    frame: realFrame,
    cut: fc.nat(),
    flips: fc.array(fc.record({ at: fc.nat(), char: fc.string({ minLength: 1, maxLength: 2 }) }), {
      maxLength: 3,
    }),
  })
  .map(({ frame, cut, flips }) => {
    let text = frame.slice(0, Math.max(1, frame.length - (cut % frame.length)));
    for (const f of flips) {
      const at = f.at % Math.max(1, text.length);
      text = text.slice(0, at) + f.char + text.slice(at + 1);
    }
    return text;
  });

/** One hostile text frame: every kind above, real frames included (they must pass). */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: mutatedFrame },
  { weight: 2, arbitrary: damagedFrame },
  { weight: 2, arbitrary: realFrame },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('utf8')),
  },
  { weight: 1, arbitrary: deepNesting },
  { weight: 1, arbitrary: hugeNumber },
);

/** Hostile frames as bytes: the text ones, plus bytes that are not UTF-8 at all. */
export const hostileBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: hostileText.map((t) => Buffer.from(t, 'utf8')) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);

/** Runs per property, overridable for a longer local soak: FUZZ_RUNS=20000. */
export function fuzzRuns(defaultRuns: number): number {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : defaultRuns;
}

/**
 * For one product's subject (the normalizer's input): mostly real frames moved to that
 * product, then damaged like the rest; some hostile frames of any kind.
 */
export function hostileTextFor(product: string): fc.Arbitrary<string> {
  const moved = fc.constantFrom(
    ...REAL_FRAMES.filter((f) => f.includes('"product_id"')).map((f) =>
      JSON.stringify({ ...(JSON.parse(f) as Record<string, unknown>), product_id: product }),
    ),
  );
  const mutated = fc
    .record({ frame: moved, value: hostileValueText })
    .chain(({ frame, value }) =>
      fc
        .constantFrom(...Object.keys(JSON.parse(frame) as object))
        .map((key) => replaceField(frame, key, value)),
    );
  return fc.oneof(
    { weight: 4, arbitrary: moved },
    { weight: 4, arbitrary: mutated },
    { weight: 2, arbitrary: hostileText },
  );
}

function replaceField(frame: string, key: string, valueText: string): string {
  const marker = '\u0001HOSTILE\u0001';
  const obj = JSON.parse(frame) as Record<string, unknown>;
  return JSON.stringify({ ...obj, [key]: marker }).replace(JSON.stringify(marker), valueText);
}
