import fc from 'fast-check';
import type { Level, Normalized } from '../../../services/common/schemas/normalized.js';
import { isoFromUs } from '../../../services/common/time.js';
import type { Offsetted } from './model.js';

/** 2024-01-01T00:00:00Z in µs. */
export const BASE_US = 1_704_067_200_000_000;

export const decimalArb = fc
  .tuple(fc.integer({ min: 0, max: 99_999 }), fc.integer({ min: 0, max: 4 }))
  .map(([n, scale]) => {
    const s = String(n).padStart(scale + 1, '0');
    return scale === 0 ? s : `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}`;
  });

const levelArb: fc.Arbitrary<Level> = fc.tuple(decimalArb, decimalArb);

type Kind = 'trade' | 'ticker' | 'book' | 'status';

interface Step {
  product: number;
  kind: Kind;
  dtUs: number;
  badTime: boolean;
  nanos: boolean;
  price: string;
  size: string;
  bids: Level[];
  asks: Level[];
  event: 'gap' | 'book_invalid' | 'book_resynced' | 'feed_stale';
  tradeStep: number;
  offsetStep: number;
  dupTrade: boolean;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  product: fc.integer({ min: 0, max: 1 }),
  kind: fc.constantFrom<Kind>('trade', 'trade', 'ticker', 'book', 'status'),
  // Mostly forward, sometimes backwards (kinds interleave), sometimes a jump.
  dtUs: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 2_500 }) },
    { weight: 2, arbitrary: fc.integer({ min: -2_000, max: 0 }) },
    { weight: 1, arbitrary: fc.integer({ min: 5_000, max: 20_000 }) },
  ),
  badTime: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
  nanos: fc.boolean(),
  price: decimalArb,
  size: decimalArb,
  bids: fc.array(levelArb, { maxLength: 3 }),
  asks: fc.array(levelArb, { maxLength: 3 }),
  event: fc.constantFrom('gap', 'book_invalid', 'book_resynced', 'feed_stale'),
  tradeStep: fc.integer({ min: 1, max: 3 }),
  offsetStep: fc.integer({ min: 1, max: 3 }),
  dupTrade: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
});

const PRODUCTS = ['BTC-USD', 'ETH-USD'];

/** MD_NORM messages with their stream offsets (strictly increasing, holes allowed). */
export const streamArb: fc.Arbitrary<Offsetted[]> = fc
  .array(stepArb, { minLength: 0, maxLength: 80 })
  .map((steps) => {
    const clocks = [BASE_US, BASE_US];
    const tradeIds = [100, 500];
    const seqs = new Map<string, number>();
    let offset = 0;
    const out: Offsetted[] = [];
    for (const s of steps) {
      const p = PRODUCTS[s.product] ?? 'BTC-USD';
      const clock = Math.max(BASE_US, (clocks[s.product] ?? BASE_US) + s.dtUs);
      clocks[s.product] = clock;
      const seqKey = `${p}:${s.kind}`;
      const seq = (seqs.get(seqKey) ?? 0) + 1;
      seqs.set(seqKey, seq);
      const iso = isoFromUs(clock);
      const time = s.badTime
        ? '0001-01-01T00:00:00.000000Z'
        : s.nanos
          ? iso.replace('Z', '123Z')
          : iso;
      const common = {
        v: 1 as const,
        venue: 'coinbase' as const,
        product: p,
        seq,
        time,
        recv_us: clock + 7,
        flags: [],
      };
      offset += s.offsetStep;
      let msg: Normalized;
      const tid = tradeIds[s.product] ?? 0;
      if (s.kind === 'trade') {
        const id = s.dupTrade ? Math.max(1, tid - 1) : tid + s.tradeStep;
        tradeIds[s.product] = Math.max(tid, id);
        const side = s.tradeStep % 2 === 0 ? 'buy' : 'sell';
        msg = {
          ...common,
          type: 'trade',
          trade_id: String(id),
          price: s.price,
          size: s.size,
          side,
        };
      } else if (s.kind === 'ticker') {
        msg = {
          ...common,
          type: 'ticker',
          price: s.price,
          best_bid: s.price,
          best_ask: s.size,
          ...(s.nanos ? { volume_24h: s.size, trade_id: String(tid) } : {}),
        };
      } else if (s.kind === 'book') {
        msg = { ...common, type: 'book', bids: s.bids, asks: s.asks };
      } else if (s.event === 'gap') {
        tradeIds[s.product] = tid + s.tradeStep;
        msg = {
          ...common,
          type: 'status',
          event: 'gap',
          reason: 'upstream_drop',
          from: String(tid + 1),
          to: String(tid + s.tradeStep),
        };
      } else {
        msg = { ...common, type: 'status', event: s.event, reason: `r ${s.event}` };
      }
      out.push({ offset, msg });
    }
    return out;
  });

/** Cut points for splitting a stream into batches. */
export const cutsArb = fc.array(fc.integer({ min: 0, max: 80 }), { maxLength: 6 });

export function splitAt<T>(xs: readonly T[], cuts: readonly number[]): T[][] {
  const points = [...new Set(cuts.map((c) => Math.min(c, xs.length)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let from = 0;
  for (const p of points) {
    out.push(xs.slice(from, p));
    from = p;
  }
  out.push(xs.slice(from));
  return out;
}

export const intervalArb = fc.constantFrom(1_000, 3_000, 10_000, 1_000_000);
