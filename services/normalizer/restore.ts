import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { z } from 'zod';
import { H } from '../common/schemas/headers.js';
import { NormalizedSchema } from '../common/schemas/normalized.js';
import { NORM_KINDS, normSubject } from '../common/subjects.js';
import type { ProductMarks } from './core/product-processor.js';
import { maxTradeId } from './core/sequencer.js';
import type { SerializedPublisher } from './serialized-publisher.js';

/**
 * Where a product's outputs left off, for a restarted normalizer (DESIGN.md "Restart"):
 * per subject the last message read from the stream leader (seq, Lf-Src, and the trade
 * id / ticker sequence high-water marks), merged with the KV checkpoint in LF_SEQ for
 * subjects whose last message aged out. Also primes the serialized publisher with each
 * subject's last stream sequence.
 */
export const CheckpointSchema = z.object({
  trade: z.object({ seq: z.number(), src: z.number(), hw: z.string().optional() }),
  ticker: z.object({ seq: z.number(), src: z.number(), sequence: z.string().optional() }),
  book: z.object({ seq: z.number(), src: z.number() }),
  status: z.object({ seq: z.number(), src: z.number() }),
});

export function checkpointKey(product: string): string {
  return `coinbase.${product}`;
}

export async function restoreMarks(
  jsm: JetStreamManager,
  kv: KV,
  product: string,
  publisher: SerializedPublisher,
): Promise<ProductMarks> {
  const marks: ProductMarks = {
    trade: { seq: 0, src: 0 },
    ticker: { seq: 0, src: 0 },
    book: { seq: 0, src: 0 },
    status: { seq: 0, src: 0 },
  };
  const entry = await kv.get(checkpointKey(product));
  if (entry !== null && entry.operation === 'PUT') {
    const cp = CheckpointSchema.safeParse(entry.json());
    if (cp.success) Object.assign(marks, structuredClone(cp.data));
  }
  for (const kind of NORM_KINDS) {
    const subject = normSubject('coinbase', product, kind);
    const last = await jsm.streams.getMessage('MD_NORM', { last_by_subj: subject });
    if (last === null) continue;
    publisher.restore(subject, last.seq);
    const parsed = NormalizedSchema.safeParse(last.json());
    const src = Number(last.header.get(H.src));
    const m = marks[kind];
    if (Number.isSafeInteger(src)) m.src = Math.max(m.src, src);
    if (!parsed.success) continue;
    const msg = parsed.data;
    m.seq = Math.max(m.seq, msg.seq);
    if (msg.type === 'trade') marks.trade.hw = maxTradeId(marks.trade.hw, msg.trade_id);
    if (msg.type === 'status' && msg.event === 'gap' && msg.to !== undefined)
      marks.trade.hw = maxTradeId(marks.trade.hw, msg.to);
    if (msg.type === 'ticker' && msg.sequence !== undefined)
      marks.ticker.sequence = maxTradeId(marks.ticker.sequence, msg.sequence);
  }
  return marks;
}
