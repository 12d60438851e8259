import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { configOrReport, loadConfig, natsServiceFields } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { connectFromConfig } from '../common/nats.js';
import { H } from '../common/schemas/headers.js';
import { parseRawSubject } from '../common/subjects.js';
import { STREAMS } from '../common/topology.js';

/**
 * `ledgerflux dlq list|show|replay`: inspect MD_DLQ and replay entries into MD_RAW.
 *
 * - list [--reason R] [--limit N]: one line per entry (seq, reason, source, error)
 * - show SEQ: headers and payload of one entry
 * - replay SEQ... | --reason R [--yes]: republish normalizer rejections (entries with
 *   Lf-Src-Subject) to their raw subject with their original headers and the msg id
 *   `replay:<dlq seq>` (so a replay is stored once). Without --yes it only says what it
 *   would do. Ingestor rejections (unparsable, too_large) have no raw subject: they are
 *   listed as not replayable.
 */
const DlqConfigSchema = z.object({ ...natsServiceFields });

interface Entry {
  seq: number;
  subject: string;
  headers: Record<string, string>;
  data: Uint8Array;
  time: Date;
}

const USAGE =
  'usage: ledgerflux dlq list [--reason R] [--limit N] | show SEQ | replay (SEQ... | --reason R) [--yes]\n';

export async function main(argv: string[]): Promise<number | undefined> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { reason: { type: 'string' }, limit: { type: 'string' }, yes: { type: 'boolean' } },
  });
  const [verb, ...rest] = positionals;
  if (verb !== 'list' && verb !== 'show' && verb !== 'replay') {
    process.stderr.write(USAGE);
    return 2;
  }
  const config = configOrReport('dlq', () => loadConfig(DlqConfigSchema, process.env));
  if (config === undefined) return 2;
  const log = createLogger('dlq', 'warn');
  const nc = await connectFromConfig(config, {
    name: 'ledgerflux-dlq',
    log,
    publishing: true,
  });
  try {
    const jsm = await jetstreamManager(nc);
    if (verb === 'show') {
      const seq = Number(rest[0]);
      const e = Number.isSafeInteger(seq) ? await entry(jsm, seq) : undefined;
      if (e === undefined) {
        process.stderr.write(`no MD_DLQ entry ${String(rest[0])}\n`);
        return 1;
      }
      process.stdout.write(
        `${JSON.stringify({ seq: e.seq, subject: e.subject, time: e.time.toISOString(), headers: e.headers }, null, 2)}\n${new TextDecoder().decode(e.data)}\n`,
      );
      return 0;
    }
    const limit = values.limit === undefined ? 1000 : Number(values.limit);
    const seqs = rest.map(Number).filter(Number.isSafeInteger);
    const entries =
      seqs.length > 0
        ? (await Promise.all(seqs.map((s) => entry(jsm, s)))).filter(
            (e): e is Entry => e !== undefined,
          )
        : await listEntries(nc, values.reason, limit);
    if (verb === 'list') {
      for (const e of entries) {
        process.stdout.write(
          `${String(e.seq)}\t${e.time.toISOString()}\t${e.headers[H.reason] ?? '?'}\t${e.headers[H.srcSubject] ?? '-'}#${e.headers[H.srcSeq] ?? '-'}\t${String(e.data.byteLength)}B\t${e.headers[H.error] ?? ''}\n`,
        );
      }
      process.stdout.write(`${String(entries.length)} entries\n`);
      return 0;
    }
    return await replay(nc, entries, values.yes === true);
  } finally {
    await nc.close();
  }
}

async function entry(jsm: JetStreamManager, seq: number): Promise<Entry | undefined> {
  const m = await jsm.streams.getMessage(STREAMS.dlq, { seq }).catch(() => null);
  if (m === null) return undefined;
  const headers: Record<string, string> = {};
  for (const [k, v] of m.header) headers[k] = v[0] ?? '';
  return { seq: m.seq, subject: m.subject, headers, data: m.data, time: m.time };
}

async function listEntries(
  nc: NatsConnection,
  reason: string | undefined,
  limit: number,
): Promise<Entry[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(STREAMS.dlq);
  const out: Entry[] = [];
  if (info.state.messages === 0) return out;
  const consumer = await jetstream(nc).consumers.get(STREAMS.dlq, {
    deliver_policy: DeliverPolicy.All,
    ...(reason === undefined ? {} : { filter_subjects: `md.dlq.*.${reason}` }),
  });
  while (out.length < limit) {
    const batch = await consumer.fetch({
      max_messages: Math.min(500, limit - out.length),
      expires: 1000,
    });
    let got = 0;
    for await (const m of batch) {
      got++;
      const headers: Record<string, string> = {};
      for (const [k, v] of m.headers ?? []) headers[k] = v[0] ?? '';
      out.push({
        seq: m.seq,
        subject: m.subject,
        headers,
        data: m.data,
        time: new Date(Math.floor(m.info.timestampNanos / 1e6)),
      });
      if (m.info.pending === 0) return out;
    }
    if (got === 0) break;
  }
  return out;
}

async function replay(nc: NatsConnection, entries: Entry[], yes: boolean): Promise<number> {
  const js = jetstream(nc);
  let replayed = 0;
  let skipped = 0;
  for (const e of entries) {
    const target = e.headers[H.srcSubject];
    if (target === undefined || parseRawSubject(target)?.kind !== 'product') {
      skipped++;
      process.stdout.write(
        `${String(e.seq)}\tnot replayable (${e.headers[H.reason] ?? '?'}: no raw subject)\n`,
      );
      continue;
    }
    if (!yes) {
      process.stdout.write(`${String(e.seq)}\twould replay to ${target}\n`);
      continue;
    }
    const h = natsHeaders();
    for (const name of [H.recvUs, H.connId, H.connSeq, H.type]) {
      const v = e.headers[name];
      if (v !== undefined) h.set(name, v);
    }
    const ack = await js.publish(target, e.data, { msgID: `replay:${String(e.seq)}`, headers: h });
    replayed++;
    process.stdout.write(
      `${String(e.seq)}\treplayed to ${target} as MD_RAW ${String(ack.seq)}${ack.duplicate ? ' (already replayed)' : ''}\n`,
    );
  }
  process.stdout.write(
    yes
      ? `${String(replayed)} replayed, ${String(skipped)} not replayable\n`
      : 'dry run: add --yes to replay\n',
  );
  return 0;
}
