import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';

export interface StoredMessage {
  seq: number;
  subject: string;
  msgId: string | undefined;
  headers: Record<string, string>;
  data: Uint8Array;
  text(): string;
}

/** Every message of a stream (or of one filter), in stream order, through an ordered consumer. */
export async function readStream(
  nc: NatsConnection,
  stream: string,
  filter?: string,
): Promise<StoredMessage[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(
    stream,
    filter === undefined ? undefined : { subjects_filter: filter },
  );
  const expected =
    filter === undefined
      ? info.state.messages
      : Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  const out: StoredMessage[] = [];
  if (expected === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream, {
    deliver_policy: DeliverPolicy.All,
    ...(filter === undefined ? {} : { filter_subjects: filter }),
  });
  const deadline = Date.now() + 30_000;
  while (out.length < expected && Date.now() < deadline) {
    const batch = await consumer.fetch({
      max_messages: Math.min(expected - out.length, 1000),
      expires: 2000,
    });
    for await (const m of batch) {
      const headers: Record<string, string> = {};
      for (const [k, v] of m.headers ?? []) headers[k] = v[0] ?? '';
      out.push({
        seq: m.seq,
        subject: m.subject,
        msgId: m.headers?.get('Nats-Msg-Id') || undefined,
        headers,
        data: m.data,
        text: () => new TextDecoder().decode(m.data),
      });
    }
  }
  return out;
}
