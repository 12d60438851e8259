import { describeError } from '../common/errors.js';
import type { FeedMessage } from './core/product-state.js';
import type { Feed, HistoryPool } from './feed.js';
import type { Hub } from './hub.js';
import type { GatewayMetrics } from './metrics.js';
import type { ProductSub, Session } from './session.js';

/**
 * A resume (`from`): replays exactly the product's messages after the offset, paced by
 * the client's buffer, then turns the subscription live. While it runs, live fan-out
 * skips the subscription and the ring keeps what arrives; the switch to live happens in
 * the same synchronous step that finds the ring empty after the cursor, so nothing is
 * missed or sent twice. Offsets older than the ring come from a short-lived ordered
 * consumer (at most RESUME_MAX_CONCURRENT per process, the rest wait); an offset older
 * than the stream gets OFFSET_EXPIRED and a snapshot.
 */

export interface ResumeDeps {
  hub: Hub;
  feed: Pick<Feed, 'readHistory' | 'streamBounds'>;
  pool: HistoryPool;
  metrics: GatewayMetrics;
  /** Messages moved per step while the client has room. */
  batch?: number;
}

export function startResume(deps: ResumeDeps, s: Session, sub: ProductSub): void {
  catchUp(deps, s, sub).catch((err: unknown) => {
    if (sub.abort.signal.aborted) return;
    s.log.warn({ product: sub.product, err: describeError(err) }, 'resume failed');
    deps.hub.expire(s, sub, 'the offset could not be read; sending a snapshot');
  });
}

async function catchUp(deps: ResumeDeps, s: Session, sub: ProductSub): Promise<void> {
  const { hub } = deps;
  const signal = sub.abort.signal;
  // A function, not the property: the signal changes while this awaits.
  const aborted = () => signal.aborted;
  const batch = deps.batch ?? 512;
  const ring = hub.state(sub.product)?.ring;
  if (ring === undefined) return;

  if (sub.cursor > hub.head) {
    // Ahead of this gateway (another replica served it, or this one restarted and is
    // catching up): fine if the stream has it.
    const { last } = await deps.feed.streamBounds();
    if (aborted()) return;
    if (sub.cursor > Math.max(last, hub.head)) {
      hub.expire(s, sub, 'offset is beyond the end of the stream; sending a snapshot');
      return;
    }
    // Still ahead: everything after the cursor reaches this gateway later, live. If the
    // feed passed the cursor while the bounds were read, what it read meanwhile went to
    // the ring only (live fan-out skips a catching-up subscription): replay it below.
    if (sub.cursor >= hub.head) {
      deps.metrics.resumes.labels('ring').inc();
      sub.mode = 'live';
      return;
    }
  }
  deps.metrics.resumes.labels(ring.covers(sub.cursor) ? 'ring' : 'history').inc();

  for (let stalled = 0; ;) {
    await s.room();
    if (aborted()) return;
    const items = ring.after(sub.cursor, batch);
    if (items !== undefined) {
      if (items.length === 0) {
        sub.mode = 'live';
        return;
      }
      for (const m of items) {
        s.enqueue(sub, m);
        if (!s.hasRoom()) break;
      }
      continue;
    }
    const { first, last } = await deps.feed.streamBounds();
    if (aborted()) return;
    if (sub.cursor + 1 < first || stalled >= 2) {
      hub.expire(s, sub, 'offset no longer held by the stream; sending a snapshot');
      return;
    }
    const before = sub.cursor;
    const outcome = await fromHistory(deps, s, sub, (m) => {
      s.enqueue(sub, m);
      return ring.covers(sub.cursor);
    });
    // The stream has nothing more of the product up to `last`: the ring has the rest.
    if (outcome === 'exhausted' && !ring.covers(sub.cursor) && ring.floor <= last) {
      sub.cursor = ring.floor;
    }
    stalled = sub.cursor === before ? stalled + 1 : 0;
  }
}

/** Reads history until `take` says the ring covers the rest, or the stream has no more. */
async function fromHistory(
  deps: ResumeDeps,
  s: Session,
  sub: ProductSub,
  take: (m: FeedMessage) => boolean,
): Promise<'covered' | 'exhausted' | 'aborted'> {
  const signal = sub.abort.signal;
  const release = await deps.pool.acquire(signal);
  if (release === undefined) return 'aborted';
  try {
    for await (const m of deps.feed.readHistory(sub.product, sub.cursor, signal)) {
      if (take(m)) return 'covered';
      await s.room();
      if (signal.aborted) return 'aborted';
    }
    return signal.aborted ? 'aborted' : 'exhausted';
  } finally {
    release();
  }
}
