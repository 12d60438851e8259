/**
 * The oracle of end-to-end tests: for every trade the market generated, on which
 * connections it was delivered, or why it was missed. A trade handed to a socket is
 * `pending` until the socket's write callback reports it written (delivered) or failed
 * (missed, with the connection's reason); at rest nothing is pending, and every
 * generated id is delivered on some connection or missed with a reason.
 */
import { RangeSet, type Range } from './ranges.js';

export const MISS_REASONS = [
  'fault_drop',
  'no_subscriber',
  'slow_consumer',
  'closed',
  'stall',
] as const;
export type MissReason = (typeof MISS_REASONS)[number];

export interface MissedEntry {
  reason: MissReason;
  /** The connection the trade was meant for; null for `no_subscriber`. */
  conn: string | null;
  /** Inclusive [from, to] trade id ranges. */
  trade_ids: Range[];
}

export interface ProductLogJson {
  trades: { count: number; first: number | null; last: number | null; ids: Range[] };
  /** Per connection id: trade ids written to that connection's socket. */
  delivered: Record<string, Range[]>;
  missed: MissedEntry[];
  /** Per connection id: trade ids handed to the socket, write not yet confirmed. */
  pending: Record<string, number[]>;
}

export interface ConnectionJson {
  remote: string;
  opened_at: string;
  closed_at: string | null;
  /** Why it closed: `client`, `fault_close`, `slow_consumer`, `subscribe_timeout`, `server_stop`. */
  close_reason: string | null;
  close_code: number | null;
  frames_sent: number;
  bytes_sent: number;
}

export interface ControlLogJson {
  products: Record<string, ProductLogJson>;
  connections: Record<string, ConnectionJson>;
}

interface ProductLog {
  generated: RangeSet;
  first: number | null;
  last: number | null;
  delivered: Map<string, RangeSet>;
  missed: Map<string, { reason: MissReason; conn: string | null; ids: RangeSet }>;
  pending: Map<string, Set<number>>;
}

const MAX_CLOSED_CONNECTIONS = 1000;

export class ControlLog {
  private readonly products = new Map<string, ProductLog>();
  private readonly conns = new Map<string, ConnectionJson>();
  private closedOrder: string[] = [];

  private product(product: string): ProductLog {
    let p = this.products.get(product);
    if (p === undefined) {
      p = {
        generated: new RangeSet(),
        first: null,
        last: null,
        delivered: new Map(),
        missed: new Map(),
        pending: new Map(),
      };
      this.products.set(product, p);
    }
    return p;
  }

  /** The market made a trade (before any connection saw it). */
  generated(product: string, tradeId: number): void {
    const p = this.product(product);
    p.generated.add(tradeId);
    p.first = p.first === null ? tradeId : Math.min(p.first, tradeId);
    p.last = p.last === null ? tradeId : Math.max(p.last, tradeId);
  }

  /** Handed to a connection's socket; the write callback will settle it. */
  sent(product: string, tradeId: number, conn: string): void {
    const p = this.product(product);
    let set = p.pending.get(conn);
    if (set === undefined) {
      set = new Set();
      p.pending.set(conn, set);
    }
    set.add(tradeId);
  }

  delivered(product: string, tradeId: number, conn: string): void {
    const p = this.product(product);
    this.unpend(p, tradeId, conn);
    let set = p.delivered.get(conn);
    if (set === undefined) {
      set = new RangeSet();
      p.delivered.set(conn, set);
    }
    set.add(tradeId);
  }

  missed(product: string, tradeId: number, conn: string | null, reason: MissReason): void {
    const p = this.product(product);
    if (conn !== null) this.unpend(p, tradeId, conn);
    const key = `${reason}\u0000${conn ?? ''}`;
    let entry = p.missed.get(key);
    if (entry === undefined) {
      entry = { reason, conn, ids: new RangeSet() };
      p.missed.set(key, entry);
    }
    entry.ids.add(tradeId);
  }

  private unpend(p: ProductLog, tradeId: number, conn: string): void {
    const set = p.pending.get(conn);
    if (set === undefined) return;
    set.delete(tradeId);
    if (set.size === 0) p.pending.delete(conn);
  }

  connectionOpened(conn: string, remote: string, openedAt: string): void {
    this.conns.set(conn, {
      remote,
      opened_at: openedAt,
      closed_at: null,
      close_reason: null,
      close_code: null,
      frames_sent: 0,
      bytes_sent: 0,
    });
  }

  connectionSent(conn: string, frames: number, bytes: number): void {
    const c = this.conns.get(conn);
    if (c === undefined) return;
    c.frames_sent += frames;
    c.bytes_sent += bytes;
  }

  connectionClosed(conn: string, closedAt: string, reason: string, code: number | null): void {
    const c = this.conns.get(conn);
    if (c === undefined || c.closed_at !== null) return;
    c.closed_at = closedAt;
    c.close_reason = reason;
    c.close_code = code;
    this.closedOrder.push(conn);
    if (this.closedOrder.length > MAX_CLOSED_CONNECTIONS * 2) {
      const drop = this.closedOrder.slice(0, this.closedOrder.length - MAX_CLOSED_CONNECTIONS);
      for (const id of drop) this.conns.delete(id);
      this.closedOrder = this.closedOrder.slice(-MAX_CLOSED_CONNECTIONS);
    }
  }

  toJSON(): ControlLogJson {
    const products: Record<string, ProductLogJson> = {};
    for (const [id, p] of this.products) {
      products[id] = {
        trades: {
          count: p.generated.size,
          first: p.first,
          last: p.last,
          ids: p.generated.ranges(),
        },
        delivered: Object.fromEntries([...p.delivered].map(([c, s]) => [c, s.ranges()])),
        missed: [...p.missed.values()].map((m) => ({
          reason: m.reason,
          conn: m.conn,
          trade_ids: m.ids.ranges(),
        })),
        pending: Object.fromEntries(
          [...p.pending].map(([c, s]) => [c, [...s].sort((a, b) => a - b)]),
        ),
      };
    }
    return {
      products,
      connections: Object.fromEntries([...this.conns].map(([k, v]) => [k, { ...v }])),
    };
  }
}

function inRanges(ranges: readonly Range[], id: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid];
    if (r === undefined) return false;
    if (id < r[0]) hi = mid - 1;
    else if (id > r[1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Generated trade ids that are neither delivered, missed nor pending: must be empty. */
export function unaccounted(p: ProductLogJson): number[] {
  const out: number[] = [];
  const delivered = Object.values(p.delivered);
  const pending = new Set(Object.values(p.pending).flat());
  for (const [a, b] of p.trades.ids) {
    for (let id = a; id <= b; id++) {
      if (pending.has(id)) continue;
      if (delivered.some((r) => inRanges(r, id))) continue;
      if (p.missed.some((m) => inRanges(m.trade_ids, id))) continue;
      out.push(id);
    }
  }
  return out;
}

/** Trade ids delivered on no connection at all, with every reason they were missed. */
export function undelivered(p: ProductLogJson): Map<number, MissReason[]> {
  const out = new Map<number, MissReason[]>();
  const delivered = Object.values(p.delivered);
  for (const m of p.missed) {
    for (const [a, b] of m.trade_ids) {
      for (let id = a; id <= b; id++) {
        if (delivered.some((r) => inRanges(r, id))) continue;
        const reasons = out.get(id) ?? [];
        if (!reasons.includes(m.reason)) reasons.push(m.reason);
        out.set(id, reasons);
      }
    }
  }
  return out;
}

/** The trade ids of one reason (optionally one connection), expanded. */
export function missedIds(p: ProductLogJson, reason: MissReason, conn?: string | null): number[] {
  const out: number[] = [];
  for (const m of p.missed) {
    if (m.reason !== reason || (conn !== undefined && m.conn !== conn)) continue;
    for (const [a, b] of m.trade_ids) for (let id = a; id <= b; id++) out.push(id);
  }
  return out.sort((a, b) => a - b);
}
