/**
 * Fault injection with fixed meanings (DESIGN.md "Simulator"):
 *   drop      removes a `match` frame (the trade is logged missed, `fault_drop`)
 *   dup       sends a frame twice in a row
 *   reorder   holds a frame back until at most K later frames went out
 *   malformed sends a broken (non-JSON) frame before the real one; nothing is lost
 *   stall     holds all output of a connection for N ms, socket open
 *   close     ends a connection: 1006 = abrupt (terminate), else a close frame with the code
 *   seq_skip  (Advanced Trade) leaves a hole in the connection's `sequence_num` before a frame;
 *             nothing is lost. Advanced Trade's `drop` removes one trade from a market_trades
 *             frame before it is numbered, so `sequence_num` stays contiguous.
 * level2 frames (`snapshot`, `l2update`) and control frames (`subscriptions`, `error`)
 * are never dropped, duplicated, reordered or preceded by garbage: level2 carries no
 * sequence, so a lost one would be undetectable by design. Only close and stall touch them.
 *
 * The planner is pure: decisions come from a per-connection seeded Rng and a shared
 * FaultState, so the same seed and the same frames give the same faults.
 */
import { z } from 'zod';
import type { Rng } from './rng.js';

const Budget = z
  .strictObject({
    p: z.number().min(0).max(1).optional(),
    count: z.number().int().positive().optional(),
  })
  .refine(
    (b) => (b.p === undefined) !== (b.count === undefined),
    'give exactly one of "p" or "count"',
  );

const ReorderBudget = z
  .strictObject({
    p: z.number().min(0).max(1).optional(),
    count: z.number().int().positive().optional(),
    k: z.number().int().min(1).max(1000).default(3),
  })
  .refine(
    (b) => (b.p === undefined) !== (b.count === undefined),
    'give exactly one of "p" or "count"',
  );

/** Close codes `ws` may send, plus 1006 meaning "terminate the TCP connection". */
const CloseCode = z
  .number()
  .int()
  .refine(
    (c) =>
      c === 1006 ||
      (c >= 1000 && c <= 1014 && c !== 1004 && c !== 1005) ||
      (c >= 3000 && c <= 4999),
    'a WebSocket close code (1006 = abrupt termination)',
  );

export const FaultsUpdateSchema = z.strictObject({
  /** Clear every active fault before applying the rest of this update. */
  reset: z.boolean().optional(),
  /** Apply only to this connection id (null or absent: every connection). */
  conn: z.string().nullable().optional(),
  drop: Budget.nullable().optional(),
  dup: Budget.nullable().optional(),
  reorder: ReorderBudget.nullable().optional(),
  malformed: Budget.nullable().optional(),
  seq_skip: Budget.nullable().optional(),
  stall: z
    .strictObject({
      ms: z.number().int().positive(),
      after_frames: z.number().int().nonnegative().default(0),
    })
    .nullable()
    .optional(),
  close: z
    .strictObject({
      after_frames: z.number().int().nonnegative().default(0),
      code: CloseCode.default(1006),
      reason: z.string().max(100).optional(),
    })
    .nullable()
    .optional(),
});

export type FaultsUpdate = z.input<typeof FaultsUpdateSchema>;
type Parsed = z.output<typeof FaultsUpdateSchema>;
type BudgetSpec = { p?: number | undefined; count?: number | undefined };

/** The faults in force; counts show what is left of them. */
export interface ActiveFaults {
  conn?: string;
  drop?: BudgetSpec;
  dup?: BudgetSpec;
  reorder?: BudgetSpec & { k: number };
  malformed?: BudgetSpec;
  seq_skip?: BudgetSpec;
  stall?: { ms: number; after_frames: number; id: number };
  close?: { after_frames: number; code: number; reason?: string | undefined; id: number };
}

export type FaultsView = Omit<ActiveFaults, 'stall' | 'close'> & {
  stall?: { ms: number; after_frames: number };
  close?: { after_frames: number; code: number; reason?: string | undefined };
};

type BudgetKind = 'drop' | 'dup' | 'reorder' | 'malformed' | 'seq_skip';

/** Shared by every connection's planner: one-shots and counts fire once, globally. */
export class FaultState {
  private faults: ActiveFaults = {};
  private nextId = 1;

  /** The faults in force, as JSON for /control/faults (one-shots without their internal id). */
  active(): FaultsView {
    const { stall, close, ...rest } = structuredClone(this.faults);
    const view: FaultsView = rest;
    if (stall !== undefined) view.stall = { ms: stall.ms, after_frames: stall.after_frames };
    if (close !== undefined) {
      const { id: _id, ...c } = close;
      view.close = c;
    }
    return view;
  }

  /** Merges an update: a key replaces that fault, `null` clears it, `reset` clears all. */
  apply(update: Parsed): FaultsView {
    const f: ActiveFaults = update.reset === true ? {} : this.faults;
    if (update.conn !== undefined) {
      if (update.conn === null) delete f.conn;
      else f.conn = update.conn;
    }
    for (const kind of ['drop', 'dup', 'malformed', 'seq_skip'] as const) {
      const v = update[kind];
      if (v === null) Reflect.deleteProperty(f, kind);
      else if (v !== undefined) f[kind] = { ...v };
    }
    if (update.reorder === null) delete f.reorder;
    else if (update.reorder !== undefined) f.reorder = { ...update.reorder };
    if (update.stall === null) delete f.stall;
    else if (update.stall !== undefined) f.stall = { ...update.stall, id: this.nextId++ };
    if (update.close === null) delete f.close;
    else if (update.close !== undefined) f.close = { ...update.close, id: this.nextId++ };
    this.faults = f;
    return this.active();
  }

  targets(conn: string): boolean {
    return this.faults.conn === undefined || this.faults.conn === conn;
  }

  /** Decides a budgeted fault for one frame; a spent count removes the fault. */
  take(kind: BudgetKind, rng: Rng): boolean {
    const b = this.faults[kind];
    if (b === undefined) return false;
    if (b.p !== undefined) return rng.chance(b.p);
    if (b.count === undefined || b.count <= 0) return false;
    b.count -= 1;
    if (b.count === 0) Reflect.deleteProperty(this.faults, kind);
    return true;
  }

  reorderK(): number {
    return this.faults.reorder?.k ?? 1;
  }

  stall(): ActiveFaults['stall'] {
    return this.faults.stall;
  }

  close(): ActiveFaults['close'] {
    return this.faults.close;
  }

  /** A one-shot fired: it is spent for every connection. */
  fired(kind: 'stall' | 'close', id: number): void {
    if (this.faults[kind]?.id === id) Reflect.deleteProperty(this.faults, kind);
  }
}

export type FrameKind =
  | 'match'
  | 'last_match'
  | 'ticker'
  | 'heartbeat'
  | 'status'
  | 'snapshot'
  | 'l2update'
  | 'subscriptions'
  | 'error'
  /** Advanced Trade: a market_trades update (1..n trades, each owed to the connection). */
  | 'market_trades'
  /** Advanced Trade: the market_trades snapshot of recent trades (replayed, like last_match). */
  | 'trades_snapshot'
  | 'candles'
  | 'other';

/** Frames that only `close` and `stall` may touch. */
export function isProtected(kind: FrameKind): boolean {
  return kind === 'snapshot' || kind === 'l2update' || kind === 'subscriptions' || kind === 'error';
}

export interface PlanFrame {
  kind: FrameKind;
  raw: string;
}

export type FaultAction<F extends PlanFrame> =
  | { kind: 'send'; frame: F; dup: boolean }
  | { kind: 'drop'; frame: F }
  /** Held back by reorder: nothing goes out now; a later `send` releases it. */
  | { kind: 'hold'; frame: F }
  | { kind: 'malformed'; raw: string }
  | { kind: 'stall'; ms: number }
  | { kind: 'close'; code: number; reason: string };

interface Held<F> {
  frame: F;
  idx: number;
  left: number;
}

/** Per-connection fault decisions over the connection's outgoing frame stream. */
export class FaultPlanner<F extends PlanFrame> {
  private total = 0;
  private idx = 0;
  private held: Held<F>[] = [];
  private readonly baselines = new Map<number, number>();
  /** Frames held back by reorder so far. */
  reordered = 0;

  constructor(
    readonly conn: string,
    private readonly rng: Rng,
    private readonly state: FaultState,
  ) {}

  /** The actions for one outgoing frame, in order, followed by any one-shot now due. */
  process(frame: F): FaultAction<F>[] {
    this.total += 1;
    const idx = ++this.idx;
    const out: FaultAction<F>[] = [];
    const s = this.state;
    if (isProtected(frame.kind) || !s.targets(this.conn)) {
      this.emit(out, frame, idx, false);
    } else if (frame.kind === 'match' && s.take('drop', this.rng)) {
      out.push({ kind: 'drop', frame });
    } else {
      if (s.take('malformed', this.rng))
        out.push({ kind: 'malformed', raw: this.garbage(frame.raw) });
      if (s.take('reorder', this.rng)) {
        this.reordered += 1;
        this.held.push({ frame, idx, left: 1 + this.rng.int(s.reorderK()) });
        out.push({ kind: 'hold', frame });
      } else {
        this.emit(out, frame, idx, s.take('dup', this.rng));
      }
    }
    out.push(...this.poll());
    return out;
  }

  /**
   * A budgeted decision outside `process` (Advanced Trade: `drop` per trade of a
   * market_trades frame, `seq_skip` before a frame is numbered).
   */
  decide(kind: 'drop' | 'seq_skip'): boolean {
    return this.state.targets(this.conn) && this.state.take(kind, this.rng);
  }

  /** One-shot stall/close due now (after_frames counted from when the fault was set). */
  poll(): FaultAction<F>[] {
    const out: FaultAction<F>[] = [];
    if (!this.state.targets(this.conn)) return out;
    const stall = this.state.stall();
    if (stall !== undefined && this.due(stall.id, stall.after_frames)) {
      this.state.fired('stall', stall.id);
      out.push({ kind: 'stall', ms: stall.ms });
    }
    const close = this.state.close();
    if (close !== undefined && this.due(close.id, close.after_frames)) {
      this.state.fired('close', close.id);
      out.push({ kind: 'close', code: close.code, reason: close.reason ?? 'fault injected' });
    }
    return out;
  }

  /** Frames still held back by reorder (taken out; for accounting at close). */
  drainHeld(): F[] {
    const frames = this.held.sort((a, b) => a.idx - b.idx).map((h) => h.frame);
    this.held = [];
    return frames;
  }

  private due(id: number, afterFrames: number): boolean {
    let base = this.baselines.get(id);
    if (base === undefined) {
      base = this.total;
      this.baselines.set(id, base);
    }
    return this.total - base >= afterFrames;
  }

  /** Sends a frame, then releases held frames that `idx` was the K-th to overtake. */
  private emit(out: FaultAction<F>[], frame: F, idx: number, dup: boolean): void {
    out.push({ kind: 'send', frame, dup: false });
    if (dup) out.push({ kind: 'send', frame, dup: true });
    if (this.held.length === 0) return;
    const released: Held<F>[] = [];
    for (const h of this.held) {
      if (h.idx < idx) {
        h.left -= 1;
        if (h.left <= 0) released.push(h);
      }
    }
    if (released.length === 0) return;
    this.held = this.held.filter((h) => h.left > 0);
    released.sort((a, b) => a.idx - b.idx);
    for (const h of released) this.emit(out, h.frame, h.idx, false);
  }

  /** A frame that is not JSON: a truncated copy, or the sandbox's non-JSON reply. */
  private garbage(raw: string): string {
    if (raw.length > 2 && this.rng.chance(0.7))
      return raw.slice(0, 1 + this.rng.int(raw.length - 1));
    return '\u0000invalid (un)subscribe msg';
  }
}
