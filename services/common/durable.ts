import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import type { Logger } from './logger.js';

/**
 * Creates a service's own durable pull consumer, or re-creates it from its ack floor.
 *
 * A durable redelivers unacked messages only after `ack_wait`, and after newer ones; so
 * at start, when acks are pending, the durable is deleted and re-created with
 * `opt_start_seq = ack_floor.stream_seq + 1` (nats-server 2.9 has no consumer reset),
 * and everything after the floor comes again in stream order. Frames already reflected
 * downstream are skipped by the service's restored marks.
 */
export interface DurableSpec {
  stream: string;
  name: string;
  /** One subject filter (2.9: no `filter_subjects`). */
  filter: string;
  ackWaitMs: number;
  maxAckPending: number;
}

export interface DurableResult {
  info: ConsumerInfo;
  action: 'created' | 'kept' | 'recreated';
  startSeq?: number;
}

export async function ensureDurable(
  jsm: JetStreamManager,
  spec: DurableSpec,
  log: Logger,
): Promise<DurableResult> {
  const existing = await jsm.consumers.info(spec.stream, spec.name).catch((err: unknown) => {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)
      return undefined;
    throw err;
  });
  const base: Partial<ConsumerConfig> = {
    durable_name: spec.name,
    filter_subject: spec.filter,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
    max_deliver: -1,
  };
  if (existing === undefined) {
    const info = await jsm.consumers.add(spec.stream, {
      ...base,
      deliver_policy: DeliverPolicy.All,
    });
    log.info({ consumer: spec.name, filter: spec.filter }, 'durable consumer created');
    return { info, action: 'created' };
  }
  const sameFilter = existing.config.filter_subject === spec.filter;
  if (existing.num_ack_pending === 0 && sameFilter) {
    const info = await jsm.consumers.update(spec.stream, spec.name, {
      ack_wait: base.ack_wait,
      max_ack_pending: spec.maxAckPending,
    });
    return { info, action: 'kept' };
  }
  const startSeq = existing.ack_floor.stream_seq + 1;
  await jsm.consumers.delete(spec.stream, spec.name);
  const info = await jsm.consumers.add(spec.stream, {
    ...base,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: startSeq,
  });
  log.info(
    {
      consumer: spec.name,
      startSeq,
      ackPending: existing.num_ack_pending,
      filterChanged: !sameFilter,
    },
    'durable consumer re-created from its ack floor',
  );
  return { info, action: 'recreated', startSeq };
}
