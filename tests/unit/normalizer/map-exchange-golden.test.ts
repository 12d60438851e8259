import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TickerSchema, TradeSchema } from '../../../services/common/schemas/normalized.js';
import { L2Book } from '../../../services/normalizer/core/book.js';
import type { MapResult } from '../../../services/normalizer/core/map-common.js';
import { mapExchangeText } from '../../../services/normalizer/core/map-exchange.js';
import { tickerMessage, tradeMessage } from '../../../services/normalizer/core/messages.js';
import { TradeSequencer } from '../../../services/normalizer/core/sequencer.js';
import { tickerFlags } from '../../../services/normalizer/core/validate.js';

/**
 * Golden tests on real recorded frames. tests/fixtures/coinbase-exchange/normalizer-golden.jsonl
 * holds them verbatim (`frame` is the exact text of the line `line` of `source`, under
 * shared/coinbase/samples/ whose SOURCES.md gives the provenance).
 */
interface Golden {
  source: string;
  line: number;
  frame: string;
}

const FIXTURE = new URL(
  '../../fixtures/coinbase-exchange/normalizer-golden.jsonl',
  import.meta.url,
);
const golden: Golden[] = readFileSync(FIXTURE, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Golden);

/** A receipt time after every sample (the newest is 2026-08-25). */
const RECV_US = Date.UTC(2026, 8, 1) * 1000 + 123_456;

/** Short names for the sample files: `<name>:<line>`. */
const SHORT: [string, string][] = [
  ['tardis-dev-', 'tardis'],
  ['bennycode-', 'bennycode'],
  ['ccxt-', 'ccxt'],
  ['crypto-crawler-', 'crypto'],
  ['unattributed-idx59533280927-', 'live2026'],
  ['unattributed-idx13986645148-', 'cbpro2022'],
  ['unattributed-findstring-', 'misc'],
];

function key(g: Golden): string {
  const file = g.source.split('/').pop() ?? g.source;
  const name = SHORT.find(([prefix]) => file.startsWith(prefix))?.[1] ?? file;
  return `${name}:${String(g.line)}`;
}

function productOf(g: Golden): string {
  const v = JSON.parse(g.frame) as { product_id?: unknown };
  return typeof v.product_id === 'string' ? v.product_id : 'BTC-USD';
}

/** Maps every frame in file order, threading each product's last valid time as the shell does. */
function replay(): Map<string, MapResult> {
  const lastValid = new Map<string, string>();
  const out = new Map<string, MapResult>();
  for (const g of golden) {
    const product = productOf(g);
    const r = mapExchangeText(g.frame, {
      recvUs: RECV_US,
      product,
      lastValidTime: lastValid.get(product),
    });
    if ('time' in r && r.time !== undefined && !r.flags.includes('time_substituted')) {
      lastValid.set(product, r.time);
    }
    out.set(key(g), r);
  }
  return out;
}

const results = replay();

function result(k: string): MapResult {
  const r = results.get(k);
  if (r === undefined) throw new Error(`no fixture ${k}`);
  return r;
}

describe('golden: real Coinbase Exchange frames', () => {
  it('every fixture frame maps to the expected kind, and none is invalid', () => {
    expect(golden.length).toBe(53);
    const kinds = Object.fromEntries([...results].map(([k, r]) => [k, r.kind]));
    expect(kinds).toMatchObject({
      'tardis:1': 'trade',
      'tardis:5': 'l2update',
      'tardis:6': 'snapshot',
      'bennycode:1': 'ignore',
      'bennycode:2': 'ignore',
      'bennycode:4': 'heartbeat',
      'ccxt:5': 'ignore',
      'ccxt:7': 'trade',
      'crypto:1': 'trade',
      'cbpro2022:1': 'heartbeat',
      'misc:7': 'heartbeat',
    });
    const counts: Record<string, number> = {};
    for (const r of results.values()) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
    expect(counts).toEqual({
      trade: 7,
      ticker: 10,
      snapshot: 6,
      l2update: 8,
      heartbeat: 9,
      ignore: 13,
    });
  });

  it('match.side is the maker: maker buy → taker sell (tardis 2019 ETC-GBP)', () => {
    expect(result('tardis:1')).toEqual({
      kind: 'trade',
      product: 'ETC-GBP',
      tradeId: '216544',
      price: '4.97800000',
      size: '0.97133855',
      side: 'sell',
      sequence: '253395153',
      last: false,
      time: '2019-08-01T00:00:03.816000Z',
      flags: [],
    });
  });

  it('maker sell → taker buy (bennycode BTC-USD 2020; ccxt user match with fee fields)', () => {
    expect(result('bennycode:6')).toMatchObject({
      side: 'buy',
      tradeId: '9713921',
      price: '9692.53',
      size: '2.2285',
    });
    expect(result('ccxt:7')).toMatchObject({
      side: 'buy',
      tradeId: '5455505',
      product: 'BTC-USDC',
    });
    const r = result('bennycode:6');
    if (r.kind !== 'trade') throw new Error('expected a trade');
    expect(TradeSchema.parse(tradeMessage(r, { seq: 1, recvUs: RECV_US }))).toMatchObject({
      side: 'buy',
      time: '2020-02-24T07:20:00.716579Z',
    });
  });

  it('the 0001-01-01 l2update time becomes the product’s previous valid time, flagged', () => {
    // tardis line 2 is the previous BTC-EUR frame (millisecond time, kept as received).
    expect(result('tardis:2')).toMatchObject({ time: '2019-08-01T00:00:03.818Z', flags: [] });
    expect(result('tardis:5')).toEqual({
      kind: 'l2update',
      product: 'BTC-EUR',
      changes: [
        ['buy', '9202.70', '0.58667860'],
        ['sell', '9222.39', '0.00459825'],
      ],
      time: '2019-08-01T00:00:03.818Z',
      flags: ['time_substituted'],
      dropped: 0,
    });
    // bennycode's BTC-USD l2update: the previous valid BTC-USD time is bennycode's match.
    expect(result('bennycode:8')).toMatchObject({
      time: '2020-02-24T07:20:00.716579Z',
      flags: ['time_substituted'],
    });
  });

  it('without a previous valid time, the receipt time (µs) is used', () => {
    const frame = golden.find((g) => key(g) === 'tardis:5')?.frame ?? '';
    expect(mapExchangeText(frame, { recvUs: RECV_US, product: 'BTC-EUR' })).toMatchObject({
      time: '2026-09-01T00:00:00.123456Z',
      flags: ['time_substituted'],
    });
  });

  it('the "0.-10000" snapshot level is dropped and counted (tardis YFI-USD)', () => {
    expect(result('tardis:6')).toEqual({
      kind: 'snapshot',
      product: 'YFI-USD',
      bids: [['40533.24', '0.020416']],
      asks: [['40584.89', '0.039985']],
      time: undefined,
      flags: ['book_levels_dropped'],
      dropped: 1,
    });
    const r = result('tardis:6');
    if (r.kind !== 'snapshot') throw new Error('expected a snapshot');
    const book = new L2Book();
    expect(book.applySnapshot(r.bids, r.asks, r.dropped)).toMatchObject({ valid: false });
    expect(book.invalidReason).toBe('dropped_levels');
  });

  it('tickers before and after 2022 keep every decimal string exactly', () => {
    const r = result('tardis:7');
    if (r.kind !== 'ticker') throw new Error('expected a ticker');
    const msg = TickerSchema.parse(tickerMessage(r, { seq: 1, recvUs: RECV_US }));
    expect(msg).toMatchObject({
      price: '4095.00000000',
      best_bid: '4094.99',
      best_ask: '4095',
      open_24h: '4094.14000000',
      trade_id: '61165589',
    });
    expect(msg.best_bid_size).toBeUndefined();
    expect(result('tardis:9')).toMatchObject({
      best_bid_size: '0.61540890',
      best_ask_size: '0.18528568',
      side: 'sell',
    });
  });

  it('the sandbox ticker (bid 5200 / ask 6800) is an absurd spread; a real one is not', () => {
    const sandbox = result('bennycode:5');
    const real = result('tardis:8');
    if (sandbox.kind !== 'ticker' || real.kind !== 'ticker') throw new Error('expected tickers');
    expect(tickerFlags(undefined, sandbox)).toEqual(['absurd_spread']);
    expect(tickerFlags(undefined, real)).toEqual([]);
  });

  it('books from real snapshot + l2update pairs; zeros delete, crossed frames invalidate', () => {
    const apply = (snap: string, update: string) => {
      const s = result(snap);
      const u = result(update);
      if (s.kind !== 'snapshot' || u.kind !== 'l2update') throw new Error('expected book frames');
      const book = new L2Book({ depth: 5 });
      expect(book.applySnapshot(s.bids, s.asks, s.dropped)).toMatchObject({
        valid: true,
        resynced: true,
      });
      return { book, res: book.applyChanges(u.changes, u.dropped) };
    };
    const benny = apply('bennycode:7', 'bennycode:8');
    expect(benny.res).toMatchObject({ valid: true, invalidated: undefined });
    expect(benny.book.top(6).asks).toEqual([
      ['47009.28', '0.00100000'],
      ['47009.29', '0.00100000'],
      ['47009.30', '0.00100000'],
      ['47009.31', '0.02424176'],
      ['47009.58', '0.09103628'],
      ['47010.36', '1.06360987'],
    ]);
    expect(benny.book.levelCount()).toEqual({ bids: 10, asks: 12 });

    const live = apply('live2026:2', 'live2026:5');
    expect(live.book.top(2)).toEqual({
      bids: [['80688.08', '0.59153273']],
      asks: [
        ['80691.53', '0.20084671'],
        ['80745.16', '0.20558981'],
      ],
    });
    // crypto-msg-parser's snapshot and l2update were captured at different moments: the
    // update's bid 37378.26 lies above the snapshot's best ask, so the frame crosses it.
    const crossed = apply('crypto:2', 'crypto:3');
    expect(crossed.res).toMatchObject({ valid: false, invalidated: 'crossed' });
  });

  it('trades through the sequencer: last_match then match in order; a replayed last_match is a duplicate', () => {
    const seq = new TradeSequencer<string>();
    const ids = ['live2026:3', 'live2026:4', 'live2026:3'].map((k) => {
      const r = result(k);
      if (r.kind !== 'trade') throw new Error('expected a trade');
      return r.tradeId;
    });
    const out = ids.flatMap((id, i) => seq.offer(id, id, i));
    expect(out.map((o) => o.kind)).toEqual(['emit', 'emit', 'duplicate']);
    // ADA-EUR heartbeats: the last two arrived in reversed time order; the older one is a no-op.
    const hbSeq = new TradeSequencer<string>();
    hbSeq.restore('9045792');
    expect(hbSeq.heartbeat('9045789', 0)).toEqual([]);
  });
});
