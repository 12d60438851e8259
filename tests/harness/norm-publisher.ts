import { JetStreamApiError, jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { H, nowUs } from '../../services/common/schemas/headers.js';
import {
  NORM_VERSION,
  type Book,
  type Normalized,
  type Status,
  type Ticker,
  type Trade,
} from '../../services/common/schemas/normalized.js';
import { normMsgId, normSubject } from '../../services/common/subjects.js';

/**
 * Publishes MD_NORM messages as the normalizer would (same subjects, msg ids, headers
 * Lf-Src / Lf-Pub-Us, contiguous `seq` per product and kind), for tests of readers such
 * as the gateway. Returns stream sequences (the gateway's offsets).
 */
export class NormPublisher {
  private readonly js: JetStreamClient;
  private readonly seqs = new Map<string, number>();
  private src = 0;
  private nextTradeId = new Map<string, number>();

  constructor(nc: NatsConnection) {
    this.js = jetstream(nc);
  }

  trade(product: string, opts: { tradeId?: number; price?: string; size?: string } = {}): Trade {
    const id = opts.tradeId ?? this.nextTradeId.get(product) ?? 1000;
    this.nextTradeId.set(product, id + 1);
    return {
      ...this.common(product, 'trade'),
      type: 'trade',
      trade_id: String(id),
      price: opts.price ?? '100.50',
      size: opts.size ?? '0.01',
      side: id % 2 === 0 ? 'buy' : 'sell',
    };
  }

  ticker(product: string, price = '100.50'): Ticker {
    return {
      ...this.common(product, 'ticker'),
      type: 'ticker',
      price,
      best_bid: '100.00',
      best_ask: '101.00',
    };
  }

  book(product: string, levels = 5): Book {
    const side = (base: number, step: number): [string, string][] =>
      Array.from({ length: levels }, (_, i) => [(base + i * step).toFixed(2), '1.5']);
    return {
      ...this.common(product, 'book'),
      type: 'book',
      bids: side(100, -0.01),
      asks: side(101, 0.01),
    };
  }

  status(
    product: string,
    event: Status['event'],
    reason: string,
    from?: number,
    to?: number,
  ): Status {
    const out: Status = { ...this.common(product, 'status'), type: 'status', event, reason };
    if (from !== undefined) out.from = String(from);
    if (to !== undefined) out.to = String(to);
    return out;
  }

  /** Publishes one message and resolves with its stream sequence. */
  async publish(msg: Normalized): Promise<number> {
    const src = ++this.src;
    const h = natsHeaders();
    h.set(H.src, String(src));
    h.set(H.pubUs, String(nowUs()));
    // A loaded machine can time a PubAck out: the same msg id again is deduplicated
    // (the original's sequence comes back), so retrying is exactly-once.
    for (let attempt = 1; ; attempt++) {
      try {
        const ack = await this.js.publish(
          normSubject('coinbase', msg.product, msg.type),
          JSON.stringify(msg),
          { msgID: msgId(msg, src), headers: h },
        );
        return ack.seq;
      } catch (err) {
        if (err instanceof JetStreamApiError || attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  /** Publishes in order with up to `window` PubAcks outstanding; resolves with the seqs. */
  async publishAll(msgs: readonly Normalized[], window = 256): Promise<number[]> {
    const out: number[] = new Array<number>(msgs.length);
    let next = 0;
    const worker = async () => {
      while (next < msgs.length) {
        const i = next++;
        const m = msgs[i];
        if (m !== undefined) out[i] = await this.publish(m);
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, msgs.length) }, worker));
    return out;
  }

  private common(product: string, kind: Normalized['type']) {
    const key = `${product}.${kind}`;
    const seq = (this.seqs.get(key) ?? 0) + 1;
    this.seqs.set(key, seq);
    return {
      v: NORM_VERSION as 1,
      venue: 'coinbase' as const,
      product,
      seq,
      time: new Date().toISOString(),
      recv_us: nowUs(),
      flags: [] as Trade['flags'],
    };
  }
}

function msgId(msg: Normalized, src: number): string {
  if (msg.type === 'trade') return normMsgId.trade('coinbase', msg.product, msg.trade_id);
  if (msg.type === 'status' && msg.event === 'gap') {
    return normMsgId.gap('coinbase', msg.product, msg.from ?? '', msg.to ?? '');
  }
  return normMsgId.output('coinbase', msg.product, msg.type, src, 0);
}
