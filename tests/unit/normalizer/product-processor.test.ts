import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ProductProcessor,
  type FrameResult,
  type Output,
  type ProductMarks,
  type RawFrame,
} from '../../../services/normalizer/core/product-processor.js';
import { PROCESSOR_OPTS } from './processor-options.js';

const CONN = 'c'.repeat(32);
const OPTS = PROCESSOR_OPTS;
const T0 = '2024-05-01T12:00:00.000000Z';

let src = 0;
function frame(value: Record<string, unknown>, connSeq: number, connId = CONN): RawFrame {
  src++;
  return {
    feed: 'coinbase',
    src,
    recvUs: 1_714_564_800_000_000 + src,
    connId,
    connSeq,
    type: String(value.type),
    text: JSON.stringify({ product_id: 'BTC-USD', time: T0, ...value }),
  };
}
const match = (id: number) => ({
  type: 'match',
  trade_id: id,
  side: 'sell',
  price: '100.5',
  size: '0.1',
  sequence: id * 10,
});
const ticker = (seq: number) => ({
  type: 'ticker',
  sequence: seq,
  price: '100.5',
  best_bid: '100.4',
  best_ask: '100.6',
});
const marker = (state: string) => ({ type: 'lf_feed', state, conn: CONN });
const snapshot = { type: 'snapshot', bids: [['100.4', '1']], asks: [['100.6', '2']] };
const l2 = (price: string, size: string) => ({ type: 'l2update', changes: [['buy', price, size]] });

function run(
  p: ProductProcessor,
  frames: RawFrame[],
  now = 0,
): { outputs: Output[]; results: FrameResult[] } {
  const results = frames.map((f) => p.onFrame(f, now));
  return { outputs: results.flatMap((r) => r.outputs), results };
}

describe('ProductProcessor', () => {
  it('emits taker-side trades with contiguous seq and trade-id msg ids; a connection starts with its marker', () => {
    src = 0;
    const p = new ProductProcessor('BTC-USD', OPTS);
    const { outputs } = run(p, [
      frame(marker('connected'), 1),
      frame(match(1), 1),
      frame(match(2), 1),
      frame(match(2), 1),
    ]);
    const trades = outputs.filter((o) => o.kind === 'trade');
    expect(trades.map((o) => [o.msgId, o.message.seq])).toEqual([
      ['coinbase:BTC-USD:trade:1', 1],
      ['coinbase:BTC-USD:trade:2', 2],
    ]);
    expect(trades[0]?.message).toMatchObject({
      side: 'buy',
      price: '100.5',
      trade_id: '1',
      time: T0,
    });
    const statuses = outputs.filter((o) => o.kind === 'status').map((o) => o.message);
    expect(statuses).toEqual([expect.objectContaining({ event: 'feed_reconnected' })]);
  });

  it('holds a trade behind a missing id, then releases it and its raw frame when the id arrives', () => {
    src = 0;
    const p = new ProductProcessor('BTC-USD', OPTS);
    run(p, [frame(marker('connected'), 1), frame(match(1), 1)]);
    const held = p.onFrame(frame(match(3), 1), 0);
    expect(held.held).toBe(true);
    expect(held.outputs).toEqual([]);
    const heldSrc = src;
    const fill = p.onFrame(frame(match(2), 1), 10);
    expect(fill.outputs.map((o) => o.msgId)).toEqual([
      'coinbase:BTC-USD:trade:2',
      'coinbase:BTC-USD:trade:3',
    ]);
    expect(fill.released).toEqual([heldSrc]);
    expect(fill.outputs[1]?.ackFor).toBe(heldSrc);
  });

  it('announces a gap when the window passes, then counts the straggler as late', () => {
    src = 0;
    const p = new ProductProcessor('BTC-USD', OPTS);
    run(p, [frame(marker('connected'), 1), frame(match(1), 1), frame(match(4), 1)]);
    const t = p.tick(1_000);
    expect(t.outputs.map((o) => o.message)).toEqual([
      expect.objectContaining({
        type: 'status',
        event: 'gap',
        from: '2',
        to: '3',
        reason: 'upstream_drop',
      }),
      expect.objectContaining({ type: 'trade', trade_id: '4' }),
    ]);
    expect(t.outputs[0]?.msgId).toBe('coinbase:BTC-USD:gap:2-3');
    expect(p.onFrame(frame(match(2), 1), 1_001).events).toEqual([{ kind: 'late_trade' }]);
  });

  it('a heartbeat beyond the mark waits the window: the reordered match fills it, the frame is released', () => {
    src = 0;
    const p = new ProductProcessor('BTC-USD', OPTS);
    const heartbeat = (last: number, seq: number) =>
      frame({ type: 'heartbeat', last_trade_id: last, sequence: 1 }, seq);
    run(p, [frame(marker('connected'), 1), frame(match(1), 1)]);
    const hb = p.onFrame(heartbeat(2, 2), 0);
    expect(hb.held).toBe(true);
    expect(hb.outputs).toEqual([]);
    const hbSrc = src;
    const fill = p.onFrame(frame(match(2), 2), 5);
    expect(fill.outputs.map((o) => o.msgId)).toEqual(['coinbase:BTC-USD:trade:2']);
    expect(fill.released).toEqual([hbSrc]);
    expect(p.tick(1_000).outputs).toEqual([]);
  });

  it('a heartbeat whose tail never comes: the gap after the window, the frame acked after the gap', () => {
    src = 0;
    const p = new ProductProcessor('BTC-USD', OPTS);
    run(p, [
      frame(marker('connected'), 1),
      frame(match(1), 1),
      frame({ type: 'heartbeat', last_trade_id: 3, sequence: 1 }, 2),
    ]);
    const hbSrc = src;
    expect(p.tick(249).outputs).toEqual([]);
    const t = p.tick(250);
    expect(t.outputs.map((o) => o.msgId)).toEqual(['coinbase:BTC-USD:gap:2-3']);
    expect(t.outputs[0]?.ackFor).toBe(hbSrc);
    expect(t.released).toEqual([hbSrc]);
  });

  it('after a restart skips what MD_NORM already reflects and announces the book invalid', () => {
    src = 0;
    const restored: ProductMarks = {
      trade: { seq: 7, src: 50, hw: '20' },
      ticker: { seq: 3, src: 40, sequence: '200' },
      book: { seq: 2, src: 45 },
      status: { seq: 4, src: 30 },
    };
    const p = new ProductProcessor('BTC-USD', OPTS, restored);
    const start = p.announceRestart(99);
    expect(start.resync).toBe('restart');
    expect(start.outputs.map((o) => o.message)).toEqual([
      expect.objectContaining({ event: 'book_invalid', reason: 'restart', seq: 5 }),
    ]);
    src = 39;
    expect(p.onFrame(frame(ticker(199), 0), 0).events).toEqual([{ kind: 'skipped_reflected' }]);
    src = 60;
    expect(p.onFrame(frame(match(20), 0), 0).events).toContainEqual({ kind: 'duplicate_trade' });
    const next = p.onFrame(frame(match(21), 0), 0);
    expect(next.outputs.map((o) => o.message)).toEqual([
      expect.objectContaining({ type: 'trade', trade_id: '21', seq: 8 }),
    ]);
    expect(p.onFrame(frame(ticker(201), 0), 0).outputs[0]?.message).toMatchObject({
      type: 'ticker',
      seq: 4,
      sequence: '201',
    });
  });

  it('a hole in Lf-Conn-Seq invalidates the book and asks for a resync; the next snapshot resyncs it', () => {
    src = 0;
    const p = new ProductProcessor('BTC-USD', OPTS);
    const first = run(p, [
      frame(marker('connected'), 1),
      frame(snapshot, 2),
      frame(l2('100.3', '1'), 3),
    ]);
    expect(first.outputs.map((o) => o.message)).toContainEqual(
      expect.objectContaining({ event: 'book_resynced' }),
    );
    expect(p.bookValid).toBe(true);
    const hole = p.onFrame(frame(l2('100.2', '1'), 5), 0);
    expect(hole.resync).toBe('missing_frame');
    expect(hole.outputs.map((o) => o.message)).toContainEqual(
      expect.objectContaining({ event: 'book_invalid', reason: 'missing_frame' }),
    );
    expect(p.bookValid).toBe(false);
    const again = p.onFrame(frame(snapshot, 6), 0);
    expect(again.outputs.map((o) => o.message)).toContainEqual(
      expect.objectContaining({ event: 'book_resynced' }),
    );
    expect(p.bookValid).toBe(true);
  });

  it('a resubscribed marker invalidates the book without asking again; l2updates before the snapshot keep it invalid', () => {
    src = 0;
    const p = new ProductProcessor('BTC-USD', OPTS);
    run(p, [frame(marker('connected'), 1), frame(snapshot, 2)]);
    const r = p.onFrame(frame(marker('resubscribed'), 3), 0);
    expect(r.resync).toBeUndefined();
    expect(p.bookValid).toBe(false);
    p.onFrame(frame(l2('100.3', '1'), 4), 0);
    expect(p.bookValid).toBe(false);
    p.onFrame(frame(snapshot, 5), 0);
    expect(p.bookValid).toBe(true);
  });

  it('publishes the top-N book best first, and a crossed book as book_invalid with a resync', () => {
    src = 0;
    const p = new ProductProcessor('BTC-USD', OPTS);
    const { outputs } = run(p, [frame(marker('connected'), 1), frame(snapshot, 2)]);
    const book = outputs.find((o) => o.kind === 'book');
    expect(book?.message).toMatchObject({ bids: [['100.4', '1']], asks: [['100.6', '2']] });
    const crossed = p.onFrame(frame({ type: 'l2update', changes: [['buy', '100.7', '1']] }, 3), 0);
    expect(crossed.resync).toBe('crossed');
  });

  it('a schema-breaking frame is reported for MD_DLQ, not thrown', () => {
    src = 0;
    const p = new ProductProcessor('BTC-USD', OPTS);
    expect(
      p.onFrame(frame({ type: 'match', trade_id: 'x', price: 'abc' }, 1), 0).invalid?.reason,
    ).toBe('schema');
    expect(p.onFrame({ ...frame({}, 1), text: 'not json' }, 0).invalid?.reason).toBe('unparsable');
  });

  it('whatever the frame order, every output kind has contiguous seq and msg ids never collide', () => {
    const frameArb = fc.oneof(
      fc.integer({ min: 1, max: 40 }).map((id) => ({ v: match(id), scoped: false })),
      fc.integer({ min: 1, max: 400 }).map((s) => ({ v: ticker(s), scoped: false })),
      fc.constant({ v: snapshot, scoped: true }),
      fc
        .tuple(
          fc.constantFrom('100.1', '100.2', '100.3', '100.7'),
          fc.constantFrom('0', '1', '0.00', '2'),
        )
        .map(([pr, sz]) => ({ v: l2(pr, sz), scoped: true })),
      fc.constant({ v: { type: 'heartbeat', last_trade_id: 40, sequence: 1 }, scoped: true }),
      fc
        .constantFrom('connected', 'stale', 'resubscribed')
        .map((s) => ({ v: marker(s), scoped: true })),
    );
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 80 }),
        fc.integer({ min: 0, max: 500 }),
        (frames, tickAt) => {
          src = 0;
          const p = new ProductProcessor('BTC-USD', OPTS);
          let connSeq = 0;
          const outputs: Output[] = [];
          frames.forEach((f, i) => {
            if (f.scoped) connSeq++;
            outputs.push(...p.onFrame(frame(f.v, connSeq), i).outputs);
          });
          outputs.push(...p.tick(frames.length + tickAt + 1_000).outputs);
          for (const kind of ['trade', 'ticker', 'book', 'status'] as const) {
            const seqs = outputs.filter((o) => o.kind === kind).map((o) => o.message.seq);
            expect(seqs).toEqual(seqs.map((_, i) => i + 1));
          }
          const ids = outputs.map((o) => o.msgId);
          expect(new Set(ids).size).toBe(ids.length);
          const tradeIds = outputs
            .filter((o) => o.kind === 'trade')
            .map((o) => Number((o.message as { trade_id: string }).trade_id));
          expect([...tradeIds].sort((a, b) => a - b)).toEqual(tradeIds);
        },
      ),
    );
  });
});
