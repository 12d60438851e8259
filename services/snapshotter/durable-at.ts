import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerInfo,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { ensureDurable, type DurableSpec } from '../common/durable.js';
import type { Logger } from '../common/logger.js';

/**
 * The snapshotter's durable, positioned against the database checkpoint: ensureDurable
 * (kept, or re-created from the ack floor when acks are pending), except that a durable
 * that is missing, or whose ack floor is past the checkpoint (the database lost commits:
 * restored from a backup, or reset), is created here, right after the checkpoint.
 *
 * Created here, it acks with AckPolicy.All: batches commit strictly in stream order, so
 * one ack per committed batch (of its highest sequence) stands for all of it, which halves
 * the consumer's cost in the client and the server. A durable that ensureDurable
 * re-created (explicit acks) is acked message by message: the worker reads the policy.
 */
export async function durableAtCheckpoint(
  jsm: JetStreamManager,
  spec: DurableSpec,
  checkpoint: number,
  log: Logger,
): Promise<ConsumerInfo> {
  let info: ConsumerInfo | undefined = await jsm.consumers
    .info(spec.stream, spec.name)
    .catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)
        return undefined;
      throw err;
    });
  if (info !== undefined && info.ack_floor.stream_seq > checkpoint) {
    // Acks follow commits, so the database is behind what was acked.
    log.warn(
      { ackFloor: info.ack_floor.stream_seq, checkpoint },
      'durable is ahead of the database checkpoint; re-reading the stream after the checkpoint',
    );
    await jsm.consumers.delete(spec.stream, spec.name);
    info = undefined;
  }
  if (info === undefined) {
    const start =
      checkpoint > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: checkpoint + 1 }
        : { deliver_policy: DeliverPolicy.All };
    await jsm.consumers.add(spec.stream, {
      durable_name: spec.name,
      filter_subject: spec.filter,
      ack_policy: AckPolicy.All,
      ack_wait: nanos(spec.ackWaitMs),
      max_ack_pending: spec.maxAckPending,
      max_deliver: -1,
      ...start,
    });
    log.info(
      { consumer: spec.name, startSeq: checkpoint + 1 },
      'durable consumer created after the checkpoint',
    );
  }
  return (await ensureDurable(jsm, spec, log)).info;
}
