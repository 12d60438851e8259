import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isLedgerFluxError } from '../../services/common/errors.js';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import {
  CLIENT_REFUSED,
  Publisher,
  type Discontinuity,
  type PublishOutcome,
} from '../../services/common/publisher.js';
import { ensureTopology, verifyTopology } from '../../services/common/topology.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { readStream } from '../harness/streams.js';

const log = createLogger('test', 'silent');
const enc = new TextEncoder();

async function connect(url: string): Promise<NatsConnection> {
  return connectNats({ servers: [url], name: 'publisher-test', log, publishing: true });
}

function frame(subject: string, i: number) {
  return {
    subject,
    payload: enc.encode(JSON.stringify({ i })),
    msgId: `${subject}:${String(i)}`,
    headers: { 'Lf-Test': String(i) },
  };
}

/** Per subject, the stored payload indexes in stream order. */
function bySubject(stored: { subject: string; text(): string }[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const m of stored) {
    const list = out.get(m.subject) ?? [];
    list.push((JSON.parse(m.text()) as { i: number }).i);
    out.set(m.subject, list);
  }
  return out;
}

describe('Publisher against a real nats-server', () => {
  let server: NatsServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    server = await startNats();
    nc = await connect(server.url);
    await ensureTopology(nc, { replicas: 1 });
  });
  afterAll(async () => {
    await nc.close();
    await server.stop();
  });

  it('stores N messages in publish order with a bounded window', async () => {
    const pub = new Publisher(nc, { window: 64, log });
    const subjects = [
      'md.raw.coinbase.0.AAA-USD',
      'md.raw.coinbase.0.BBB-USD',
      'md.raw.coinbase.0.CCC-USD',
    ];
    const n = 3000;
    const outcomes: Promise<PublishOutcome>[] = [];
    let maxInFlight = 0;
    for (let i = 0; i < n; i++) {
      await pub.waitForRoom();
      outcomes.push(pub.publish(frame(subjects[i % 3] as string, i)));
      maxInFlight = Math.max(maxInFlight, pub.inFlight);
    }
    const results = await Promise.all(outcomes);
    await pub.close();
    expect(results.every((r) => r.kind === 'stored' && !r.duplicate)).toBe(true);
    expect(maxInFlight).toBeLessThanOrEqual(64);
    expect(maxInFlight).toBeGreaterThan(1);
    const stored = await readStream(nc, 'MD_RAW', 'md.raw.coinbase.0.*');
    expect(stored.map((m) => (JSON.parse(m.text()) as { i: number }).i)).toEqual([
      ...Array(n).keys(),
    ]);
    expect(stored[5]?.headers['Lf-Test']).toBe('5');
    expect(stored[5]?.msgId).toBe(`${subjects[2] as string}:5`);
  });

  it('stores a repeated msg id once and reports the duplicate', async () => {
    const pub = new Publisher(nc, { window: 8, log });
    const subject = 'md.raw.coinbase.0.DUP-USD';
    const first = await pub.publish(frame(subject, 1));
    const second = await pub.publish(frame(subject, 1));
    await pub.close();
    expect(first).toMatchObject({ kind: 'stored', duplicate: false });
    expect(second).toMatchObject({ kind: 'stored', duplicate: true });
    if (first.kind === 'stored' && second.kind === 'stored') expect(second.seq).toBe(first.seq);
    expect(await readStream(nc, 'MD_RAW', subject)).toHaveLength(1);
  });

  it('rejects a publish whose expected subject sequence is wrong, without retrying', async () => {
    const pub = new Publisher(nc, { window: 8, log });
    const subject = 'md.norm.coinbase.EXP-USD.trade';
    const ok = await pub.publish({ ...frame(subject, 1), expectLastSubjectSeq: 0 });
    const bad = await pub.publish({ ...frame(subject, 2), expectLastSubjectSeq: 0 });
    await pub.close();
    expect(ok.kind).toBe('stored');
    expect(bad).toMatchObject({ kind: 'rejected', code: 10071 });
  });

  // Regression (hostile-input fuzzing): the NATS client throws on a header value with a
  // line break; thrown out of pump() it rejected publish() (an unhandled rejection that
  // crashed the ingestor) and leaked a window slot for good.
  it('settles a publish the client refuses (line break in a header) as rejected, window intact', async () => {
    const pub = new Publisher(nc, { window: 1, log });
    const subject = 'md.raw.coinbase.0.HDR-USD';
    const bad = await pub.publish({ ...frame(subject, 1), headers: { 'Lf-Error': 'a\nb' } });
    expect(bad).toMatchObject({ kind: 'rejected', code: CLIENT_REFUSED });
    expect(pub.inFlight).toBe(0);
    expect(pub.hasRoom()).toBe(true);
    const ok = await pub.publish(frame(subject, 2));
    await pub.close();
    expect(ok.kind).toBe('stored');
    expect(await readStream(nc, 'MD_RAW', subject)).toHaveLength(1);
  });
  it('verifyTopology names the missing stream', async () => {
    const other = await startNats();
    const nc2 = await connect(other.url);
    try {
      await expect(verifyTopology(nc2, ['MD_RAW'])).rejects.toThrow(
        /stream MD_RAW does not exist: run "ledgerflux migrate"/,
      );
      await ensureTopology(nc2, { replicas: 1 });
      await expect(
        verifyTopology(nc2, ['MD_RAW', 'MD_NORM', 'MD_DLQ'], true),
      ).resolves.toBeDefined();
      const info = await (await jetstreamManager(nc2)).streams.info('MD_NORM');
      expect(info.config.allow_direct).toBe(true);
      expect(info.config.subjects).toEqual(['md.norm.>']);
      // migrate is idempotent
      await ensureTopology(nc2, { replicas: 1 });
    } finally {
      await nc2.close();
      await other.stop();
    }
  });
});

describe('Publisher through a nats-server crash', () => {
  it('loses nothing, stores nothing twice and keeps per-subject order across kill -9 and restart', async () => {
    const server = await startNats();
    const setup = await connect(server.url);
    await ensureTopology(setup, { replicas: 1 });
    await setup.close();

    const nc = await connect(server.url);
    const discontinuities: Discontinuity[] = [];
    const pub = new Publisher(nc, {
      window: 32,
      timeoutMs: 2_000,
      log,
      onDiscontinuity: (d) => discontinuities.push(d),
    });
    const subjects = [
      'md.raw.coinbase.0.AAA-USD',
      'md.raw.coinbase.0.BBB-USD',
      'md.raw.coinbase.0.CCC-USD',
      'md.raw.coinbase.0.DDD-USD',
    ];
    const n = 6000;
    const outcomes: Promise<PublishOutcome>[] = [];
    let killedAt = -1;
    for (let i = 0; i < n; i++) {
      await pub.waitForRoom();
      outcomes.push(pub.publish(frame(subjects[i % subjects.length] as string, i)));
      if (i === 2000) {
        killedAt = i;
        // Crash and restart the server while publishes are in flight.
        void server.kill('SIGKILL').then(() => server.restart());
      }
    }
    const results = await Promise.all(outcomes);
    await pub.close();
    expect(killedAt).toBe(2000);
    expect(discontinuities).toEqual([]);
    const notStored = results.filter((r) => r.kind !== 'stored');
    expect(notStored).toEqual([]);
    const retried = results.filter((r) => r.kind === 'stored' && r.retried).length;
    expect(retried).toBeGreaterThan(0); // the crash really hit publishes in flight

    const stored = await readStream(nc, 'MD_RAW');
    const ids = stored.map((m) => (JSON.parse(m.text()) as { i: number }).i);
    expect(new Set(ids).size).toBe(ids.length); // nothing twice
    expect(ids.length).toBe(n); // nothing lost
    for (const [subject, list] of bySubject(stored)) {
      const expected = [...list].sort((a, b) => a - b);
      expect(list, subject).toEqual(expected); // per-subject stored order = publish order
    }
    console.info(`kill -9 mid-stream: ${String(retried)} publishes recovered by republish`);
    await nc.close();
    await server.stop();
  });
});

describe('max_payload check', () => {
  it('refuses a server with the default 1 MiB max_payload', async () => {
    const server = await startNats({ maxPayload: '1MB' });
    try {
      const err: unknown = await connect(server.url).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isLedgerFluxError(err, ErrorCode.NATS_MAX_PAYLOAD)).toBe(true);
      expect((err as Error).message).toMatch(
        /max_payload 1048576 bytes; LedgerFlux needs at least 8388608/,
      );
    } finally {
      await server.stop();
    }
  });
});
