import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  planBatch,
  type BatchPlan,
  type PlannedSnapshot,
} from '../../../services/snapshotter/core/batch.js';
import {
  nextBoundaryUs,
  productKey,
  type ProductState,
} from '../../../services/snapshotter/core/state.js';
import { BASE_US, cutsArb, intervalArb, splitAt, streamArb } from './arbitraries.js';
import {
  naiveBoundaries,
  naiveState,
  naiveStateAt,
  uniqueTrades,
  type Offsetted,
} from './model.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD'];

/** Plans batch after batch as the worker does (each plan's states and checkpoint carried on). */
function runBatches(
  batches: readonly Offsetted[][],
  intervalUs: number,
  start: { states: Map<string, ProductState>; after: number } = { states: new Map(), after: 0 },
): { plans: BatchPlan[]; states: Map<string, ProductState>; after: number } {
  let { states, after } = start;
  const plans: BatchPlan[] = [];
  for (const b of batches) {
    const plan = planBatch(states, b, { intervalUs, after });
    plans.push(plan);
    states = plan.states;
    after = plan.lastOffset;
  }
  return { plans, states, after };
}

function snapshotsOf(plans: readonly BatchPlan[]): PlannedSnapshot[] {
  return plans.flatMap((p) => p.snapshots);
}

/** stateAt(T) as the query resolves it: the greatest key ≤ T among snapshots and latest. */
function resolveAt(
  snaps: readonly PlannedSnapshot[],
  latest: ProductState | undefined,
  product: string,
  tUs: number,
  intervalUs: number,
): ProductState | undefined {
  const candidates: { key: number; state: ProductState }[] = snaps
    .filter((s) => s.product === product && s.boundaryUs <= tUs)
    .map((s) => ({ key: s.boundaryUs, state: s.state }));
  if (latest !== undefined && nextBoundaryUs(latest, intervalUs) <= tUs)
    candidates.push({ key: nextBoundaryUs(latest, intervalUs), state: latest });
  candidates.sort((a, b) => b.key - a.key);
  return candidates[0]?.state;
}

describe('state fold (property: equals naive models)', () => {
  it('the final state of each product equals the naive last-of-each-kind model', () => {
    fc.assert(
      fc.property(streamArb, cutsArb, intervalArb, (xs, cuts, intervalUs) => {
        const { states } = runBatches(splitAt(xs, cuts), intervalUs);
        for (const p of PRODUCTS) {
          expect(states.get(productKey('coinbase', p))).toEqual(
            naiveState(xs.filter((x) => x.msg.product === p)),
          );
        }
      }),
      { numRuns: 300 },
    );
  });

  it('snapshots sit exactly at the naive boundaries and hold the state before the crossing message', () => {
    fc.assert(
      fc.property(streamArb, cutsArb, intervalArb, (xs, cuts, intervalUs) => {
        const snaps = snapshotsOf(runBatches(splitAt(xs, cuts), intervalUs).plans);
        for (const p of PRODUCTS) {
          const mine = snaps.filter((s) => s.product === p);
          expect(mine.map((s) => s.boundaryUs)).toEqual(naiveBoundaries(xs, p, intervalUs));
          for (const s of mine)
            expect(s.state).toEqual(naiveStateAt(xs, p, s.boundaryUs, intervalUs));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('stateAt(T) from snapshots + latest equals the naive state at T, for any T', () => {
    fc.assert(
      fc.property(
        streamArb,
        cutsArb,
        intervalArb,
        fc.array(fc.integer({ min: -5_000, max: 200_000 }), { minLength: 1, maxLength: 20 }),
        (xs, cuts, intervalUs, ts) => {
          const { plans, states } = runBatches(splitAt(xs, cuts), intervalUs);
          const snaps = snapshotsOf(plans);
          for (const p of PRODUCTS) {
            for (const dt of ts) {
              const t = BASE_US + dt;
              const latest = states.get(productKey('coinbase', p));
              expect(resolveAt(snaps, latest, p, t, intervalUs)).toEqual(
                naiveStateAt(xs, p, t, intervalUs),
              );
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not depend on where batches are cut', () => {
    fc.assert(
      fc.property(streamArb, cutsArb, intervalArb, (xs, cuts, intervalUs) => {
        const whole = runBatches([xs], intervalUs);
        const split = runBatches(splitAt(xs, cuts), intervalUs);
        expect(split.states).toEqual(whole.states);
        expect(snapshotsOf(split.plans)).toEqual(snapshotsOf(whole.plans));
        expect(split.after).toEqual(whole.after);
        // Trade rows: each trade id once, first occurrence (the database keeps the first).
        const rows = new Map<string, string>();
        for (const t of split.plans.flatMap((p) => p.trades)) {
          const k = `${t.product}:${t.trade_id}`;
          if (!rows.has(k)) rows.set(k, t.price);
        }
        const expected = uniqueTrades(xs.map((x) => x.msg));
        expect([...rows.keys()]).toEqual(expected.map((t) => `${t.product}:${t.trade_id}`));
      }),
      { numRuns: 200 },
    );
  });

  it('skips everything at or below the checkpoint: a redelivered batch plans nothing', () => {
    fc.assert(
      fc.property(streamArb, cutsArb, intervalArb, (xs, cuts, intervalUs) => {
        const first = runBatches(splitAt(xs, cuts), intervalUs);
        const again = planBatch(first.states, xs, { intervalUs, after: first.after });
        expect(again.applied).toBe(0);
        expect(again.skipped).toBe(xs.length);
        expect(again.trades).toEqual([]);
        expect(again.snapshots).toEqual([]);
        expect(again.latest).toEqual([]);
        expect(again.lastOffset).toBe(first.after);
        expect(again.states).toEqual(first.states);
      }),
      { numRuns: 200 },
    );
  });

  it('redelivery after newer messages (ack-floor replay) gives the same result as one clean pass', () => {
    fc.assert(
      fc.property(
        streamArb,
        fc.integer({ min: 0, max: 80 }),
        intervalArb,
        (xs, cut, intervalUs) => {
          const k = Math.min(cut, xs.length);
          // Batch 1 commits xs[0..k); the replay then delivers from the start again.
          const one = runBatches([xs.slice(0, k)], intervalUs);
          const replay = runBatches([xs], intervalUs, { states: one.states, after: one.after });
          const clean = runBatches([xs], intervalUs);
          expect(replay.states).toEqual(clean.states);
          expect([...snapshotsOf(one.plans), ...snapshotsOf(replay.plans)]).toEqual(
            snapshotsOf(clean.plans),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('an invalid message advances the checkpoint and folds nothing', () => {
    const plan = planBatch(new Map(), [{ offset: 7, msg: undefined }], {
      intervalUs: 1_000_000,
      after: 3,
    });
    expect(plan).toMatchObject({ lastOffset: 7, applied: 0, invalid: 1, skipped: 0 });
    expect(plan.states.size).toBe(0);
  });

  it('a gap status becomes a gap row; a gap without ids does not', () => {
    const common = {
      v: 1 as const,
      venue: 'coinbase' as const,
      product: 'BTC-USD',
      seq: 1,
      recv_us: 1,
      flags: [],
    };
    const plan = planBatch(
      new Map(),
      [
        {
          offset: 1,
          msg: {
            ...common,
            time: '2024-01-01T00:00:00.5Z',
            type: 'status',
            event: 'gap',
            reason: 'upstream_drop',
            from: '10',
            to: '12',
          },
        },
        {
          offset: 2,
          msg: {
            ...common,
            seq: 2,
            time: '2024-01-01T00:00:01Z',
            type: 'status',
            event: 'gap',
            reason: 'x',
          },
        },
      ],
      { intervalUs: 1_000_000, after: 0 },
    );
    expect(plan.gaps).toEqual([
      expect.objectContaining({ from_id: '10', to_id: '12', timeUs: BASE_US + 500_000, offset: 1 }),
    ]);
    expect(plan.snapshots.map((s) => s.boundaryUs)).toEqual([BASE_US + 1_000_000]);
  });
});
