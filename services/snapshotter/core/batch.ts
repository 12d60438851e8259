import type { Normalized } from '../../common/schemas/normalized.js';
import {
  applyMessage,
  copyState,
  crossedBoundaryUs,
  productKey,
  type ProductState,
  type Snapshot,
} from './state.js';
import { messageTimeUs } from './time.js';

/**
 * One batch of MD_NORM messages as the rows of one transaction: the trades and gaps they
 * carry, the snapshots their times trigger, the latest state of every product touched,
 * and the checkpoint (the last stream sequence applied). Pure: the shell commits the
 * plan, and only then adopts `states` and acks.
 */

export interface BatchInput {
  /** MD_NORM stream sequence. */
  offset: number;
  /** Undefined for a message that failed the schema: it only advances the checkpoint. */
  msg: Normalized | undefined;
}

export interface TradeRow {
  venue: string;
  product: string;
  trade_id: string;
  timeUs: number;
  time: string;
  price: string;
  size: string;
  side: 'buy' | 'sell';
  seq: number;
  offset: number;
  recv_us: number;
  flags: readonly string[];
}

export interface GapRow {
  venue: string;
  product: string;
  from_id: string;
  to_id: string;
  timeUs: number;
  time: string;
  reason: string;
  offset: number;
}

export interface PlannedSnapshot extends Snapshot {
  venue: string;
  product: string;
}

export interface BatchPlan {
  /** Every product's state after the batch (untouched ones carried over). */
  states: Map<string, ProductState>;
  /** The latest-state rows to upsert: the final state of each product touched. */
  latest: ProductState[];
  trades: TradeRow[];
  gaps: GapRow[];
  snapshots: PlannedSnapshot[];
  /** The checkpoint after this batch (unchanged when everything was skipped). */
  lastOffset: number;
  applied: number;
  /** Messages at or below the checkpoint (redeliveries, replays). */
  skipped: number;
  invalid: number;
}

export interface PlanOptions {
  intervalUs: number;
  /** The checkpoint: messages at or below it are already reflected. */
  after: number;
}

export function planBatch(
  prev: ReadonlyMap<string, ProductState>,
  inputs: readonly BatchInput[],
  opts: PlanOptions,
): BatchPlan {
  const states = new Map(prev);
  const owned = new Map<string, ProductState>();
  const trades: TradeRow[] = [];
  const seenTrades = new Map<string, TradeIds>();
  const gaps: GapRow[] = [];
  const seenGaps = new Set<string>();
  const snapshots: PlannedSnapshot[] = [];
  let lastOffset = opts.after;
  let applied = 0;
  let skipped = 0;
  let invalid = 0;
  for (const { offset, msg } of inputs) {
    if (offset <= lastOffset) {
      skipped++;
      continue;
    }
    lastOffset = offset;
    if (msg === undefined) {
      invalid++;
      continue;
    }
    applied++;
    const key = productKey(msg.venue, msg.product);
    const timeUs = messageTimeUs(msg.time, msg.recv_us);
    // This batch's own copy of the product's state, folded in place (see applyMessage).
    let cur = owned.get(key);
    if (cur === undefined) {
      const base = states.get(key);
      cur = base === undefined ? undefined : copyState(base);
    }
    const boundaryUs = crossedBoundaryUs(cur, timeUs, opts.intervalUs);
    if (boundaryUs !== undefined && cur !== undefined)
      snapshots.push({ venue: msg.venue, product: msg.product, boundaryUs, state: copyState(cur) });
    owned.set(key, applyMessage(cur, { offset, msg }, timeUs));
    if (msg.type === 'trade') {
      if (!firstSighting(seenTrades, key, msg.trade_id)) continue;
      trades.push({
        venue: msg.venue,
        product: msg.product,
        trade_id: msg.trade_id,
        timeUs,
        time: msg.time,
        price: msg.price,
        size: msg.size,
        side: msg.side,
        seq: msg.seq,
        offset,
        recv_us: msg.recv_us,
        flags: msg.flags,
      });
    } else if (
      msg.type === 'status' &&
      msg.event === 'gap' &&
      msg.from !== undefined &&
      msg.to !== undefined
    ) {
      const id = `${key}:${msg.from}-${msg.to}`;
      if (seenGaps.has(id)) continue;
      seenGaps.add(id);
      gaps.push({
        venue: msg.venue,
        product: msg.product,
        from_id: msg.from,
        to_id: msg.to,
        timeUs,
        time: msg.time,
        reason: msg.reason,
        offset,
      });
    }
  }
  for (const [key, state] of owned) states.set(key, state);
  const latest = [...owned.values()];
  return { states, latest, trades, gaps, snapshots, lastOffset, applied, skipped, invalid };
}

/** Trade ids seen per product in a batch: usually increasing, so a Set only when they are not. */
interface TradeIds {
  last: string;
  all: Set<string> | undefined;
  ordered: string[];
}

/** Plain decimal-integer ids without leading zeros compare by length, then by text. */
function plainAfter(a: string, b: string): boolean {
  if (a.length > 1 && a.startsWith('0')) return false;
  if (b.length > 1 && b.startsWith('0')) return false;
  return a.length !== b.length ? a.length > b.length : a > b;
}

function firstSighting(seen: Map<string, TradeIds>, key: string, id: string): boolean {
  const ids = seen.get(key);
  if (ids === undefined) {
    seen.set(key, { last: id, all: undefined, ordered: [id] });
    return true;
  }
  if (ids.all === undefined) {
    if (plainAfter(id, ids.last)) {
      ids.last = id;
      ids.ordered.push(id);
      return true;
    }
    ids.all = new Set(ids.ordered);
  }
  if (ids.all.has(id)) return false;
  ids.all.add(id);
  return true;
}
