import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { describeError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { NormalizedSchema, type Normalized } from '../../common/schemas/normalized.js';
import { normSubject, type NormKind } from '../../common/subjects.js';
import { STREAMS } from '../../common/topology.js';
import { RestError } from './errors.js';
import type { Current } from './schemas.js';

/**
 * Current state from MD_NORM: the last message of each of the product's subjects, by
 * direct get (`last_by_subj`; MD_NORM has allow_direct, and the gateway may call
 * `$JS.API.DIRECT.GET.MD_NORM.>`). A replica may lag the leader by a moment, which is
 * fine for "current"; the offsets say exactly what was read. Payloads are validated here
 * (a trust boundary, as in feed.ts).
 */

const dec = new TextDecoder();

type Read<K extends NormKind> = (Extract<Normalized, { type: K }> & { offset: number }) | null;

export class CurrentState {
  private jsm: Promise<JetStreamManager> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly timeoutMs = 3_000,
  ) {}

  async of(product: string, depth: number): Promise<Current> {
    const [ticker, book, trade, status] = await Promise.all([
      this.last(product, 'ticker'),
      this.last(product, 'book'),
      this.last(product, 'trade'),
      this.last(product, 'status'),
    ]);
    return {
      venue: 'coinbase',
      product,
      ticker,
      book:
        book === null
          ? null
          : { ...book, bids: book.bids.slice(0, depth), asks: book.asks.slice(0, depth) },
      last_trade: trade,
      status,
      offsets: {
        ticker: ticker?.offset ?? null,
        book: book?.offset ?? null,
        trade: trade?.offset ?? null,
        status: status?.offset ?? null,
      },
    };
  }

  private async last<K extends NormKind>(product: string, kind: K): Promise<Read<K>> {
    let sm;
    try {
      const jsm = await this.manager();
      sm = await jsm.direct.getMessage(STREAMS.norm, {
        last_by_subj: normSubject('coinbase', product, kind),
      });
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'direct get from MD_NORM failed');
      throw new RestError(503, 'UNAVAILABLE', 'current state (MD_NORM) is unavailable right now', {
        cause: err,
      });
    }
    if (sm === null) return null;
    let raw: unknown;
    try {
      raw = JSON.parse(dec.decode(sm.data));
    } catch {
      raw = undefined;
    }
    const parsed = NormalizedSchema.safeParse(raw);
    if (!parsed.success || parsed.data.type !== kind || parsed.data.product !== product) {
      this.log.warn({ seq: sm.seq, kind }, 'MD_NORM message failed its schema; not shown');
      return null;
    }
    return { ...(parsed.data as Extract<Normalized, { type: K }>), offset: sm.seq };
  }

  private manager(): Promise<JetStreamManager> {
    this.jsm ??= jetstreamManager(this.nc, { timeout: this.timeoutMs }).catch((err: unknown) => {
      this.jsm = undefined;
      throw err;
    });
    return this.jsm;
  }
}
