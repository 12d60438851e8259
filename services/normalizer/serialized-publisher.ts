import {
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, LedgerFluxError, describeError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { sleep } from '../common/lifecycle.js';
import { SendBatch } from '../common/send-batch.js';

/**
 * Publishes to MD_NORM serialized per subject with `expect.lastSubjectSequence`
 * (DESIGN.md "Normalized messages"): the stored order per subject is the publish order,
 * and a second writer on a subject is detected instead of interleaved.
 *
 * - error 10071 (wrong last sequence): the subject's last message is read from the
 *   stream leader (STREAM.MSG.GET, never direct get, whose replicas may lag); our msg id
 *   there means the publish was stored (a PubAck lost in a leader change); an empty
 *   subject means retry expecting 0; anything else is a second writer: fatal.
 * - timeouts, connection errors and JetStream's 503 (no responders while a leader is
 *   elected), on the publish and on that read: retried with backoff, same msg id and
 *   expectation, until stopped. Nothing behind it on the subject moves meanwhile.
 * - publishes sharing a chain key run one after the other even across subjects: a gap
 *   announcement (status subject) is stored before the trades that follow it. A publish
 *   waits for the previous one on its subject AND on its chain: a gap and another status
 *   message are never in flight together on the status subject (both expecting the same
 *   last sequence, one got 10071 and was taken for a second writer).
 * - a failed publish breaks its subject and chain for good: every later publish on either
 *   rejects with the same error, unsent. Going on stored the trades after a gap whose
 *   publish had failed, and the restarted shard, restoring its mark from the last trade,
 *   never announced the gap (soak seed 7, SOL-USD).
 */
export type WrongLastOutcome = 'stored' | 'empty' | 'second_writer';
/** How a publish whose PubAck was lost (a retry after a timeout) turned out to be stored. */
export type LostAckResolution = 'duplicate' | 'wrong_last_sequence';

export interface SerializedPublishResult {
  seq: number;
  duplicate: boolean;
}

export class SecondWriterError extends LedgerFluxError {
  constructor(
    readonly subject: string,
    found: string | undefined,
  ) {
    super(
      ErrorCode.PUBLISH_DISCONTINUITY,
      `another writer published on ${subject} (last msg id ${String(found)})`,
    );
    this.name = 'SecondWriterError';
  }
}

export class SerializedPublisher {
  private readonly js: JetStreamClient;
  private readonly lastSeq = new Map<string, number>();
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Subjects and chains on which a publish failed: nothing more is sent on them. */
  private readonly broken = new Map<string, Error>();
  private readonly abort = new AbortController();
  private pending = 0;
  /** Publishes go out batched per event-loop turn; the shard's acks share the batch. */
  readonly sends: SendBatch;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly log: Logger,
    private readonly timeoutMs = 5_000,
    private readonly onWrongLast: (outcome: WrongLastOutcome) => void = () => undefined,
    private readonly onLostAck: (resolvedBy: LostAckResolution) => void = () => undefined,
  ) {
    this.js = jetstream(nc, { timeout: timeoutMs });
    this.sends = new SendBatch((err) => {
      this.log.warn({ err: describeError(err) }, 'a batched send failed');
    });
  }

  /** The last stored stream sequence of a subject, as restored or last published. */
  restore(subject: string, seq: number): void {
    this.lastSeq.set(subject, seq);
  }

  get inFlight(): number {
    return this.pending;
  }

  publish(
    subject: string,
    payload: Uint8Array,
    msgId: string,
    headers: Readonly<Record<string, string>>,
    chain = subject,
  ): Promise<SerializedPublishResult> {
    this.pending++;
    const keys = chain === subject ? [subject] : [subject, chain];
    const before = keys.map((k) => this.chains.get(k) ?? Promise.resolve());
    const next = Promise.all(before).then(() => {
      for (const k of keys) {
        const failed = this.broken.get(k);
        if (failed !== undefined) throw failed;
      }
      return this.publishOne(subject, payload, msgId, headers);
    });
    const settled = next
      .catch((err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        for (const k of keys) if (!this.broken.has(k)) this.broken.set(k, e);
        throw e;
      })
      .finally(() => {
        this.pending--;
        for (const k of keys) if (this.chains.get(k) === settled) this.chains.delete(k);
      });
    // The chain's copy of a failure is the caller's to handle (through `next`); unhandled
    // here, it crashed the process on a second writer instead of letting it go not-ready.
    settled.catch(() => undefined);
    for (const k of keys) this.chains.set(k, settled);
    return next;
  }

  stop(): void {
    this.abort.abort();
  }

  private async publishOne(
    subject: string,
    payload: Uint8Array,
    msgId: string,
    headers: Readonly<Record<string, string>>,
  ): Promise<SerializedPublishResult> {
    for (let attempt = 0; ; attempt++) {
      if (this.abort.signal.aborted) {
        throw new LedgerFluxError(ErrorCode.PUBLISHER_CLOSED, 'publisher stopped');
      }
      const expect = this.lastSeq.get(subject) ?? 0;
      try {
        const h = natsHeaders();
        for (const [k, v] of Object.entries(headers)) h.set(k, v);
        const ack = await this.sends.call(() =>
          this.js.publish(subject, payload, {
            msgID: msgId,
            headers: h,
            expect: { lastSubjectSequence: expect },
            timeout: this.timeoutMs,
          }),
        );
        // A duplicate answers with the original's sequence, which is at or before `expect`.
        if (!ack.duplicate || ack.seq > expect) this.lastSeq.set(subject, ack.seq);
        // Stored by an earlier attempt whose PubAck never came (a leader change).
        if (ack.duplicate && attempt > 0) this.onLostAck('duplicate');
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (
          err instanceof JetStreamApiError &&
          err.code === JetStreamApiCodes.StreamWrongLastSequence
        ) {
          let resolved: SerializedPublishResult | undefined;
          try {
            resolved = await this.resolveWrongLast(subject, msgId);
          } catch (readErr) {
            if (readErr instanceof SecondWriterError || !isTransient(readErr)) throw readErr;
            this.log.warn(
              { subject, err: describeError(readErr) },
              'reading the last message after error 10071 failed, retrying',
            );
            await sleep(Math.min(100 * 2 ** attempt, 2_000), this.abort.signal);
            continue;
          }
          if (resolved !== undefined) {
            this.onLostAck('wrong_last_sequence');
            return resolved;
          }
          continue;
        }
        if (err instanceof JetStreamApiError && err.code !== 503) throw err;
        if (attempt % 10 === 0) {
          this.log.warn(
            { subject, attempt, err: describeError(err) },
            'normalized publish failed, retrying',
          );
        }
        await sleep(Math.min(100 * 2 ** attempt, 2_000), this.abort.signal);
      }
    }
  }

  /** Error 10071: what is really the last message of the subject? */
  private async resolveWrongLast(
    subject: string,
    msgId: string,
  ): Promise<SerializedPublishResult | undefined> {
    const last = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
    if (last === null) {
      this.onWrongLast('empty');
      this.lastSeq.set(subject, 0);
      return undefined;
    }
    const foundId = last.header.get('Nats-Msg-Id');
    if (foundId === msgId) {
      this.onWrongLast('stored');
      this.lastSeq.set(subject, last.seq);
      return { seq: last.seq, duplicate: true };
    }
    this.onWrongLast('second_writer');
    throw new SecondWriterError(subject, foundId);
  }
}

/** JetStream answered 503 (no responders: a leader election), or no answer at all. */
function isTransient(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === 503;
  return true;
}
