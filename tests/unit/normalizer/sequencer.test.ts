import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SequenceFilter,
  TradeSequencer,
  parseTradeId,
  type SeqOutput,
} from '../../../services/normalizer/core/sequencer.js';

type Out = SeqOutput<string>;

function kinds(out: Out[]): string[] {
  return out.map((o) => (o.kind === 'gap' ? `gap:${o.from}-${o.to}` : `${o.kind}:${o.tradeId}`));
}

describe('TradeSequencer examples (DESIGN.md "Validation and ordering")', () => {
  it('emits in order, and the first trade ever without a gap before it', () => {
    const s = new TradeSequencer<string>();
    expect(kinds(s.offer('1000', 'a', 0))).toEqual(['emit:1000']);
    expect(kinds(s.offer('1001', 'b', 1))).toEqual(['emit:1001']);
    expect(s.highWater()).toBe('1001');
  });

  it('holds a trade behind a missing id and releases both in order when it arrives', () => {
    const s = new TradeSequencer<string>();
    s.restore('0');
    expect(s.offer('2', 'b', 0)).toEqual([]);
    expect(s.nextDeadline()).toBe(250);
    expect(s.offer('1', 'a', 10)).toEqual([
      { kind: 'emit', tradeId: '1', payload: 'a' },
      { kind: 'emit', tradeId: '2', payload: 'b' },
    ]);
    expect(s.nextDeadline()).toBeUndefined();
  });

  it('announces the gap after windowMs; a trade arriving after that is late', () => {
    const s = new TradeSequencer<string>({ windowMs: 250 });
    s.offer('1', 'a', 0);
    s.offer('3', 'c', 0);
    expect(s.tick(249)).toEqual([]);
    expect(kinds(s.tick(250))).toEqual(['gap:2-2', 'emit:3']);
    expect(kinds(s.offer('2', 'b', 251))).toEqual(['late:2']);
  });

  it('a trade arriving after its window passed, before any tick, fills its place (regression)', () => {
    // A busy process reads the missing trade after the deadline but before a timer ran:
    // it was not missing, so no gap is announced and nothing is refused as late.
    const s = new TradeSequencer<string>({ windowMs: 250 });
    s.offer('1', 'a', 0);
    s.offer('3', 'c', 0);
    expect(kinds(s.offer('2', 'b', 400))).toEqual(['emit:2', 'emit:3']);
    // Another trade still expires what is overdue after it is placed.
    s.offer('5', 'e', 400);
    expect(kinds(s.offer('7', 'g', 700))).toEqual(['gap:4-4', 'emit:5']);
  });

  it('announces the gap when more than windowMsgs trades are held', () => {
    const s = new TradeSequencer<string>({ windowMsgs: 3 });
    s.offer('1', 'a', 0);
    expect(s.offer('3', 'c', 0)).toEqual([]);
    expect(s.offer('5', 'e', 0)).toEqual([]);
    expect(s.offer('4', 'd', 0)).toEqual([]);
    expect(kinds(s.offer('7', 'g', 0))).toEqual(['gap:2-2', 'emit:3', 'emit:4', 'emit:5']);
    expect(s.heldCount()).toBe(1);
    expect(kinds(s.offer('6', 'f', 1))).toEqual(['emit:6', 'emit:7']);
  });

  it('with windowMs 0 nothing is held', () => {
    const s = new TradeSequencer<string>({ windowMs: 0 });
    s.offer('1', 'a', 0);
    expect(kinds(s.offer('3', 'c', 0))).toEqual(['gap:2-2', 'emit:3']);
  });

  it('drops duplicates of emitted and of held trades', () => {
    const s = new TradeSequencer<string>();
    s.offer('1', 'a', 0);
    expect(kinds(s.offer('1', 'a', 1))).toEqual(['duplicate:1']);
    s.offer('3', 'c', 2);
    expect(kinds(s.offer('3', 'c', 3))).toEqual(['duplicate:3']);
  });

  it('a heartbeat announces the missing tail once the window passed', () => {
    const s = new TradeSequencer<string>();
    s.restore('10');
    expect(s.heartbeat('10', 0)).toEqual([]);
    expect(s.heartbeat('13', 0)).toEqual([]);
    expect(s.nextDeadline()).toBe(250);
    expect(s.tick(249)).toEqual([]);
    expect(kinds(s.tick(250))).toEqual(['gap:11-13']);
    expect(s.nextDeadline()).toBeUndefined();
    expect(kinds(s.offer('12', 'x', 251))).toEqual(['late:12']);
    expect(kinds(s.offer('14', 'y', 251))).toEqual(['emit:14']);
  });

  it('a trade sent after the heartbeat that counts it is not missing (soak seed 7, regression)', () => {
    // The feed reordered match 11 behind the heartbeat saying last_trade_id 11: announced at
    // once, 11 was then refused as late, a trade delivered and never stored.
    const s = new TradeSequencer<string>();
    s.restore('10');
    expect(s.heartbeat('11', 0)).toEqual([]);
    expect(kinds(s.offer('11', 'x', 5))).toEqual(['emit:11']);
    expect(s.nextDeadline()).toBeUndefined();
    expect(s.tick(1_000)).toEqual([]);
    // Part of the tail arrives: the rest is announced when the window ends.
    expect(s.heartbeat('14', 1_000)).toEqual([]);
    expect(kinds(s.offer('12', 'y', 1_100))).toEqual(['emit:12']);
    expect(kinds(s.tick(1_250))).toEqual(['gap:13-14']);
  });

  it('later heartbeats keep the earlier deadline for the ids they already counted', () => {
    const s = new TradeSequencer<string>();
    s.restore('10');
    s.heartbeat('12', 0);
    s.heartbeat('15', 200);
    expect(kinds(s.tick(250))).toEqual(['gap:11-12']);
    expect(kinds(s.offer('13', 'a', 300))).toEqual(['emit:13']);
    expect(kinds(s.tick(450))).toEqual(['gap:14-15']);
  });

  it('with windowMs 0 a heartbeat announces the tail at once', () => {
    const s = new TradeSequencer<string>({ windowMs: 0 });
    s.restore('10');
    expect(kinds(s.heartbeat('13', 0))).toEqual(['gap:11-13']);
  });

  it('a heartbeat waits for held trades to be resolved first', () => {
    const s = new TradeSequencer<string>();
    s.restore('10');
    s.offer('12', 'b', 0);
    expect(s.heartbeat('15', 100)).toEqual([]);
    expect(s.heartbeat('14', 120)).toEqual([]);
    expect(kinds(s.tick(250))).toEqual(['gap:11-11', 'emit:12']);
    // The tail counted by the heartbeat at 100 has its own window.
    expect(kinds(s.tick(350))).toEqual(['gap:13-15']);
    // Or the held ones fill in before the window ends:
    const t = new TradeSequencer<string>();
    t.restore('10');
    t.offer('12', 'b', 0);
    t.heartbeat('13', 1);
    expect(kinds(t.offer('11', 'a', 2))).toEqual(['emit:11', 'emit:12']);
    expect(kinds(t.tick(251))).toEqual(['gap:13-13']);
  });

  it('ignores a heartbeat before the first trade', () => {
    const s = new TradeSequencer<string>();
    expect(s.heartbeat('99', 0)).toEqual([]);
    expect(kinds(s.offer('5', 'x', 0))).toEqual(['emit:5']);
  });

  it('after restore, ids at or below the mark are duplicates (redelivery)', () => {
    const s = new TradeSequencer<string>();
    s.restore('500');
    expect(kinds(s.offer('499', 'x', 0))).toEqual(['duplicate:499']);
    expect(kinds(s.offer('501', 'y', 0))).toEqual(['emit:501']);
  });

  it('compares ids as BigInt beyond 2^53', () => {
    const s = new TradeSequencer<string>();
    s.restore('9007199254740993');
    expect(kinds(s.offer('9007199254740994', 'a', 0))).toEqual(['emit:9007199254740994']);
    s.offer('9007199254740996', 'c', 0);
    expect(kinds(s.tick(1000))).toEqual([
      'gap:9007199254740995-9007199254740995',
      'emit:9007199254740996',
    ]);
  });

  it('remembers only gapMemory gaps to tell late from duplicate', () => {
    const s = new TradeSequencer<string>({ gapMemory: 1, windowMsgs: 0 });
    s.offer('1', 'a', 0);
    s.offer('3', 'c', 0);
    s.offer('5', 'e', 0);
    expect(kinds(s.offer('4', 'd', 0))).toEqual(['late:4']);
    expect(kinds(s.offer('2', 'b', 0))).toEqual(['duplicate:2']);
  });

  it('rejects ids that are not decimal integers', () => {
    expect(() => parseTradeId('1e3')).toThrow(RangeError);
    expect(() => new TradeSequencer<string>().offer('-1', 'x', 0)).toThrow(RangeError);
    expect(() => new TradeSequencer({ windowMsgs: -1 })).toThrow(RangeError);
  });
});

describe('SequenceFilter (tickers by sequence)', () => {
  it('accepts increasing sequences with holes, drops the rest', () => {
    const f = new SequenceFilter();
    expect(f.accept('10')).toBe('ok');
    expect(f.accept('13')).toBe('ok');
    expect(f.accept('13')).toBe('stale');
    expect(f.accept('12')).toBe('stale');
    f.restore('100');
    expect(f.accept('100')).toBe('stale');
    expect(f.lastAccepted()).toBe('100');
  });
});

/** Checks the output invariant: emitted and gap ranges contiguous and increasing. */
class Checker {
  end: bigint | undefined;
  readonly emitted: bigint[] = [];
  readonly gaps: [bigint, bigint][] = [];
  duplicates = 0;
  late = 0;

  constructor(start?: bigint) {
    this.end = start;
  }

  feed(out: Out[]): void {
    for (const o of out) {
      if (o.kind === 'emit' || o.kind === 'gap') {
        const from = BigInt(o.kind === 'emit' ? o.tradeId : o.from);
        const to = BigInt(o.kind === 'emit' ? o.tradeId : o.to);
        if (this.end !== undefined) expect(from).toBe(this.end + 1n);
        expect(to >= from).toBe(true);
        this.end = to;
        if (o.kind === 'emit') {
          expect(o.payload).toBe(o.tradeId);
          this.emitted.push(from);
        } else {
          this.gaps.push([from, to]);
        }
      } else {
        // Duplicates and late trades are at or below the resolved mark, or held (duplicate).
        if (o.kind === 'late') {
          const id = BigInt(o.tradeId);
          expect(this.gaps.some(([f, t]) => f <= id && id <= t)).toBe(true);
          this.late++;
        } else {
          this.duplicates++;
        }
      }
    }
  }
}

describe('TradeSequencer properties', () => {
  it('property: for any input, outputs are contiguous, strictly increasing and never lose a trade', () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant('offer' as const), id: fc.nat(60), dt: fc.nat(300) }),
      fc.record({ op: fc.constant('tick' as const), id: fc.constant(0), dt: fc.nat(300) }),
      fc.record({ op: fc.constant('hb' as const), id: fc.nat(60), dt: fc.nat(300) }),
    );
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.nat(500),
        fc.nat(10),
        fc.option(fc.nat(10), { nil: undefined }),
        (ops, windowMs, windowMsgs, restore) => {
          const s = new TradeSequencer<string>({ windowMs, windowMsgs });
          if (restore !== undefined) s.restore(String(restore));
          const check = new Checker(restore === undefined ? undefined : BigInt(restore));
          let now = 0;
          let offers = 0;
          for (const o of ops) {
            now += o.dt;
            if (o.op === 'offer') {
              offers++;
              check.feed(s.offer(String(o.id), String(o.id), now));
            } else if (o.op === 'tick') check.feed(s.tick(now));
            else check.feed(s.heartbeat(String(o.id), now));
          }
          check.feed(s.tick(now + windowMs));
          expect(s.heldCount()).toBe(0);
          // Every offered trade is accounted for exactly once.
          expect(check.emitted.length + check.duplicates + check.late).toBe(offers);
          expect(new Set(check.emitted).size).toBe(check.emitted.length);
        },
      ),
      { numRuns: 1500 },
    );
  });

  /**
   * Ids base..base+n-1; some dropped, some duplicated, then reordered: each copy gets
   * key = index + jitter (jitter ≤ D) and the input is sorted by key, so no trade arrives
   * after D or more later trades, and (messages every dt ms) not later than 6·D·dt.
   */
  const scenario = fc
    .record({
      base: fc.bigInt({ min: 1n, max: 2n ** 62n }),
      d: fc.integer({ min: 0, max: 8 }),
      extraMsgs: fc.nat(5),
      dt: fc.integer({ min: 1, max: 20 }),
      items: fc.array(
        fc.record({
          drop: fc.integer({ min: 0, max: 7 }).map((x) => x === 0),
          jitters: fc.array(fc.nat(8), { minLength: 1, maxLength: 3 }),
        }),
        { minLength: 1, maxLength: 150 },
      ),
    })
    .map(({ base, d, extraMsgs, dt, items }) => {
      const copies: { id: bigint; key: number }[] = [];
      items.forEach((it, i) => {
        if (it.drop) return;
        for (const j of it.jitters) copies.push({ id: base + BigInt(i), key: i + (j % (d + 1)) });
      });
      copies.sort((a, b) => a.key - b.key);
      return {
        base,
        dt,
        windowMsgs: d + extraMsgs,
        windowMs: (6 * d + 2) * dt,
        input: copies.map((c) => c.id),
        keys: copies.map((c) => c.key),
        dropped: items.flatMap((it, i) => (it.drop ? [base + BigInt(i)] : [])),
        last: base + BigInt(items.length - 1),
      };
    });

  function expectedGaps(dropped: bigint[]): [bigint, bigint][] {
    const runs: [bigint, bigint][] = [];
    for (const id of dropped) {
      const prev = runs[runs.length - 1];
      if (prev !== undefined && prev[1] + 1n === id) prev[1] = id;
      else runs.push([id, id]);
    }
    return runs;
  }

  it('property: reordering within the window loses nothing; gaps exactly at the dropped ids', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const s = new TradeSequencer<string>({ windowMs: sc.windowMs, windowMsgs: sc.windowMsgs });
        s.restore(String(sc.base - 1n));
        const check = new Checker(sc.base - 1n);
        sc.input.forEach((id, p) => {
          check.feed(s.offer(String(id), String(id), p * sc.dt));
        });
        const end = sc.input.length * sc.dt + sc.windowMs;
        check.feed(s.tick(end));
        check.feed(s.heartbeat(String(sc.last), end));
        check.feed(s.tick(end + sc.windowMs));
        const distinct = [...new Set(sc.input)].sort((a, b) => (a < b ? -1 : 1));
        expect(check.emitted).toEqual(distinct);
        expect(check.gaps).toEqual(expectedGaps(sc.dropped));
        expect(check.late).toBe(0);
        expect(check.duplicates).toBe(sc.input.length - distinct.length);
        expect(s.highWater()).toBe(String(sc.last));
      }),
      { numRuns: 1000 },
    );
  });

  it('property: heartbeats among reordered trades announce only the dropped ids, never a late trade', () => {
    fc.assert(
      fc.property(scenario, fc.array(fc.nat(1_000), { maxLength: 20 }), (sc, hbAt) => {
        // A heartbeat sent at key k + 0.5 counts the ids generated by then (index ≤ k); the
        // trades the feed reordered behind it come after it (at most d keys later).
        const n = Number(sc.last - sc.base) + 1;
        const hbKeys = [...new Set(hbAt.map((x) => x % n))].sort((a, b) => a - b);
        const items: { hb: boolean; id: bigint }[] = [];
        let h = 0;
        sc.input.forEach((id, p) => {
          const key = sc.keys[p] ?? 0;
          for (; h < hbKeys.length && (hbKeys[h] ?? 0) < key; h++)
            items.push({ hb: true, id: sc.base + BigInt(hbKeys[h] ?? 0) });
          items.push({ hb: false, id });
        });
        // The window covers the longest wait from a heartbeat (or a higher trade) to an id it
        // counts, in messages; and as many held trades.
        let longest = 0;
        items.forEach((it, p) => {
          for (let q = p + 1; q < items.length; q++) {
            const later = items[q];
            if (later !== undefined && !later.hb && later.id <= it.id)
              longest = Math.max(longest, q - p);
          }
        });
        const windowMs = (longest + 1) * sc.dt;
        const s = new TradeSequencer<string>({ windowMs, windowMsgs: items.length + 1 });
        s.restore(String(sc.base - 1n));
        const check = new Checker(sc.base - 1n);
        items.forEach((it, p) => {
          const now = p * sc.dt;
          check.feed(
            it.hb ? s.heartbeat(String(it.id), now) : s.offer(String(it.id), String(it.id), now),
          );
        });
        const end = items.length * sc.dt;
        check.feed(s.heartbeat(String(sc.last), end));
        check.feed(s.tick(end + windowMs));
        const distinct = [...new Set(sc.input)].sort((a, b) => (a < b ? -1 : 1));
        expect(check.late).toBe(0);
        expect(check.emitted).toEqual(distinct);
        // A heartbeat may announce part of a run of dropped ids before the rest: the ids count.
        const gapIds: bigint[] = [];
        for (const [from, to] of check.gaps) for (let id = from; id <= to; id++) gapIds.push(id);
        expect(gapIds).toEqual(sc.dropped);
        expect(s.highWater()).toBe(String(sc.last));
      }),
      { numRuns: 1000 },
    );
  });

  it('property: the same without restore, when the first trade to arrive is the lowest', () => {
    fc.assert(
      fc.property(scenario, (sc) => {
        const first = sc.input.reduce((m, id) => (id < m ? id : m), sc.input[0] ?? 0n);
        if (sc.input.length === 0) return;
        const input = [
          first,
          ...sc.input.filter((id, i) => id !== first || i > sc.input.indexOf(first)),
        ];
        const s = new TradeSequencer<string>({
          windowMs: sc.windowMs + sc.dt,
          windowMsgs: sc.windowMsgs + 1,
        });
        const check = new Checker();
        input.forEach((id, p) => {
          check.feed(s.offer(String(id), String(id), p * sc.dt));
        });
        const end = 2 ** 40;
        check.feed(s.tick(end));
        check.feed(s.heartbeat(String(sc.last), end));
        check.feed(s.tick(end + sc.windowMs + sc.dt));
        const distinct = [...new Set(input)].sort((a, b) => (a < b ? -1 : 1));
        expect(check.emitted).toEqual(distinct);
        expect(check.gaps).toEqual(expectedGaps(sc.dropped.filter((id) => id > first)));
        expect(check.late).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
