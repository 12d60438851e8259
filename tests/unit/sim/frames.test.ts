import { describe, expect, it } from 'vitest';
import { ControlLog } from '../../../services/sim/core/control-log.js';
import { Market } from '../../../services/sim/core/market.js';
import { productSpec } from '../../../services/sim/core/products.js';
import { Rng } from '../../../services/sim/core/rng.js';
import { Subscriptions } from '../../../services/sim/core/protocol.js';
import { statusFrame } from '../../../services/sim/core/frames.js';
import { recordedFrames } from './fixtures.js';

const T0 = 1_780_000_000_000_000;
type Json = Record<string, unknown>;
const keys = (o: unknown) => Object.keys(o as Json).sort();

/** The simulator's frame of each type, from a running market. */
function simFrames(): Map<string, Json> {
  const m = new Market({ spec: productSpec('BTC-USD'), rng: new Rng(3), levels: 10, nowUs: T0 });
  const out = new Map<string, Json>();
  for (let i = 0; i < 200 && !out.has('ticker'); i++) {
    const r = m.step(T0 + i);
    const t = r.trades[0];
    if (t !== undefined) out.set('match', JSON.parse(t.raw) as Json);
    if (r.ticker !== undefined) out.set('ticker', JSON.parse(r.ticker) as Json);
  }
  out.set('last_match', JSON.parse(m.lastMatch()) as Json);
  out.set('heartbeat', JSON.parse(m.heartbeat(T0 + 1000)) as Json);
  out.set('snapshot', JSON.parse(m.snapshot()) as Json);
  out.set('l2update', JSON.parse(m.flushL2(T0 + 2000) ?? '{}') as Json);
  out.set('status', JSON.parse(statusFrame([productSpec('BTC-USD')])) as Json);
  const subs = new Subscriptions();
  subs.add([{ channel: 'level2_batch', products: ['BTC-USD'] }]);
  out.set('subscriptions', JSON.parse(subs.ack('modern')) as Json);
  return out;
}

/** The newest recorded frame of a type (recent shapes: tickers with best_*_size, etc.). */
const NEWEST: Record<string, string> = {
  match: 'unattributed-idx59533280927-exchange-2026-08-25.jsonl',
  last_match: 'unattributed-idx59533280927-exchange-2026-08-25.jsonl',
  l2update: 'unattributed-idx59533280927-exchange-2026-08-25.jsonl',
  snapshot: 'unattributed-idx59533280927-exchange-2026-08-25.jsonl',
  subscriptions: 'unattributed-idx59533280927-exchange-2026-08-25.jsonl',
  ticker: 'ccxt-ccxt-pro-coinbaseexchange-comment-examples.jsonl',
  heartbeat: 'unattributed-findstring-misc-exchange-heartbeats-tickers.jsonl',
  status: 'unattributed-idx13986645148-exchange-2022-05.jsonl',
};

describe('frame builders match the recorded frames', () => {
  const sim = simFrames();
  const recorded = recordedFrames();

  for (const [type, file] of Object.entries(NEWEST)) {
    it(`${type}: same field set as the recording (${file})`, () => {
      const real = recorded
        .filter(
          (f) =>
            f.file === file &&
            f.json.type === type &&
            (type !== 'ticker' || 'best_bid_size' in f.json),
        )
        .at(-1);
      expect(real, `no recorded ${type}`).toBeDefined();
      const ours = sim.get(type);
      expect(keys(ours)).toEqual(keys(real?.json));
      // Same key order too (not required by the protocol, but what the server sends).
      expect(Object.keys(ours ?? {})).toEqual(Object.keys(real?.json ?? {}));
    });
  }

  it('status products and currencies carry the recorded fields', () => {
    const real = recorded.find((f) => f.file === NEWEST.status && f.json.type === 'status')?.json;
    const ours = sim.get('status');
    const first = (o: Json | undefined, k: string) => (o?.[k] as Json[] | undefined)?.[0];
    expect(keys(first(ours, 'products'))).toEqual(keys(first(real, 'products')));
    const realCurrency = keys(first(real, 'currencies')).filter((k) => k !== 'details');
    expect(keys(first(ours, 'currencies')).filter((k) => k !== 'details')).toEqual(realCurrency);
  });

  it('spells values like Coinbase: decimal strings, integer ids, µs times, maker side', () => {
    const match = sim.get('match') ?? {};
    expect(match.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(typeof match.trade_id).toBe('number');
    expect(typeof match.sequence).toBe('number');
    expect(match.price).toMatch(/^\d+\.\d{2}$/);
    expect(match.size).toMatch(/^\d+(\.\d*[1-9])?$/);
    expect(match.maker_order_id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    const snapshot = sim.get('snapshot') ?? {};
    for (const [p, s] of snapshot.bids as [string, string][]) {
      expect(p).toMatch(/^\d+\.\d{2}$/);
      expect(s).toMatch(/^\d+\.\d{8}$/);
    }
    const l2 = sim.get('l2update') ?? {};
    for (const [side] of l2.changes as [string][]) expect(['buy', 'sell']).toContain(side);
  });

  it('a control log of no trades is empty', () => {
    expect(new ControlLog().toJSON()).toEqual({ products: {}, connections: {} });
  });
});
