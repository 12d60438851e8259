/**
 * Outages: PostgreSQL killed and restarted mid-stream (private cluster), NATS restarted
 * mid-stream. The snapshotter goes not ready with the reason, holds its batch unacked,
 * retries with backoff, catches up, and every table still equals the naive models.
 */
import { readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Sql } from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import type { Normalized } from '../../services/common/schemas/normalized.js';
import { ensureTopology } from '../../services/common/topology.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { generateNormalized, publishNormalized } from '../harness/norm-stream.js';
import { startPostgres, type PgCluster } from '../harness/postgres.js';
import { startService, type ServiceProcess } from '../harness/service.js';
import { checkpointOf, migratedDatabase, waitForCheckpoint } from '../harness/snapshot-db.js';
import { waitFor } from '../harness/wait.js';
import { expectDatabaseMatches } from '../unit/snapshotter/model-db.js';
import type { Offsetted } from '../unit/snapshotter/model.js';

const log = createLogger('test', 'silent');
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
});

interface Setup {
  server: NatsServer;
  nc: NatsConnection;
  pg: PgCluster;
  sql: Sql;
  service: ServiceProcess;
  port: number;
}

async function setup(): Promise<Setup> {
  const [server, pg] = await Promise.all([startNats(), startPostgres()]);
  stops.push(
    () => server.stop(),
    () => pg.stop(),
  );
  const nc = await connectNats({ servers: [server.url], name: 'test', log, publishing: true });
  stops.push(() => nc.close());
  await ensureTopology(nc, { replicas: 1 });
  const url = await pg.createDatabase();
  const sql = await migratedDatabase(url);
  stops.push(() => sql.end({ timeout: 1 }));
  const service = await startService('snapshotter', {
    NATS_URL: server.url,
    DATABASE_URL: url,
    METRICS_PORT: '0',
    BATCH_MAX: '100',
    BATCH_MS: '50',
    DB_RETRY_MAX_MS: '300',
  });
  stops.push(() => service.stop());
  // Port 0 and the port from its log: a port chosen in advance can be taken meanwhile.
  const port = await waitFor('the probe port', () => {
    const line = readFileSync(service.logFile, 'utf8')
      .split('\n')
      .find((l) => l.includes('metricsPort'));
    return line === undefined
      ? undefined
      : (JSON.parse(line) as { metricsPort: number }).metricsPort;
  });
  return { server, nc, pg, sql, service, port };
}

function stream(count: number, seed: number): Normalized[] {
  return generateNormalized({
    products: ['BTC-USD', 'ETH-USD'],
    count,
    seed,
    startUs: Date.UTC(2024, 0, 1) * 1000,
    stepUs: 200_000,
  });
}

async function publish(
  nc: NatsConnection,
  msgs: Normalized[],
  srcBase: number,
): Promise<Offsetted[]> {
  const seqs = await publishNormalized(nc, msgs, srcBase);
  // Stream order is the truth: a retried publish may land after a later one of another subject.
  return msgs.map((msg, i) => ({ msg, offset: seqs[i] ?? 0 })).sort((a, b) => a.offset - b.offset);
}

async function readyz(port: number): Promise<{ status: number; reason?: string }> {
  const res = await fetch(`http://127.0.0.1:${String(port)}/readyz`, {
    signal: AbortSignal.timeout(2_000),
  });
  const body = (await res.json()) as { reason?: string };
  return body.reason === undefined
    ? { status: res.status }
    : { status: res.status, reason: body.reason };
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${String(port)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return Number(line?.split(' ').at(-1) ?? NaN);
}

describe('snapshotter outages', () => {
  it('PostgreSQL killed mid-stream: not ready, nothing acked, catches up exactly once when back', async () => {
    const s = await setup();
    const msgs = stream(3_000, 21);
    const published = await publish(s.nc, msgs.slice(0, 1_000), 0);
    await waitFor('ready', async () => (await readyz(s.port)).status === 200);
    await waitFor('some commits', async () => (await checkpointOf(s.sql)) > 300);
    const more = publish(s.nc, msgs.slice(1_000, 2_000), 1_000);
    await s.pg.kill();
    published.push(...(await more));
    const down = await waitFor('not ready, with the reason', async () => {
      const r = await readyz(s.port);
      return r.status === 503 && /postgres/.test(r.reason ?? '') ? r : undefined;
    });
    expect(down.reason).toMatch(/postgres unavailable/);
    published.push(...(await publish(s.nc, msgs.slice(2_000), 2_000)));
    await waitFor(
      'commit retries',
      async () => (await metric(s.port, 'ledgerflux_snapshotter_retries_total{op="commit"}')) >= 2,
    );
    await s.pg.restart();
    await waitForCheckpoint(s.sql, published.at(-1)?.offset ?? 0);
    await waitFor('ready again', async () => (await readyz(s.port)).status === 200);
    expect(s.service.proc.running(), 'the service rode out the outage').toBe(true);
    await expectDatabaseMatches(s.sql, published, 1_000_000);
    // The metrics tell the story.
    const trades = published.filter((x) => x.msg.type === 'trade').length;
    // (A commit whose answer the outage swallowed is not counted.)
    const rows = await metric(s.port, 'ledgerflux_snapshotter_rows_total{table="trades"}');
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThanOrEqual(trades);
    expect(await metric(s.port, 'ledgerflux_snapshotter_commit_seconds_count')).toBeGreaterThan(0);
    expect(
      await metric(s.port, 'ledgerflux_snapshotter_batch_size_messages_count'),
    ).toBeGreaterThan(0);
    expect(
      await metric(s.port, 'ledgerflux_snapshotter_publish_to_commit_seconds_count'),
    ).toBeGreaterThan(0);
    expect(await metric(s.port, 'ledgerflux_snapshotter_checkpoint_seq')).toBe(
      published.at(-1)?.offset,
    );
    expect(await metric(s.port, 'ledgerflux_snapshotter_postgres_up')).toBe(1);
    await waitFor(
      'lag sampled to zero',
      async () => (await metric(s.port, 'ledgerflux_snapshotter_consumer_lag_messages')) === 0,
    );
  });

  it('NATS restarted mid-stream: waits, resumes, nothing lost or doubled', async () => {
    const s = await setup();
    const msgs = stream(2_000, 22);
    const published = await publish(s.nc, msgs.slice(0, 1_000), 0);
    await waitFor('some commits', async () => (await checkpointOf(s.sql)) > 300);
    await s.server.restart();
    // Our own publisher waits for its connection rather than for PubAck timeouts.
    await waitFor('JetStream back for the test', async () => {
      await s.nc.flush();
      return (await jetstreamManager(s.nc)).streams.info('MD_NORM');
    });
    published.push(...(await publish(s.nc, msgs.slice(1_000), 1_000)));
    await waitForCheckpoint(s.sql, published.at(-1)?.offset ?? 0);
    expect(s.service.proc.running(), 'the service rode out the restart').toBe(true);
    await waitFor('ready', async () => (await readyz(s.port)).status === 200);
    await expectDatabaseMatches(s.sql, published, 1_000_000);
  });
});
