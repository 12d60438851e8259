import {
  AckPolicy,
  jetstream,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ErrorCode, LedgerFluxError, describeError } from '../common/errors.js';
import { sleep } from '../common/lifecycle.js';
import type { Logger } from '../common/logger.js';
import { H, nowUs } from '../common/schemas/headers.js';
import type { Normalized } from '../common/schemas/normalized.js';
import { STREAMS, verifyTopology } from '../common/topology.js';
import { BatchQueue } from './batch-queue.js';
import { decodeNormalized } from './decode.js';
import { CONSUMER_FILTER, CONSUMER_NAME, type SnapshotterConfig } from './config.js';
import { planBatch, type BatchPlan } from './core/batch.js';
import type { ProductState } from './core/state.js';
import { durableAtCheckpoint } from './durable-at.js';
import { RetentionTimer } from './retention.js';
import { TABLES, type SnapshotterMetrics } from './metrics.js';
import { SCHEMA_VERSION, appliedVersion } from './migrate-sql.js';
import { CheckpointConflictError, type SerializedBatch, type Store } from './store.js';

/** At shutdown, how long the batch in hand may wait for PostgreSQL before it is left unacked. */
const STOP_COMMIT_MS = 10_000;

interface Prepared {
  /** The plan without its rows: they live on only as `batch`, not through the commit. */
  plan: Omit<BatchPlan, 'trades' | 'gaps' | 'snapshots' | 'latest'>;
  msgs: JsMsg[];
  batch: SerializedBatch;
}

/**
 * The snapshotter's shell: durable `snapshotter` on MD_NORM → batches (size or time) →
 * one transaction per batch with its checkpoint → acks. Exactly once: the checkpoint is
 * the last stream sequence applied; at start the fold is restored from `latest_state`
 * and messages at or below the checkpoint are skipped. A hole in the consumer's delivery
 * sequence (a delivery lost in transit) re-creates the durable from its ack floor.
 *
 * Two batches overlap: the next one is decoded and planned (from the planned state) while
 * the previous one commits; commits stay strictly in order, each after the last one.
 */
export class SnapshotWorker {
  /** What PostgreSQL holds. */
  private states: ReadonlyMap<string, ProductState> = new Map();
  private checkpoint = 0;
  /** What the batches planned so far lead to (ahead of the committed by one batch at most). */
  private planned: { states: ReadonlyMap<string, ProductState>; after: number } = {
    states: new Map(),
    after: 0,
  };
  /** The consumer's delivery sequence of the last message taken: deliveries are contiguous. */
  private lastDseq = 0;
  private readonly queue = new BatchQueue<JsMsg>();
  private readonly problems = new Map<string, string>();
  private readonly intervalUs: number;
  private jsm!: JetStreamManager;
  private messages: ConsumerMessages | undefined;
  private generation = 0;
  /** The batch planned while the one before commits (kept alive during an outage). */
  private ahead: JsMsg[] = [];
  /** The durable's ack policy: one ack per batch (all), or one per message (explicit). */
  private ackAll = false;
  private loop: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private stopDeadline = Number.POSITIVE_INFINITY;
  private resetWanted: string | undefined;
  private readonly retention: RetentionTimer;
  private sampling = false;
  private invalidLogged = 0;

  constructor(
    private readonly config: Readonly<SnapshotterConfig>,
    private readonly nc: NatsConnection,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly metrics: SnapshotterMetrics,
    private readonly setReady: (ready: boolean, reason?: string) => void = () => undefined,
  ) {
    this.intervalUs = config.SNAPSHOT_INTERVAL_MS * 1000;
    this.retention = new RetentionTimer(config, store, metrics, log);
  }

  /** The last stream sequence committed. */
  get committed(): number {
    return this.checkpoint;
  }

  /** Throws while something it needs is missing; the caller retries and stays not ready. */
  async start(): Promise<void> {
    this.jsm = await verifyTopology(this.nc, [STREAMS.norm]);
    const version = await appliedVersion(this.store.sql);
    if (version < SCHEMA_VERSION) {
      throw new LedgerFluxError(
        ErrorCode.TOPOLOGY_MISSING,
        `SQL schema is at version ${String(version)}, the snapshotter needs ${String(SCHEMA_VERSION)}: run "ledgerflux migrate" first`,
      );
    }
    await this.restore();
    const stream = await this.jsm.streams.info(STREAMS.norm);
    if (stream.state.last_seq < this.checkpoint) {
      throw new LedgerFluxError(
        ErrorCode.TOPOLOGY_MISMATCH,
        `MD_NORM ends at sequence ${String(stream.state.last_seq)} but the database checkpoint is ${String(this.checkpoint)}: the stream was re-created; reset consumer_checkpoints to re-read it`,
      );
    }
    await this.openConsumer();
    this.watchNats();
    this.loop = this.run();
    this.timers.push(setInterval(() => void this.sample(), 2_000));
    for (const t of this.timers) t.unref();
    this.retention.start();
    this.metrics.dbUp.set(1);
    this.log.info(
      { checkpoint: this.checkpoint, products: this.states.size },
      'snapshotter consuming MD_NORM',
    );
  }

  /** Stop pulling, commit what is in hand, ack it. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopDeadline = Date.now() + STOP_COMMIT_MS;
    for (const t of this.timers) clearInterval(t);
    await this.messages?.close();
    this.queue.interrupt();
    await this.loop;
    await this.retention.stop();
  }

  private async restore(): Promise<void> {
    this.checkpoint = await this.store.openCheckpoint();
    this.states = await this.store.loadStates();
    this.planned = { states: this.states, after: this.checkpoint };
    this.metrics.checkpoint.set(this.checkpoint);
  }

  private async openConsumer(): Promise<void> {
    const c = this.config;
    const spec = {
      stream: STREAMS.norm,
      name: CONSUMER_NAME,
      filter: CONSUMER_FILTER,
      ackWaitMs: c.ACK_WAIT_MS,
      maxAckPending: c.MAX_ACK_PENDING,
    };
    const info = await durableAtCheckpoint(this.jsm, spec, this.checkpoint, this.log);
    this.lastDseq = info.delivered.consumer_seq;
    this.ackAll = info.config.ack_policy === AckPolicy.All;
    const consumer = await jetstream(this.nc).consumers.get(STREAMS.norm, CONSUMER_NAME);
    // Late deliveries to a consume that a reset closed are not ours any more.
    const generation = ++this.generation;
    const messages = await consumer.consume({
      max_messages: c.BATCH_MAX,
      expires: c.PULL_EXPIRES_MS,
      callback: (m) => {
        if (generation === this.generation) this.queue.push(m);
      },
    });
    this.messages = messages;
    void this.watchConsumer(messages);
  }

  private async watchConsumer(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (messages !== this.messages) return;
      if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found')
        this.requestReset(s.type);
    }
  }

  private requestReset(reason: string): void {
    this.resetWanted ??= reason;
    this.queue.interrupt();
  }

  private async run(): Promise<void> {
    const c = this.config;
    // The batch being committed: resolves to it once committed (acks still due), to null
    // for nothing, to false when it failed for good (reset or shutdown).
    let previous: Promise<Prepared | null | false> = Promise.resolve(null);
    while (!this.stopping) {
      try {
        if (this.resetWanted !== undefined) {
          this.ack(await previous);
          previous = Promise.resolve(null);
          await this.reset();
          continue;
        }
        const next = this.prepare(await this.queue.take(c.BATCH_MAX, c.BATCH_MS));
        this.ahead = next?.msgs ?? [];
        const done = await previous;
        this.ahead = [];
        if (done === false) {
          // The batch before failed for good: this one, planned on top of it, goes too.
          this.planned = { states: this.states, after: this.checkpoint };
          previous = Promise.resolve(null);
          continue;
        }
        previous = next === undefined ? Promise.resolve(null) : this.commitBatch(next);
        // Acks go out while PostgreSQL works on the next batch.
        this.ack(done);
        // postgres.js writes a statement a few microtasks after it is issued, and planning
        // the next batch is synchronous (tens of ms): one event-loop turn first, so the
        // statement is on the wire while we plan (PostgreSQL idled a third of each commit).
        if (next !== undefined) await nextTurn();
      } catch (err) {
        this.log.error({ err: describeError(err) }, 'batch failed unexpectedly; resetting');
        this.requestReset('internal error');
      }
    }
    // The batch in hand and whatever else arrived: committed before acking and leaving.
    let done = await previous;
    this.ack(done);
    let rest = this.queue.clear();
    while (done !== false && rest.length > 0 && this.resetWanted === undefined) {
      const next = this.prepare(rest.slice(0, c.BATCH_MAX));
      rest = rest.slice(c.BATCH_MAX);
      done = next === undefined ? null : await this.commitBatch(next);
      this.ack(done);
    }
  }

  /** Checks delivery order, decodes, plans and serializes a batch (from the planned state). */
  private prepare(batch: JsMsg[]): Prepared | undefined {
    let take = batch.length;
    for (let i = 0; i < batch.length; i++) {
      const dseq = batch[i]?.info.deliverySequence ?? 0;
      if (dseq !== this.lastDseq + 1) {
        // Everything from here on is dropped unacked; the reset delivers it again.
        take = i;
        this.requestReset(`delivery ${String(dseq)} after ${String(this.lastDseq)}`);
        break;
      }
      this.lastDseq = dseq;
    }
    const msgs = take === batch.length ? batch : batch.slice(0, take);
    if (msgs.length === 0) return undefined;
    const inputs = msgs.map((m) => ({ offset: m.seq, msg: this.decode(m) }));
    const plan = planBatch(this.planned.states, inputs, {
      intervalUs: this.intervalUs,
      after: this.planned.after,
    });
    this.planned = { states: plan.states, after: plan.lastOffset };
    const serialized = this.store.serialize(plan, this.intervalUs);
    const { states, lastOffset, applied, skipped, invalid } = plan;
    return { plan: { states, lastOffset, applied, skipped, invalid }, msgs, batch: serialized };
  }

  /** Commits (retrying while PostgreSQL is away) and adopts the batch's state; never rejects. */
  private async commitBatch(p: Prepared): Promise<Prepared | false> {
    try {
      if (!(await this.commit(p))) return false;
    } catch (err) {
      this.log.error({ err: describeError(err) }, 'batch failed unexpectedly; resetting');
      this.requestReset('internal error');
      return false;
    }
    this.states = p.plan.states;
    this.checkpoint = p.plan.lastOffset;
    const mt = this.metrics;
    mt.checkpoint.set(this.checkpoint);
    mt.batchSize.observe(p.msgs.length);
    mt.messages.labels('applied').inc(p.plan.applied);
    mt.messages.labels('skipped').inc(p.plan.skipped);
    mt.messages.labels('invalid').inc(p.plan.invalid);
    mt.ackPending.set(this.queue.size);
    return p;
  }

  /** Acks a committed batch. */
  private ack(done: Prepared | null | false): void {
    if (done === null || done === false) return;
    const { msgs } = done;
    if (this.ackAll) {
      // The highest sequence, not the last message: a redelivery may close the batch.
      let top = msgs[0];
      for (const m of msgs) if (top === undefined || m.seq > top.seq) top = m;
      top?.ack();
    } else {
      for (const m of msgs) m.ack();
    }
    // Publish → commit latency of up to 16 messages spread over the batch (reading every
    // message's headers costs more than the rest of its way through here).
    const now = nowUs();
    const step = Math.max(1, Math.floor(msgs.length / 16));
    for (let i = msgs.length - 1; i >= 0; i -= step) {
      const pub = Number(msgs[i]?.headers?.get(H.pubUs));
      if (pub > 0) this.metrics.publishToCommit.observe(Math.max(0, now - pub) / 1e6);
    }
  }

  private async commit({ batch, msgs }: Prepared): Promise<boolean> {
    let workingAt = Date.now();
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      try {
        const counts = await this.store.commitSerialized(batch, this.checkpoint);
        this.metrics.commit.observe((performance.now() - t0) / 1000);
        for (const t of TABLES) if (counts[t] > 0) this.metrics.rows.labels(t).inc(counts[t]);
        if (attempt > 0) this.log.info({ attempts: attempt + 1 }, 'postgres is back; committed');
        this.metrics.dbUp.set(1);
        this.problem('postgres', undefined);
        return true;
      } catch (err) {
        if (err instanceof CheckpointConflictError) {
          this.log.error({ err: describeError(err) }, 'checkpoint conflict; reloading state');
          this.requestReset('checkpoint conflict');
          return false;
        }
        this.metrics.retries.labels('commit').inc();
        this.metrics.dbUp.set(0);
        this.problem('postgres', `postgres unavailable: ${describeError(err)}`);
        if (attempt === 0)
          this.log.warn({ err: describeError(err) }, 'batch commit failed; retrying with backoff');
        if (this.stopping && Date.now() >= this.stopDeadline) {
          this.log.warn({ messages: msgs.length }, 'postgres still down at shutdown; left unacked');
          return false;
        }
        // Held messages stay ours: no redelivery while PostgreSQL is away.
        if (Date.now() - workingAt > this.config.ACK_WAIT_MS / 3) {
          for (const m of msgs) m.working();
          for (const m of this.ahead) m.working();
          for (const m of this.queue.peekAll()) m.working();
          workingAt = Date.now();
        }
        const backoff = Math.min(this.config.DB_RETRY_MAX_MS, 100 * 2 ** Math.min(attempt, 16));
        const delay = backoff * (0.75 + Math.random() / 2);
        await sleep(Math.min(delay, Math.max(0, this.stopDeadline - Date.now())));
      }
    }
  }

  private async reset(): Promise<void> {
    const reason = this.resetWanted;
    this.metrics.consumerResets.inc();
    this.log.warn({ reason }, 'reloading state and re-creating the durable from its ack floor');
    const old = this.messages;
    this.messages = undefined;
    this.generation++;
    await old?.close();
    this.queue.clear();
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        // Our acks reach the server before it reports the ack floor.
        await this.nc.flush();
        await this.restore();
        await this.openConsumer();
        this.resetWanted = undefined;
        this.problem('consumer', undefined);
        return;
      } catch (err) {
        this.metrics.retries.labels('start').inc();
        this.problem('consumer', `consumer reset failed: ${describeError(err)}`);
        if (attempt === 0) this.log.warn({ err: describeError(err) }, 'consumer reset failed');
        await sleep(Math.min(this.config.DB_RETRY_MAX_MS, 250 * 2 ** Math.min(attempt, 8)));
      }
    }
  }

  private decode(m: JsMsg): Normalized | undefined {
    const msg = decodeNormalized(m.subject, m.data);
    if (msg === undefined && (this.invalidLogged++ < 10 || this.invalidLogged % 1000 === 0))
      this.log.warn({ seq: m.seq, subject: m.subject }, 'invalid MD_NORM message skipped');
    return msg;
  }

  private problem(key: string, reason: string | undefined): void {
    const had = this.problems.size;
    if (reason === undefined) this.problems.delete(key);
    else this.problems.set(key, reason);
    const first = this.problems.values().next();
    if (!first.done) this.setReady(false, first.value);
    else if (had > 0) this.setReady(true);
  }

  private watchNats(): void {
    this.metrics.natsConnected.set(1);
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect') {
          this.metrics.natsConnected.set(0);
          this.problem('nats', 'nats disconnected');
        } else if (s.type === 'reconnect') {
          this.metrics.natsConnected.set(1);
          this.problem('nats', undefined);
        }
      }
    })();
  }

  /** Every 2 s: the lag gauge, and PostgreSQL's health also while no batch is committing. */
  private async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    this.metrics.ackPending.set(this.queue.size);
    try {
      const info = await this.jsm.consumers.info(STREAMS.norm, CONSUMER_NAME);
      this.metrics.lag.set(info.num_pending);
    } catch {
      // NATS away: the gauge keeps its last value; nats_connected tells.
    }
    try {
      await this.store.ping();
      this.metrics.dbUp.set(1);
      this.problem('postgres-ping', undefined);
    } catch (err) {
      this.metrics.dbUp.set(0);
      this.problem('postgres-ping', `postgres unavailable: ${describeError(err)}`);
    } finally {
      this.sampling = false;
    }
  }
}
