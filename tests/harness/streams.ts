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
  if (out.length < expected) {
    throw new Error(
      `read ${String(out.length)} of ${String(expected)} messages of ${stream}${filter === undefined ? '' : ` (${filter})`} within 30 s`,
    );
  }
  return out;
}

/**
 * Waits until each durable has nothing pending or unacked and the stream's last sequence
 * has stopped moving for `settleMs` (trailing book publishes and reorder-window releases).
 */
export async function drainDurables(
  nc: NatsConnection,
  stream: string,
  durables: readonly string[],
  { outStream, settleMs = 750, timeoutMs = 60_000 }: DrainOptions = {},
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const deadline = Date.now() + timeoutMs;
  let lastOut = -1;
  let stableSince = Date.now();
  for (;;) {
    let idle = true;
    for (const name of durables) {
      // Missing: its service is (re-)creating it right now.
      const c = await jsm.consumers.info(stream, name).catch(() => undefined);
      if (c === undefined || c.num_pending > 0 || c.num_ack_pending > 0) idle = false;
    }
    const out = outStream === undefined ? 0 : (await jsm.streams.info(outStream)).state.last_seq;
    if (out !== lastOut || !idle) {
      lastOut = out;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= settleMs) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${durables.join(', ')} on ${stream} not drained within ${String(timeoutMs)} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface DrainOptions {
  /** A stream the durables' service writes to: it must stop growing too. */
  outStream?: string;
  settleMs?: number;
  timeoutMs?: number;
}
