import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TickerSchema, TradeSchema } from '../../../services/common/schemas/normalized.js';
import { classifyAdvancedFrame } from '../../../services/ingestor/core/classify-advanced.js';
import { L2Book } from '../../../services/normalizer/core/book.js';
import { mapAdvancedText } from '../../../services/normalizer/core/map-advanced.js';
import type { MapResult } from '../../../services/normalizer/core/map-common.js';
import { tickerMessage, tradeMessage } from '../../../services/normalizer/core/messages.js';
import { TradeSequencer } from '../../../services/normalizer/core/sequencer.js';

/**
 * Golden tests of the Advanced Trade mapper on the fixtures in
 * tests/fixtures/coinbase-advanced/ (SOURCES.md marks each as real or documented).
 */
const DIR = new URL('../../fixtures/', import.meta.url);
const lines = (file: string): string[] =>
  readFileSync(new URL(file, DIR), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');

const REAL = lines('coinbase-advanced/JKorf-Coinbase.Net-advanced-trade-fixtures.jsonl');
const DOCUMENTED = lines('coinbase-advanced/documented-advanced-trade-frames.jsonl');
const ERROR_FRAME = lines('coinbase-exchange/github-issues-error-frames.jsonl')[7] ?? '';
const RECV_US = Date.UTC(2026, 8, 1) * 1000 + 123_456;

function line(list: string[], n: number): string {
  const l = list[n - 1];
  if (l === undefined) throw new Error(`no line ${String(n)}`);
  return l;
}

function map(text: string, product = 'BTC-USD'): MapResult[] {
  return mapAdvancedText(text, { recvUs: RECV_US, product }).results;
}

/** What the ingestor stores for a frame: one frame per product (split when it names several). */
function stored(text: string): { product: string; text: string }[] {
  const c = classifyAdvancedFrame(text);
  if (c.kind === 'product') return [{ product: c.product, text }];
  if (c.kind === 'split') return c.parts;
  return [];
}

describe('golden: real Advanced Trade frames (JKorf 2024 captures)', () => {
  it('market_trades: oldest first, the feed’s side is the maker’s (BUY → taker sell), strings exact', () => {
    const r = map(line(REAL, 4), 'ETH-USDT');
    expect(r).toEqual([
      {
        kind: 'trade',
        product: 'ETH-USDT',
        tradeId: '22381690',
        price: '2375.56',
        size: '0.5',
        side: 'sell',
        sequence: undefined,
        last: false,
        time: '2024-10-04T07:13:31.084859Z',
        flags: [],
      },
      {
        kind: 'trade',
        product: 'ETH-USDT',
        tradeId: '22381691',
        price: '2375.56',
        size: '0.5',
        side: 'sell',
        sequence: undefined,
        last: false,
        time: '2024-10-04T07:13:31.088388Z',
        flags: [],
      },
    ]);
    for (const t of r) {
      if (t.kind !== 'trade') throw new Error('expected trades');
      expect(TradeSchema.parse(tradeMessage(t, { seq: 1, recvUs: RECV_US }))).toMatchObject({
        side: 'sell',
        venue: 'coinbase',
      });
    }
    expect(
      mapAdvancedText(line(REAL, 4), { recvUs: RECV_US, product: 'ETH-USDT' }).sequenceNum,
    ).toBe(2);
  });

  it('subscriptions, heartbeats and the (non-enveloped) error frame are ignored', () => {
    for (const n of [1, 2, 3, 5]) expect(map(line(REAL, n)).map((r) => r.kind)).toEqual(['ignore']);
    expect(map(ERROR_FRAME)).toEqual([{ kind: 'ignore', type: 'error' }]);
  });

  it('a trade for another product than the subject is a schema error', () => {
    expect(map(line(REAL, 4), 'BTC-USD')).toMatchObject([{ kind: 'invalid', reason: 'schema' }]);
  });
});

describe('golden: documented Advanced Trade frames', () => {
  it('ticker: best_*_quantity are the sizes, optional fields absent (no open_24h, no trade id), time is the envelope’s', () => {
    const [t] = map(line(DOCUMENTED, 3));
    expect(t).toEqual({
      kind: 'ticker',
      product: 'BTC-USD',
      price: '21932.98',
      best_bid: '21931.98',
      best_ask: '21933.98',
      best_bid_size: '8000.21',
      best_ask_size: '8038.07770938',
      volume_24h: '16038.28770938',
      low_24h: '21835.29',
      high_24h: '23011.18',
      change_24h_pct: '-4.15775596190603',
      time: '2023-02-09T20:30:37.167359596Z',
      flags: [],
    });
    if (t?.kind !== 'ticker') throw new Error('expected a ticker');
    const msg = TickerSchema.parse(tickerMessage(t, { seq: 1, recvUs: RECV_US }));
    expect(msg.open_24h).toBeUndefined();
    expect(msg.trade_id).toBeUndefined();
    expect(msg.sequence).toBeUndefined();
  });

  it('a multi-product ticker frame is stored split, and each part maps to its product only', () => {
    const parts = stored(line(DOCUMENTED, 4));
    expect(parts.map((p) => p.product)).toEqual(['ETH-USD', 'BTC-USD']);
    for (const p of parts) {
      const r = map(p.text, p.product);
      expect(
        r.map((x) => [x.kind, x.kind === 'ticker' ? x.product : '']),
        p.product,
      ).toEqual([['ticker', p.product]]);
    }
    // Unsplit, the frame names another product than the subject's: a schema error.
    expect(map(line(DOCUMENTED, 4))[0]?.kind).toBe('invalid');
  });

  it('ticker_batch, candles, status, subscriptions and the docs’ string heartbeat counter are ignored', () => {
    for (const n of [1, 2, 5, 10, 11]) expect(map(line(DOCUMENTED, n))[0]?.kind).toBe('ignore');
  });

  it('l2_data snapshot then update: bids/offers, zeros in two spellings delete, same book as the Exchange’s', () => {
    const [snap] = map(line(DOCUMENTED, 6));
    const [upd] = map(line(DOCUMENTED, 7));
    expect(snap).toEqual({
      kind: 'snapshot',
      product: 'BTC-USD',
      bids: [
        ['21921.73', '0.06317902'],
        ['21921.3', '0.02'],
      ],
      asks: [
        ['21921.74', '0.42'],
        ['21922.07', '0.0001'],
      ],
      time: '2023-02-09T20:32:50.714964855Z',
      flags: [],
      dropped: 0,
    });
    expect(upd).toMatchObject({
      kind: 'l2update',
      changes: [
        ['buy', '21921.3', '0'],
        ['sell', '21921.9', '1.2'],
        ['sell', '21922.07', '0.00000000'],
      ],
      time: '2023-02-09T20:32:51.01546Z',
    });
    if (snap?.kind !== 'snapshot' || upd?.kind !== 'l2update') throw new Error('book frames');
    const book = new L2Book({ depth: 5 });
    expect(book.applySnapshot(snap.bids, snap.asks, snap.dropped)).toMatchObject({ valid: true });
    expect(book.applyChanges(upd.changes, upd.dropped)).toMatchObject({ valid: true });
    expect(book.top(5)).toEqual({
      bids: [['21921.73', '0.06317902']],
      asks: [
        ['21921.74', '0.42'],
        ['21921.9', '1.2'],
      ],
    });
  });

  it('market_trades snapshot: the docs’ trade id "000000000" is canonical "0", marked replayed', () => {
    expect(map(line(DOCUMENTED, 8), 'ETH-USD')).toMatchObject([
      {
        kind: 'trade',
        tradeId: '0',
        side: 'sell',
        last: true,
        price: '1260.01',
        time: '2019-08-14T20:42:27.265Z',
      },
    ]);
  });

  it('a market_trades update naming two products is split; each part oldest first; a replayed snapshot is deduplicated', () => {
    const parts = stored(line(DOCUMENTED, 9));
    const byProduct = Object.fromEntries(
      parts.map((p) => [
        p.product,
        map(p.text, p.product).map((r) => (r.kind === 'trade' ? `${r.tradeId}:${r.side}` : r.kind)),
      ]),
    );
    expect(byProduct).toEqual({
      'BTC-USD': ['46107230:sell', '46107231:buy'],
      'ETH-USD': ['50110702:buy'],
    });
    // The same trades again, as a reconnect's snapshot would replay them: all duplicates.
    const seq = new TradeSequencer<string>();
    const ids = ['46107230', '46107231'];
    expect(ids.flatMap((id, i) => seq.offer(id, id, i)).map((o) => o.kind)).toEqual([
      'emit',
      'emit',
    ]);
    expect(ids.flatMap((id, i) => seq.offer(id, id, 10 + i)).map((o) => o.kind)).toEqual([
      'duplicate',
      'duplicate',
    ]);
  });
});
