import { readFile } from 'node:fs/promises';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { ProductLogJson } from '../../services/sim/core/control-log.js';
import type { RigService } from './rig.js';

/**
 * For a failed chaos run: what happened to the trade ids the oracle complains about, read
 * from the streams themselves (the services' logs of a killed incarnation say little), and
 * how often the services logged the events that lose or announce trades. The run's data is
 * gone once the rig stops, so this is printed before.
 */

interface RawFrameInfo {
  seq: number;
  type: string;
  conn: string;
}

const dec = new TextDecoder();

/** Every stored message of one filter, through an ordered consumer (no 30 s limit). */
async function scan(
  nc: NatsConnection,
  stream: string,
  filter: string,
  visit: (seq: number, headers: Map<string, string>, text: string) => void,
  timeoutMs = 120_000,
): Promise<void> {
  const consumer = await jetstream(nc).consumers.get(stream, {
    deliver_policy: DeliverPolicy.All,
    filter_subjects: filter,
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const batch = await consumer.fetch({ max_messages: 5_000, expires: 2_000 });
    let n = 0;
    for await (const m of batch) {
      n++;
      const h = new Map<string, string>();
      for (const [k, v] of m.headers ?? []) h.set(k, v[0] ?? '');
      visit(m.seq, h, dec.decode(m.data));
      if (m.info.pending === 0) return;
    }
    if (n === 0) return;
  }
}

/** One line per suspicious id: where the simulator sent it, MD_RAW's copies, MD_NORM's verdict. */
export async function explainIds(
  nc: NatsConnection,
  product: string,
  ids: readonly number[],
  log: ProductLogJson | undefined,
  killedConns: ReadonlySet<string>,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const want = new Set(ids);
  const raw = new Map<number, RawFrameInfo[]>();
  const rawBySeq = new Map<number, RawFrameInfo>();
  const neededSrc = new Set<number>();
  const gaps: { from: number; to: number; src: number; seq: number }[] = [];
  const stored = new Set<number>();
  await scan(nc, 'MD_NORM', `md.norm.coinbase.${product}.*`, (seq, h, text) => {
    const m = JSON.parse(text) as {
      type: string;
      event?: string;
      from?: string;
      to?: string;
      trade_id?: string;
    };
    if (m.type === 'trade' && m.trade_id !== undefined && want.has(Number(m.trade_id)))
      stored.add(Number(m.trade_id));
    if (m.type === 'status' && m.event === 'gap') {
      const from = Number(m.from);
      const to = Number(m.to);
      if (ids.some((id) => id >= from && id <= to)) {
        const src = Number(h.get('Lf-Src'));
        gaps.push({ from, to, src, seq });
        neededSrc.add(src);
      }
    }
  });
  await scan(nc, 'MD_RAW', `md.raw.*.*.${product}`, (seq, h, text) => {
    const info = {
      seq,
      type: h.get('Lf-Type') ?? '?',
      conn: (h.get('Lf-Conn-Id') ?? '?').slice(0, 8),
    };
    if (neededSrc.has(seq)) rawBySeq.set(seq, info);
    const m = /"trade_id":"?([0-9]+)/.exec(text);
    if (
      m?.[1] !== undefined &&
      want.has(Number(m[1])) &&
      (info.type === 'match' || info.type === 'last_match')
    ) {
      const list = raw.get(Number(m[1])) ?? [];
      list.push(info);
      raw.set(Number(m[1]), list);
    }
  });
  const lines: string[] = [];
  for (const id of ids) {
    const deliveredOn = Object.entries(log?.delivered ?? {})
      .filter(([, ranges]) => ranges.some(([a, b]) => id >= a && id <= b))
      .map(([c]) => `${c.slice(0, 8)}${killedConns.has(c) ? ' (killed ingestor)' : ''}`);
    const missed = (log?.missed ?? [])
      .filter((m) => m.trade_ids.some(([a, b]) => id >= a && id <= b))
      .map((m) => `${m.reason}${m.conn === null ? '' : ` on ${m.conn.slice(0, 8)}`}`);
    const copies = (raw.get(id) ?? []).map((f) => `seq ${String(f.seq)} conn ${f.conn}`);
    const gapText = gaps
      .filter((g) => id >= g.from && id <= g.to)
      .map((g) => {
        const cause = rawBySeq.get(g.src);
        return `gap ${String(g.from)}-${String(g.to)} (MD_NORM seq ${String(g.seq)}, Lf-Src ${String(g.src)}: ${cause === undefined ? 'not this product' : `${cause.type} on conn ${cause.conn}`})`;
      });
    lines.push(
      `  ${product} ${String(id)}: sim delivered on [${deliveredOn.join(', ')}] missed [${missed.join(', ')}]; MD_RAW [${copies.join('; ')}]; MD_NORM ${stored.has(id) ? 'trade stored' : 'no trade'}${gapText.length > 0 ? `, ${gapText.join(', ')}` : ', no gap'}`,
    );
  }
  return lines;
}

const EVENTS: readonly { service: RegExp; text: string }[] = [
  { service: /^ingestor$/, text: 'raw stream discontinuity: resubscribing' },
  { service: /^ingestor$/, text: 'publish discontinuity' },
  { service: /^ingestor$/, text: 'feed stale' },
  { service: /^normalizer/, text: 'normalizer shard failed' },
  { service: /^normalizer/, text: 'restarting the shard from its ack floor' },
];

/** How many times each incarnation of each service logged the events that cost trades. */
export async function eventCounts(services: Iterable<RigService>): Promise<string[]> {
  const lines: string[] = [];
  for (const s of services) {
    for (const e of EVENTS) {
      if (!e.service.test(s.name)) continue;
      let n = 0;
      const reasons = new Map<string, number>();
      for (const f of s.logFiles()) {
        const text = await readFile(f, 'utf8').catch(() => '');
        for (const line of text.split('\n')) {
          if (!line.includes(`"msg":"${e.text}"`)) continue;
          n++;
          const r = /"reason":"([^"]+)"|"secondWriter":(true)/.exec(line);
          const key = r?.[1] ?? (r?.[2] === 'true' ? 'second_writer' : '');
          if (key !== '') reasons.set(key, (reasons.get(key) ?? 0) + 1);
        }
      }
      if (n > 0)
        lines.push(
          `  ${s.name}: ${e.text} ×${String(n)}${reasons.size > 0 ? ` ${JSON.stringify(Object.fromEntries(reasons))}` : ''}`,
        );
    }
  }
  return lines;
}
