import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import {
  JetStreamApiError,
  jetstream,
  type JetStreamClient,
  type PubAck,
} from '@nats-io/jetstream';
import { describeError } from './errors.js';
import type { Logger } from './logger.js';
import { sleep } from './lifecycle.js';

/**
 * A JetStream publisher with a bounded window of in-flight publishes and the failure
 * rule of docs/architecture.md:
 *
 * - per subject, stored order = publish order;
 * - on a failure (timeout, disconnect, no responders) it stops sending, lets the window
 *   settle, then per subject: when no later publish was stored, the failed ones are
 *   republished in order with the same msg ids (a timed-out publish that was in fact
 *   stored answers `duplicate`), retrying with backoff up to `retryHorizonMs`: nothing lost;
 * - only when a later publish on the subject was stored ahead of a failed one, or the
 *   retry horizon passes, is the caller told of a discontinuity (outcome `lost` and
 *   `onDiscontinuity`).
 *
 * Errors the server returns for the message itself (wrong expected sequence, too large,
 * ...) are not retried: the outcome is `rejected` with the API error code.
 */

export interface PublishRequest {
  subject: string;
  payload: Uint8Array;
  msgId: string;
  headers?: Readonly<Record<string, string>>;
  /** `Nats-Expected-Last-Subject-Sequence`; 0 means the subject must be empty. */
  expectLastSubjectSeq?: number;
}

export type PublishOutcome =
  | { kind: 'stored'; seq: number; duplicate: boolean; retried: boolean }
  | { kind: 'rejected'; code: number; error: string }
  | { kind: 'lost'; reason: 'out_of_order' | 'retry_horizon' | 'closed'; error: string };

type LostReason = Extract<PublishOutcome, { kind: 'lost' }>['reason'];

export interface Discontinuity {
  subject: string;
  reason: 'out_of_order' | 'retry_horizon' | 'closed' | 'reordered_on_retry';
  /** The publishes that were not stored (empty for `reordered_on_retry`). */
  lost: PublishRequest[];
}

export interface PublisherMetrics {
  settled?(outcome: PublishOutcome['kind'], latencySeconds: number, duplicate: boolean): void;
  failed?(): void;
  recovery?(subjects: number, republished: number): void;
}

export interface PublisherOptions {
  /** Maximum publishes awaiting their PubAck. */
  window: number;
  /** PubAck timeout per publish. */
  timeoutMs?: number;
  /** How long failed publishes are retried before they count as lost (at least 30 s). */
  retryHorizonMs?: number;
  log: Logger;
  onDiscontinuity?: (d: Discontinuity) => void;
  metrics?: PublisherMetrics;
}

interface Entry {
  index: number;
  req: PublishRequest;
  sentAt: number;
  resolve: (o: PublishOutcome) => void;
  error?: unknown;
}

type State = 'open' | 'recovering' | 'closed';

/** `rejected.code` when the NATS client refused to build the publish (no server answer). */
export const CLIENT_REFUSED = 0;

export class Publisher {
  private readonly js: JetStreamClient;
  private readonly queue: Entry[] = [];
  private readonly inflight = new Set<Entry>();
  private readonly failed: Entry[] = [];
  /** Highest publish index known stored, per subject (for the ordering check). */
  private readonly lastStored = new Map<string, { index: number; seq: number }>();
  private readonly roomWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private nextIndex = 0;
  private state: State = 'open';
  private connected = true;
  private recovering = false;
  private readonly abort = new AbortController();
  private readonly timeoutMs: number;
  private readonly retryHorizonMs: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: PublisherOptions,
  ) {
    this.js = jetstream(nc, { timeout: opts.timeoutMs ?? 5_000 });
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.retryHorizonMs = Math.max(opts.retryHorizonMs ?? 60_000, 1);
    this.watchConnection();
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** True while a new publish would be sent at once. */
  hasRoom(): boolean {
    return (
      this.state === 'open' && this.queue.length === 0 && this.inflight.size < this.opts.window
    );
  }

  /** Resolves when a publish would be sent at once (backpressure for readers). */
  async waitForRoom(): Promise<void> {
    while (!this.hasRoom()) {
      if (this.state === 'closed') return;
      await new Promise<void>((r) => this.roomWaiters.push(r));
    }
  }

  /** Resolves when nothing is queued, in flight or being recovered. */
  async flush(): Promise<void> {
    while (
      this.queue.length > 0 ||
      this.inflight.size > 0 ||
      this.recovering ||
      this.state === 'recovering'
    ) {
      if (this.state === 'closed') return;
      await new Promise<void>((r) => this.idleWaiters.push(r));
    }
  }

  /**
   * Queues a publish; it is sent as soon as the window allows. The promise resolves
   * (never rejects) with the final outcome, after any recovery.
   */
  publish(req: PublishRequest): Promise<PublishOutcome> {
    if (this.state === 'closed') {
      return Promise.resolve({ kind: 'lost', reason: 'closed', error: 'publisher closed' });
    }
    return new Promise((resolve) => {
      this.queue.push({ index: this.nextIndex++, req, sentAt: 0, resolve });
      this.pump();
    });
  }

  /** Sends what is queued, waits for the window and any recovery, then stops. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    await this.flush();
    this.state = 'closed';
    this.abort.abort();
    for (const e of this.queue.splice(0)) {
      e.resolve({ kind: 'lost', reason: 'closed', error: 'publisher closed' });
    }
    this.wake();
  }

  private watchConnection(): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect') {
          this.connected = false;
          // Stop sending at once: what is handed to a dead connection is lost, and the
          // client may flush later publishes after the reconnect, ahead of the lost ones.
          if (this.state === 'open') this.state = 'recovering';
        } else if (s.type === 'reconnect') {
          this.connected = true;
          this.maybeRecover();
        }
      }
    })();
  }

  private pump(): void {
    while (
      this.state === 'open' &&
      this.connected &&
      this.queue.length > 0 &&
      this.inflight.size < this.opts.window
    ) {
      const e = this.queue.shift();
      if (e === undefined) break;
      this.send(e);
    }
    this.wake();
  }

  private send(e: Entry): void {
    e.sentAt = performance.now();
    let options: ReturnType<Publisher['publishOptions']>;
    try {
      options = this.publishOptions(e.req);
    } catch (err) {
      // The client refuses the request itself (e.g. a header value with a line break):
      // final, like a server rejection. Thrown out of pump() it would leak a window slot
      // and reject the caller's promise, which resolves by contract.
      this.finish(e, { kind: 'rejected', code: CLIENT_REFUSED, error: describeError(err) });
      return;
    }
    this.inflight.add(e);
    this.js.publish(e.req.subject, e.req.payload, options).then(
      (ack) => {
        this.inflight.delete(e);
        this.onStored(e, ack, false);
        this.afterSettle();
      },
      (err: unknown) => {
        this.inflight.delete(e);
        if (isFinalRejection(err)) {
          this.finish(e, { kind: 'rejected', code: err.code, error: describeError(err) });
        } else {
          e.error = err;
          this.failed.push(e);
          this.opts.metrics?.failed?.();
          if (this.state === 'open') this.state = 'recovering';
        }
        this.afterSettle();
      },
    );
  }

  private publishOptions(req: PublishRequest) {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(req.headers ?? {})) h.set(k, v);
    return {
      msgID: req.msgId,
      headers: h,
      timeout: this.timeoutMs,
      ...(req.expectLastSubjectSeq === undefined
        ? {}
        : { expect: { lastSubjectSequence: req.expectLastSubjectSeq } }),
    };
  }

  private onStored(e: Entry, ack: PubAck, retried: boolean): void {
    const prev = this.lastStored.get(e.req.subject);
    if (prev === undefined || prev.index < e.index) {
      this.lastStored.set(e.req.subject, { index: e.index, seq: ack.seq });
    }
    this.finish(e, { kind: 'stored', seq: ack.seq, duplicate: ack.duplicate, retried });
  }

  private finish(e: Entry, outcome: PublishOutcome): void {
    this.opts.metrics?.settled?.(
      outcome.kind,
      (performance.now() - e.sentAt) / 1000,
      outcome.kind === 'stored' && outcome.duplicate,
    );
    e.resolve(outcome);
  }

  private afterSettle(): void {
    if (this.state === 'open') this.pump();
    else this.maybeRecover();
  }

  private maybeRecover(): void {
    if (this.state !== 'recovering' || this.recovering || this.inflight.size > 0) return;
    this.recovering = true;
    void this.recover()
      .catch((err: unknown) => {
        this.opts.log.error({ err: describeError(err) }, 'publisher recovery failed');
      })
      .finally(() => {
        this.recovering = false;
        if (this.state === 'recovering') this.state = 'open';
        this.pump();
      });
  }

  /** Runs once the window has settled: every in-flight publish is stored, rejected or failed. */
  private async recover(): Promise<void> {
    const failed = this.failed.splice(0).sort((a, b) => a.index - b.index);
    if (!this.connected) await this.waitConnected(this.retryHorizonMs);
    if (failed.length === 0) return;
    const started = Date.now();
    const bySubject = new Map<string, Entry[]>();
    for (const e of failed) {
      const list = bySubject.get(e.req.subject) ?? [];
      list.push(e);
      bySubject.set(e.req.subject, list);
    }
    let republished = 0;
    for (const [subject, entries] of bySubject) {
      const first = entries[0];
      const stored = this.lastStored.get(subject);
      if (first !== undefined && stored !== undefined && stored.index > first.index) {
        this.lose(
          subject,
          entries,
          'out_of_order',
          'a later publish on the subject was stored first',
        );
        continue;
      }
      let prevSeq = stored?.seq ?? 0;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i] as Entry;
        const ack = await this.republish(e, started);
        if (ack === undefined) {
          this.lose(
            subject,
            entries.slice(i),
            this.state === 'closed' ? 'closed' : 'retry_horizon',
            describeError(e.error),
          );
          break;
        }
        republished++;
        if (ack.seq < prevSeq) {
          // A timed-out publish was in fact stored, after one we republished: the stored
          // order is already wrong. Say so rather than hide it.
          this.opts.onDiscontinuity?.({ subject, reason: 'reordered_on_retry', lost: [] });
        }
        prevSeq = Math.max(prevSeq, ack.seq);
        this.onStored(e, ack, true);
      }
    }
    this.opts.metrics?.recovery?.(bySubject.size, republished);
    this.opts.log.info(
      { subjects: bySubject.size, republished, failed: failed.length },
      'publisher recovered',
    );
  }

  private async republish(e: Entry, started: number): Promise<PubAck | undefined> {
    for (let attempt = 0; ; attempt++) {
      if (this.state === 'closed' || this.abort.signal.aborted) return undefined;
      if (!this.connected) await this.waitConnected(this.retryHorizonMs - (Date.now() - started));
      if (this.connected) {
        try {
          e.sentAt = performance.now();
          return await this.js.publish(e.req.subject, e.req.payload, this.publishOptions(e.req));
        } catch (err) {
          if (isFinalRejection(err)) {
            e.error = err;
            return undefined;
          }
          e.error = err;
        }
      }
      if (Date.now() - started >= this.retryHorizonMs) return undefined;
      await sleep(Math.min(250 * 2 ** attempt, 2_000), this.abort.signal);
    }
  }

  private lose(subject: string, entries: Entry[], reason: LostReason, error: string): void {
    this.opts.log.warn({ subject, lost: entries.length, reason }, 'publish discontinuity');
    for (const e of entries) this.finish(e, { kind: 'lost', reason, error });
    this.opts.onDiscontinuity?.({ subject, reason, lost: entries.map((e) => e.req) });
  }

  private async waitConnected(maxMs: number): Promise<void> {
    const deadline = Date.now() + Math.max(maxMs, 0);
    while (!this.connected && Date.now() < deadline && !this.abort.signal.aborted) {
      await sleep(50, this.abort.signal);
    }
  }

  private wake(): void {
    if (this.hasRoom() || this.state === 'closed') {
      for (const w of this.roomWaiters.splice(0)) w();
    }
    const idle =
      this.queue.length === 0 &&
      this.inflight.size === 0 &&
      !this.recovering &&
      this.state !== 'recovering';
    if (idle || this.state === 'closed') {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}

/** Server answers about the message itself: retrying the same publish cannot help. */
function isFinalRejection(err: unknown): err is JetStreamApiError {
  return err instanceof JetStreamApiError && err.code !== 503;
}
