import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { ErrorCode, LedgerFluxError } from './errors.js';

/** The JetStream topology, declared once: created by `ledgerflux migrate`, verified by services. */
export const STREAMS = { raw: 'MD_RAW', norm: 'MD_NORM', dlq: 'MD_DLQ' } as const;
export type StreamName = (typeof STREAMS)[keyof typeof STREAMS];
export const SEQ_BUCKET = 'LF_SEQ';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const GIB = 1024 ** 3;

export interface TopologyOptions {
  replicas: number;
  rawMaxAgeMs?: number;
  rawMaxBytes?: number;
  normMaxAgeMs?: number;
  normMaxBytes?: number;
  dlqMaxAgeMs?: number;
  dlqMaxBytes?: number;
}

export function streamConfigs(
  o: TopologyOptions,
): (Partial<StreamConfig> & { name: StreamName })[] {
  const base = {
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    num_replicas: o.replicas,
    max_msg_size: -1,
  };
  return [
    {
      ...base,
      name: STREAMS.raw,
      subjects: ['md.raw.>'],
      max_age: nanos(o.rawMaxAgeMs ?? DAY_MS),
      max_bytes: o.rawMaxBytes ?? 2 * GIB,
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(2 * 60_000),
    },
    {
      ...base,
      name: STREAMS.norm,
      subjects: ['md.norm.>'],
      max_age: nanos(o.normMaxAgeMs ?? 7 * DAY_MS),
      max_bytes: o.normMaxBytes ?? 4 * GIB,
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(2 * 60_000),
      allow_direct: true,
    },
    {
      ...base,
      name: STREAMS.dlq,
      subjects: ['md.dlq.>'],
      max_age: nanos(o.dlqMaxAgeMs ?? 7 * DAY_MS),
      max_bytes: o.dlqMaxBytes ?? 256 * 1024 * 1024,
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(2 * 60_000),
    },
  ];
}

/** Creates or updates the streams and the KV bucket. The privileged migrate step only. */
export async function ensureTopology(nc: NatsConnection, o: TopologyOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const cfg of streamConfigs(o)) {
    const name = cfg.name;
    const exists = await jsm.streams.info(name).then(
      () => true,
      (err: unknown) => {
        if (isStreamNotFound(err)) return false;
        throw err;
      },
    );
    if (exists) await jsm.streams.update(name, cfg);
    else await jsm.streams.add(cfg);
  }
  await new Kvm(nc).create(SEQ_BUCKET, {
    history: 1,
    replicas: o.replicas,
    storage: StorageType.File,
  });
}

/**
 * Services only check that what they use exists; they stay not-ready with this error's
 * message until it does.
 */
export async function verifyTopology(
  nc: NatsConnection,
  needs: readonly StreamName[],
  needsKv = false,
): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  const names: string[] = [...needs];
  if (needsKv) names.push(`KV_${SEQ_BUCKET}`);
  for (const name of names) {
    try {
      await jsm.streams.info(name);
    } catch (err) {
      if (isStreamNotFound(err)) {
        throw new LedgerFluxError(
          ErrorCode.TOPOLOGY_MISSING,
          `stream ${name} does not exist: run "ledgerflux migrate" first`,
          { cause: err },
        );
      }
      throw err;
    }
  }
  return jsm;
}

export function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}
