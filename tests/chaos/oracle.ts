import type {
  ControlLogJson,
  MissReason,
  ProductLogJson,
} from '../../services/sim/core/control-log.js';

/**
 * The end-to-end oracle of DESIGN.md against the simulator's /control/log, for runs in
 * which services, NATS nodes and the ingestor itself die:
 *
 * - every trade stored (PostgreSQL) or delivered (a WebSocket client) was generated, once,
 *   in trade-id order;
 * - every trade the simulator wrote to a socket that no killed ingestor owned is stored;
 * - between the first and the last stored trade, every other id is announced as a gap;
 * - every announced gap id was missed by the simulator (a `missed` record and no delivery)
 *   or delivered only on a connection whose ingestor was killed.
 *
 * Gaps are classified by the log's own `missed` records, never by guessing from what the
 * run did: an id missed because a feed connection closed is a `closed` gap even when the
 * close came from a NATS failover rather than a kill.
 */

export interface ProductObservation {
  /** Trade ids in the order a client received them. */
  client: readonly string[];
  /** PostgreSQL's trades, ordered by trade id, with their MD_NORM offsets. */
  db: readonly { trade_id: string; norm_offset: number }[];
  /** Gap ids announced to the client (`upstream_drop`), expanded. */
  clientGaps: readonly number[];
  /** Gap ids in PostgreSQL's gaps table, expanded. */
  dbGaps: readonly number[];
}

export type GapCause = MissReason | 'killed_ingestor';

export interface ProductVerdict {
  product: string;
  generated: number;
  stored: number;
  /** Announced gap ids per cause, from the simulator's records. */
  gapsByCause: Partial<Record<GapCause, number>>;
  announced: number;
  /** Ids the simulator dropped on purpose (fault_drop) within the stored range. */
  drops: number;
  violations: string[];
  /** Trade ids named by the violations (lost, silent, wrongly announced), for explaining. */
  suspects: number[];
}

function expand(ranges: readonly (readonly [number, number])[]): Set<number> {
  const out = new Set<number>();
  for (const [a, b] of ranges) for (let id = a; id <= b; id++) out.add(id);
  return out;
}

function sample(ids: Iterable<number | string>, n = 12): string {
  const all = [...ids];
  const head = all.slice(0, n).join(',');
  return all.length > n ? `${head},… (${String(all.length)})` : head;
}

function checkOrder(what: string, ids: readonly string[], v: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    const a = Number(ids[i - 1]);
    const b = Number(ids[i]);
    if (b <= a) {
      v.push(`${what}: trade ${String(b)} after ${String(a)} at position ${String(i)}`);
      return;
    }
  }
}

export function judgeProduct(
  product: string,
  log: ProductLogJson | undefined,
  obs: ProductObservation,
  killedConns: ReadonlySet<string>,
): ProductVerdict {
  const v: string[] = [];
  const generated = expand(log?.trades.ids ?? []);
  const deliveredOn = new Map<number, string[]>();
  for (const [conn, ranges] of Object.entries(log?.delivered ?? {})) {
    for (const id of expand(ranges)) {
      const list = deliveredOn.get(id) ?? [];
      list.push(conn);
      deliveredOn.set(id, list);
    }
  }
  const missedWhy = new Map<number, MissReason>();
  for (const m of log?.missed ?? []) {
    for (const id of expand(m.trade_ids)) if (!deliveredOn.has(id)) missedWhy.set(id, m.reason);
  }
  const onlyKilled = (id: number) => {
    const conns = deliveredOn.get(id);
    return conns !== undefined && conns.every((c) => killedConns.has(c));
  };

  checkOrder(`${product} client`, obs.client, v);
  const clientSet = new Set(obs.client.map(Number));
  const dbIds = obs.db.map((r) => Number(r.trade_id));
  const dbSet = new Set(dbIds);
  for (let i = 1; i < obs.db.length; i++) {
    const a = obs.db[i - 1];
    const b = obs.db[i];
    if (a !== undefined && b !== undefined && b.norm_offset <= a.norm_offset) {
      v.push(`${product} PostgreSQL: trade ${b.trade_id} stored before ${a.trade_id}`);
      break;
    }
  }
  const onlyClient = [...clientSet].filter((id) => !dbSet.has(id));
  const onlyDb = dbIds.filter((id) => !clientSet.has(id));
  if (onlyClient.length > 0 || onlyDb.length > 0)
    v.push(
      `${product}: client and PostgreSQL differ: only client [${sample(onlyClient)}], only PostgreSQL [${sample(onlyDb)}]`,
    );
  const notGenerated = dbIds.filter((id) => !generated.has(id));
  if (notGenerated.length > 0)
    v.push(`${product}: stored trades the simulator never made [${sample(notGenerated)}]`);

  const first = dbIds[0];
  const last = dbIds.at(-1);
  const announced = new Set(obs.clientGaps);
  const dbGaps = new Set(obs.dbGaps);
  const gapDiff = [...announced].filter((id) => !dbGaps.has(id));
  const dbGapDiff = [...dbGaps].filter((id) => !announced.has(id));
  if (gapDiff.length > 0 || dbGapDiff.length > 0)
    v.push(
      `${product}: gaps differ: only client [${sample(gapDiff)}], only PostgreSQL [${sample(dbGapDiff)}]`,
    );
  const gapsByCause: Partial<Record<GapCause, number>> = {};
  const suspects = new Set<number>();
  let drops = 0;
  if (first !== undefined && last !== undefined) {
    const lost: number[] = [];
    const silent: number[] = [];
    for (let id = first; id <= last; id++) {
      const stored = dbSet.has(id);
      const gap = announced.has(id);
      if (missedWhy.get(id) === 'fault_drop') drops++;
      if (stored && gap)
        v.push(`${product}: trade ${String(id)} both stored and announced as a gap`);
      if (!generated.has(id)) continue;
      if (!stored && !gap) silent.push(id);
      if (!stored && deliveredOn.has(id) && !onlyKilled(id)) lost.push(id);
      if (gap) {
        const why = missedWhy.get(id) ?? (onlyKilled(id) ? 'killed_ingestor' : undefined);
        if (why === undefined) {
          v.push(`${product}: gap ${String(id)} announced for a delivered trade`);
          suspects.add(id);
        } else gapsByCause[why] = (gapsByCause[why] ?? 0) + 1;
      }
    }
    if (silent.length > 0)
      v.push(`${product}: trades neither stored nor announced [${sample(silent)}]`);
    if (lost.length > 0)
      v.push(`${product}: trades delivered by the simulator but not stored [${sample(lost)}]`);
    for (const id of [...silent, ...lost].slice(0, 20)) suspects.add(id);
  }
  return {
    product,
    generated: generated.size,
    stored: dbSet.size,
    gapsByCause,
    announced: [...announced].filter(
      (id) => first !== undefined && last !== undefined && id >= first && id <= last,
    ).length,
    drops,
    violations: v,
    suspects: [...suspects].sort((a, b) => a - b).slice(0, 20),
  };
}

export function judge(
  log: ControlLogJson,
  observations: ReadonlyMap<string, ProductObservation>,
  killedConns: ReadonlySet<string> = new Set(),
): ProductVerdict[] {
  return [...observations].map(([product, obs]) =>
    judgeProduct(product, log.products[product], obs, killedConns),
  );
}

/** Connections of the simulator open right now: an ingestor killed next owned them. */
export function openConnections(log: ControlLogJson): string[] {
  return Object.entries(log.connections)
    .filter(([, c]) => c.closed_at === null)
    .map(([id]) => id);
}
