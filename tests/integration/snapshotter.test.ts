/**
 * MD_NORM → snapshotter (a real process) → PostgreSQL: every table equals the naive
 * models of the published messages, exactly once, across a kill -9 mid-stream and a
 * restart; SIGTERM commits and acks the batch in hand.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Sql } from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import type { Normalized } from '../../services/common/schemas/normalized.js';
import { ensureTopology } from '../../services/common/topology.js';
import { testDatabase } from '../harness/db.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { generateNormalized, publishNormalized } from '../harness/norm-stream.js';
import { startService, type ServiceProcess } from '../harness/service.js';
import { checkpointOf, migratedDatabase, waitForCheckpoint } from '../harness/snapshot-db.js';
import { waitFor } from '../harness/wait.js';
import { expectDatabaseMatches } from '../unit/snapshotter/model-db.js';
import type { Offsetted } from '../unit/snapshotter/model.js';

const log = createLogger('test', 'silent');
const PRODUCTS = ['BTC-USD', 'ETH-USD', 'SOL-USD'];
const INTERVAL_MS = 1_000;

interface Setup {
  server: NatsServer;
  nc: NatsConnection;
  sql: Sql;
  url: string;
  services: ServiceProcess[];
}

const running: Setup[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) {
    await Promise.all(s.services.map((p) => p.stop().catch(() => undefined)));
    await s.sql.end({ timeout: 1 }).catch(() => undefined);
    await s.nc.close().catch(() => undefined);
    await s.server.stop().catch(() => undefined);
  }
});

async function setup(): Promise<Setup> {
  const server = await startNats();
  const nc = await connectNats({ servers: [server.url], name: 'test', log, publishing: true });
  await ensureTopology(nc, { replicas: 1 });
  const url = await testDatabase();
  const sql = await migratedDatabase(url);
  const s = { server, nc, sql, url, services: [] };
  running.push(s);
  return s;
}

async function snapshotter(s: Setup, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const p = await startService('snapshotter', {
    NATS_URL: s.server.url,
    DATABASE_URL: s.url,
    METRICS_PORT: '0',
    SNAPSHOT_INTERVAL_MS: String(INTERVAL_MS),
    BATCH_MAX: '100',
    BATCH_MS: '50',
    ...env,
  });
  s.services.push(p);
  return p;
}

function stream(count: number, seed: number): Normalized[] {
  return generateNormalized({
    products: PRODUCTS,
    count,
    seed,
    startUs: Date.UTC(2024, 0, 1) * 1000,
    stepUs: 150_000,
  });
}

/** Publishes in chunks and returns the messages with their stream sequences. */
async function publish(
  nc: NatsConnection,
  msgs: Normalized[],
  srcBase: number,
): Promise<Offsetted[]> {
  const seqs = await publishNormalized(nc, msgs, srcBase);
  // Stream order is the truth: a retried publish may land after a later one of another subject.
  return msgs.map((msg, i) => ({ msg, offset: seqs[i] ?? 0 })).sort((a, b) => a.offset - b.offset);
}

describe('snapshotter', () => {
  it('writes every message exactly once across a kill -9 mid-stream and a restart', async () => {
    const s = await setup();
    const msgs = stream(4_500, 7);
    const published: Offsetted[] = await publish(s.nc, msgs.slice(0, 1_500), 0);
    const first = await snapshotter(s);
    // Keep publishing while it works; kill it in the middle of the stream.
    const more = publish(s.nc, msgs.slice(1_500, 3_000), 1_500);
    await waitFor('some commits', async () => (await checkpointOf(s.sql)) > 1_000, {
      timeoutMs: 20_000,
    });
    await first.kill();
    const atKill = await checkpointOf(s.sql);
    published.push(...(await more));
    const last = published.at(-1)?.offset ?? 0;
    expect(atKill, 'killed mid-stream').toBeLessThan(last);
    published.push(...(await publish(s.nc, msgs.slice(3_000), 3_000)));
    await snapshotter(s);
    await waitForCheckpoint(s.sql, published.at(-1)?.offset ?? 0);
    await expectDatabaseMatches(s.sql, published, INTERVAL_MS * 1000);
    console.log(`killed at checkpoint ${String(atKill)} of ${String(published.length)} messages`);
  });

  it('on SIGTERM commits and acks what it holds, then exits cleanly', async () => {
    const s = await setup();
    const published = await publish(s.nc, stream(1_200, 8), 0);
    const p = await snapshotter(s, {
      BATCH_MS: '2000',
      BATCH_MAX: '5000',
      MAX_ACK_PENDING: '5000',
    });
    // One big batch window: SIGTERM arrives while messages are in hand, uncommitted.
    const jsm = await jetstreamManager(s.nc);
    await waitFor('messages in hand', async () => {
      const c = await jsm.consumers.info('MD_NORM', 'snapshotter').catch(() => undefined);
      return c !== undefined && c.num_ack_pending > 0;
    });
    const before = await checkpointOf(s.sql);
    await p.stop();
    const exit = await p.proc.exited;
    expect(exit.code, p.logTail()).toBe(0);
    const after = await checkpointOf(s.sql);
    expect(after).toBeGreaterThan(before);
    const c = await jsm.consumers.info('MD_NORM', 'snapshotter');
    // Acked up to the checkpoint; still pending only what arrived after it stopped pulling.
    expect(c.ack_floor.stream_seq, 'everything committed was acked').toBe(after);
    expect(c.num_ack_pending).toBe(c.delivered.stream_seq - after);
    // A restart finishes the rest exactly once.
    await snapshotter(s);
    await waitForCheckpoint(s.sql, published.at(-1)?.offset ?? 0);
    await expectDatabaseMatches(s.sql, published, INTERVAL_MS * 1000);
  });
});

describe('snapshotter and its durable', () => {
  it('resumes right after the checkpoint when its durable was deleted', async () => {
    const s = await setup();
    const published = await publish(s.nc, stream(800, 31), 0);
    const first = await snapshotter(s);
    await waitForCheckpoint(s.sql, published.at(-1)?.offset ?? 0);
    await first.stop();
    const checkpoint = await checkpointOf(s.sql);
    await (await jetstreamManager(s.nc)).consumers.delete('MD_NORM', 'snapshotter');
    published.push(...(await publish(s.nc, stream(1_600, 31).slice(800), 800)));
    const second = await snapshotter(s);
    await waitForCheckpoint(s.sql, published.at(-1)?.offset ?? 0);
    expect(second.logTail(50)).toContain(`"startSeq":${String(checkpoint + 1)}`);
    await expectDatabaseMatches(s.sql, published, INTERVAL_MS * 1000);
  });

  it('re-reads the stream into a database that lost commits (its durable is ahead)', async () => {
    const s = await setup();
    const published = await publish(s.nc, stream(800, 32), 0);
    const first = await snapshotter(s);
    await waitForCheckpoint(s.sql, published.at(-1)?.offset ?? 0);
    await first.stop();
    // A database restored from before any of it: empty, checkpoint 0.
    await s.sql`truncate trades, gaps, snapshots, latest_state, candles_1m, consumer_checkpoints`;
    const second = await snapshotter(s);
    await waitForCheckpoint(s.sql, published.at(-1)?.offset ?? 0);
    expect(second.logTail(50)).toContain('durable is ahead of the database checkpoint');
    await expectDatabaseMatches(s.sql, published, INTERVAL_MS * 1000);
  });

  it('stays not ready when MD_NORM is behind the checkpoint (the stream was re-created)', async () => {
    const s = await setup();
    await s.sql`insert into consumer_checkpoints (consumer, stream, last_seq) values ('snapshotter', 'MD_NORM', 1000)`;
    const p = await snapshotter(s);
    await waitFor('the reason in the log', () =>
      p.logTail(20).includes('the stream was re-created'),
    );
    expect(p.proc.running()).toBe(true);
  });
});
