import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ControlLog, unaccounted } from '../../../services/sim/core/control-log.js';
import {
  FaultPlanner,
  FaultState,
  FaultsUpdateSchema,
  isProtected,
  type FaultAction,
  type FaultsUpdate,
  type FrameKind,
} from '../../../services/sim/core/faults.js';
import { Rng } from '../../../services/sim/core/rng.js';

interface F {
  kind: FrameKind;
  raw: string;
  idx: number;
  tradeId?: number;
}

const KINDS: FrameKind[] = [
  'match',
  'ticker',
  'heartbeat',
  'l2update',
  'snapshot',
  'last_match',
  'status',
  'subscriptions',
  'error',
];

/** Frames with their original index; matches carry increasing trade ids. */
const framesArb = fc
  .array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 300 })
  .map((kinds) => {
    let trade = 1000;
    return kinds.map((kind, idx): F => {
      const f: F = { kind, raw: `{"type":"${kind}","i":${idx}}`, idx };
      if (kind === 'match') f.tradeId = trade++;
      return f;
    });
  });

const budgetArb = fc.oneof(
  fc.record({ p: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ count: fc.integer({ min: 1, max: 20 }) }),
);

const faultsArb = fc.record(
  {
    drop: budgetArb,
    dup: budgetArb,
    malformed: budgetArb,
    reorder: fc.tuple(budgetArb, fc.integer({ min: 1, max: 8 })).map(([b, k]) => ({ ...b, k })),
  },
  { requiredKeys: [] },
);

function plan(frames: F[], update: FaultsUpdate, seed: number) {
  const state = new FaultState();
  state.apply(FaultsUpdateSchema.parse(update));
  const planner = new FaultPlanner<F>('c1', new Rng(seed), state);
  const perCall: { input: F; actions: FaultAction<F>[] }[] = [];
  for (const f of frames) perCall.push({ input: f, actions: planner.process(f) });
  return {
    perCall,
    actions: perCall.flatMap((c) => c.actions),
    held: planner.drainHeld(),
    planner,
  };
}

describe('fault planner', () => {
  it('reorder never moves a frame more than K places later', () => {
    fc.assert(
      fc.property(framesArb, faultsArb, fc.integer(), (frames, faults, seed) => {
        const k = faults.reorder?.k ?? 3;
        const { actions } = plan(frames, faults, seed);
        const emitted: number[] = [];
        for (const a of actions) if (a.kind === 'send' && !a.dup) emitted.push(a.frame.idx);
        emitted.forEach((idx, pos) => {
          const overtakers = emitted.slice(0, pos).filter((j) => j > idx).length;
          expect(overtakers).toBeLessThanOrEqual(k);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('drop only ever removes match frames; every other frame goes out (or is still held)', () => {
    fc.assert(
      fc.property(framesArb, faultsArb, fc.integer(), (frames, faults, seed) => {
        const { actions, held } = plan(frames, faults, seed);
        const dropped = actions.filter((a) => a.kind === 'drop').map((a) => a.frame);
        for (const f of dropped) expect(f.kind).toBe('match');
        const out = new Set([
          ...actions.flatMap((a) => (a.kind === 'send' ? [a.frame.idx] : [])),
          ...held.map((f) => f.idx),
        ]);
        for (const f of frames) if (f.kind !== 'match') expect(out.has(f.idx)).toBe(true);
        for (const f of frames) expect(out.has(f.idx) !== dropped.includes(f)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('never drops, duplicates, reorders or garbles level2 and control frames', () => {
    fc.assert(
      fc.property(framesArb, faultsArb, fc.integer(), (frames, faults, seed) => {
        const { perCall, actions } = plan(frames, faults, seed);
        for (const { input, actions: acts } of perCall) {
          if (!isProtected(input.kind)) continue;
          expect(
            acts.filter((a) => a.kind !== 'send' || a.frame === input || !isProtected(a.frame.kind))
              .length,
          ).toBe(acts.length);
          expect(acts.some((a) => a.kind === 'malformed' || a.kind === 'drop')).toBe(false);
          expect(acts.filter((a) => a.kind === 'send' && a.frame === input)).toEqual([
            { kind: 'send', frame: input, dup: false },
          ]);
        }
        const protectedOut = actions.flatMap((a) =>
          a.kind === 'send' && isProtected(a.frame.kind) ? [a.frame.idx] : [],
        );
        expect(protectedOut).toEqual(frames.filter((f) => isProtected(f.kind)).map((f) => f.idx));
      }),
      { numRuns: 300 },
    );
  });

  it('every generated trade id ends up delivered or missed in the control log', () => {
    fc.assert(
      fc.property(
        framesArb,
        faultsArb,
        fc.integer(),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        (frames, faults, seed, writeFailure) => {
          const log = new ControlLog();
          const rng = new Rng(seed ^ 0x5a5a);
          const { perCall, held } = plan(frames, faults, seed);
          // What the connection shell does with each action (services/sim/connection.ts).
          perCall.forEach(({ input, actions }, i) => {
            if (input.tradeId !== undefined) log.generated('BTC-USD', input.tradeId);
            for (const a of actions) {
              if (a.kind !== 'send' && a.kind !== 'drop' && a.kind !== 'hold') continue;
              const id = a.frame.tradeId;
              if (id === undefined || a.frame.kind !== 'match') continue;
              if (a.kind === 'drop') log.missed('BTC-USD', id, 'c1', 'fault_drop');
              else log.sent('BTC-USD', id, 'c1');
              if (a.kind !== 'send') continue;
              // The socket's write callback: written, or failed because the connection died.
              if (rng.chance(writeFailure)) log.missed('BTC-USD', id, 'c1', 'closed');
              else log.delivered('BTC-USD', id, 'c1');
            }
            // At any moment, not just at rest: every trade so far is pending, delivered or missed.
            const now = log.toJSON().products['BTC-USD'];
            if (i % 25 === 0 && now !== undefined) expect(unaccounted(now)).toEqual([]);
          });
          for (const f of held)
            if (f.tradeId !== undefined) log.missed('BTC-USD', f.tradeId, 'c1', 'closed');
          const p = log.toJSON().products['BTC-USD'];
          if (p === undefined) {
            expect(frames.some((f) => f.kind === 'match')).toBe(false);
            return;
          }
          expect(p.pending).toEqual({});
          expect(unaccounted(p)).toEqual([]);
          expect(p.trades.count).toBe(frames.filter((f) => f.kind === 'match').length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is deterministic for a seed', () => {
    const frames = fc.sample(framesArb, { numRuns: 1, seed: 3 })[0] ?? [];
    const faults = {
      drop: { p: 0.2 },
      dup: { p: 0.2 },
      reorder: { p: 0.2, k: 4 },
      malformed: { p: 0.1 },
    };
    const a = plan(frames, faults, 12345).actions;
    expect(plan(frames, faults, 12345).actions).toEqual(a);
    expect(plan(frames, faults, 54321).actions).not.toEqual(a);
  });

  it('spends a count budget once across connections, then removes the fault', () => {
    const state = new FaultState();
    state.apply(FaultsUpdateSchema.parse({ drop: { count: 3 } }));
    const a = new FaultPlanner<F>('c1', new Rng(1), state);
    const b = new FaultPlanner<F>('c2', new Rng(2), state);
    let drops = 0;
    for (let i = 0; i < 10; i++) {
      for (const p of [a, b]) {
        drops += p
          .process({ kind: 'match', raw: '{}', idx: i, tradeId: i })
          .filter((x) => x.kind === 'drop').length;
      }
    }
    expect(drops).toBe(3);
    expect(state.active().drop).toBeUndefined();
  });

  it('fires a one-shot close after exactly N frames, on one connection only', () => {
    const state = new FaultState();
    const a = new FaultPlanner<F>('c1', new Rng(1), state);
    const b = new FaultPlanner<F>('c2', new Rng(2), state);
    a.process({ kind: 'heartbeat', raw: '{}', idx: 0 }); // frames before the fault do not count
    state.apply(FaultsUpdateSchema.parse({ close: { after_frames: 5, code: 4000 } }));
    expect(a.poll()).toEqual([]);
    expect(b.poll()).toEqual([]);
    const closes: string[] = [];
    for (let i = 1; i <= 8; i++) {
      for (const [name, p] of [
        ['a', a],
        ['b', b],
      ] as const) {
        for (const act of p.process({ kind: 'ticker', raw: '{}', idx: i }))
          if (act.kind === 'close') closes.push(`${name}@${i}:${act.code}`);
      }
    }
    expect(closes).toEqual(['a@5:4000']);
    expect(state.active().close).toBeUndefined();
  });

  it('fires a stall with after_frames 0 at once when polled', () => {
    const state = new FaultState();
    const p = new FaultPlanner<F>('c1', new Rng(1), state);
    state.apply(FaultsUpdateSchema.parse({ stall: { ms: 3000 } }));
    expect(p.poll()).toEqual([{ kind: 'stall', ms: 3000 }]);
    expect(p.poll()).toEqual([]);
  });

  it('targets one connection with "conn"', () => {
    const state = new FaultState();
    state.apply(FaultsUpdateSchema.parse({ conn: 'c2', drop: { p: 1 } }));
    const a = new FaultPlanner<F>('c1', new Rng(1), state);
    const b = new FaultPlanner<F>('c2', new Rng(1), state);
    expect(a.process({ kind: 'match', raw: '{}', idx: 0, tradeId: 1 })[0]?.kind).toBe('send');
    expect(b.process({ kind: 'match', raw: '{}', idx: 0, tradeId: 1 })[0]?.kind).toBe('drop');
  });

  it('merges updates: a key replaces, null clears, reset clears all', () => {
    const state = new FaultState();
    state.apply(FaultsUpdateSchema.parse({ drop: { p: 0.1 }, dup: { count: 2 } }));
    state.apply(FaultsUpdateSchema.parse({ dup: null, malformed: { p: 0.5 } }));
    expect(state.active()).toEqual({ drop: { p: 0.1 }, malformed: { p: 0.5 } });
    state.apply(FaultsUpdateSchema.parse({ reset: true, reorder: { count: 1 } }));
    expect(state.active()).toEqual({ reorder: { count: 1, k: 3 } });
  });

  it('rejects ambiguous or unknown fault JSON', () => {
    expect(FaultsUpdateSchema.safeParse({ drop: { p: 0.1, count: 2 } }).success).toBe(false);
    expect(FaultsUpdateSchema.safeParse({ drop: {} }).success).toBe(false);
    expect(FaultsUpdateSchema.safeParse({ explode: true }).success).toBe(false);
    expect(FaultsUpdateSchema.safeParse({ close: { code: 1005 } }).success).toBe(false);
    expect(FaultsUpdateSchema.parse({ close: {} })).toEqual({
      close: { after_frames: 0, code: 1006 },
    });
  });
});
