/**
 * Least privilege (issue 15), against the real servers: the pipeline runs with one NATS
 * user per service (permissions from services/common/permissions.ts) and its own database
 * login per service, and works end to end (simulator → PostgreSQL and → a WebSocket
 * client, with a normalizer and a snapshotter restart on the way, which exercise the
 * restore, resync and durable re-create paths). Then each credential is tried on what is
 * not its job, and every log line of the run is searched for the configured secrets.
 */
import { readFile } from 'node:fs/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/common/logger.js';
import { connectNats } from '../../services/common/nats.js';
import { startPipeline, TEST_REORDER_WINDOW_MS, type Pipeline } from '../harness/pipeline.js';
import { FeedClient } from '../harness/feed-client.js';
import { startService, type ServiceProcess } from '../harness/service.js';
import { waitFor } from '../harness/wait.js';
import type { NatsUser } from '../../services/common/permissions.js';

const PRODUCTS = ['BTC-USD', 'ETH-USD'];
const log = createLogger('test', 'silent');
// nats-server logs "Publish Violation"; clients get "Permissions Violation for …".
const VIOLATION = /violation/i;

let p: Pipeline;
const opened: NatsConnection[] = [];
/** The nats-server log, read before the server (and its temp dir) goes away. */
let serverLog = '';
/** Every log line of the run, read before the processes' temp dirs go away. */
let runLogs: string[] = [];

function secure(): NonNullable<Pipeline['secure']> {
  if (p.secure === undefined) throw new Error('the pipeline was not started secure');
  return p.secure;
}

async function connectAs(user: NatsUser): Promise<NatsConnection> {
  const login = secure().nats.users[user];
  const nc = await connectNats({
    servers: [p.server.url],
    name: `probe-${user}`,
    log,
    user: login.user,
    pass: login.password,
  });
  opened.push(nc);
  return nc;
}

async function messagesIn(stream: string): Promise<number> {
  const jsm = await jetstreamManager(p.nc);
  return (await jsm.streams.info(stream)).state.messages;
}

beforeAll(async () => {
  // Malformed frames fill MD_DLQ (the ingestor's DLQ rights, then `ledgerflux dlq list`).
  p = await startPipeline(
    PRODUCTS,
    { rate: 100, faults: { drop: { p: 0.02 }, malformed: { p: 0.01 } } },
    { secure: true },
  );
});

afterAll(async () => {
  await Promise.all(opened.map((nc) => nc.close().catch(() => undefined)));
  await p.stop();
});

describe('with one NATS user and one database login per service', () => {
  it('the whole pipeline works: simulator → PostgreSQL and → a WebSocket client, across restarts', async () => {
    const ws = await FeedClient.connect(`ws://127.0.0.1:${String(p.gateway.port)}/ws`);
    try {
      // `from` reads history through a short-lived consumer, then live.
      ws.send({
        op: 'subscribe',
        channels: ['trades', 'ticker', 'book'],
        products: PRODUCTS,
        from: { 'BTC-USD': 0 },
      });
      const trades = () =>
        ws.frames.filter((f) => f.op === 'update' && f.channel === 'trades').length;
      await waitFor('trades at the WebSocket client', () => trades() > 20, { timeoutMs: 60_000 });
      const rows = async () =>
        Number((await p.sql<{ n: string }[]>`select count(*)::text as n from trades`)[0]?.n);
      await waitFor('trades in PostgreSQL', async () => (await rows()) > 20, { timeoutMs: 60_000 });

      // Restarts: the normalizer restores from MD_NORM and LF_SEQ and asks the ingestor
      // for resyncs; the snapshotter re-creates its durable from the ack floor.
      const restart = async (i: 0 | 1, command: string, env: Record<string, string>) => {
        const old = p.services[i];
        await old?.kill();
        if (old !== undefined) runLogs.push(...(await readFile(old.logFile, 'utf8')).split('\n'));
        const s: ServiceProcess = await startService(command, env);
        p.services[i] = s;
      };
      const sec = secure();
      await restart(0, 'normalizer', {
        ...sec.nats.env('normalizer'),
        NATS_URL: p.server.url,
        PRODUCTS: PRODUCTS.join(','),
        SHARDS: '1',
        SHARD: '0',
        METRICS_PORT: '0',
        REORDER_WINDOW_MS: TEST_REORDER_WINDOW_MS,
      });
      await restart(1, 'snapshotter', {
        ...sec.nats.env('snapshotter'),
        NATS_URL: p.server.url,
        DATABASE_URL: sec.snapshotterDbUrl,
        METRICS_PORT: '0',
        BATCH_MS: '100',
      });
      const [beforeWs, beforeDb] = [trades(), await rows()];
      await waitFor('trades at the client after the restarts', () => trades() > beforeWs + 20, {
        timeoutMs: 60_000,
      });
      await waitFor('rows after the restarts', async () => (await rows()) > beforeDb + 20, {
        timeoutMs: 60_000,
      });
      await waitFor(
        'a book after the resync',
        () =>
          ws.frames.some((f) => f.channel === 'book' && (f.op === 'update' || f.op === 'snapshot')),
        { timeoutMs: 60_000 },
      );

      // REST: current state by direct get on MD_NORM, history from PostgreSQL.
      const current = await fetch(`${p.gateway.base}/v1/products/BTC-USD`);
      expect(current.status).toBe(200);
      expect(await current.text()).toMatch(/"trade_id"/);
      const history = await fetch(
        `${p.gateway.base}/v1/products/BTC-USD/trades?from_id=0&to_id=999999999999&limit=10`,
      );
      expect(history.status).toBe(200);
      expect(((await history.json()) as { trades: unknown[] }).trades.length).toBeGreaterThan(0);

      // The operator's DLQ tool with its own user, once the ingestor has filed something.
      await waitFor('an entry in MD_DLQ', async () => (await messagesIn('MD_DLQ')) > 0, {
        timeoutMs: 60_000,
      });
      const dlq = await startService('dlq', { ...sec.nats.env('dlq'), NATS_URL: p.server.url }, [
        'list',
      ]);
      const exit = await dlq.proc.exited;
      expect(exit.code, dlq.logTail()).toBe(0);
      expect(dlq.logTail()).toMatch(/unparsable/);
      // Not a log of the run: the proc's temp dir holds it; read it with the others.
      runLogs.push(...(await readFile(dlq.logFile, 'utf8')).split('\n'));
    } catch (err) {
      // What the server refused is the likely cause of a stuck pipeline: say it first.
      const text = await readFile(p.server.logFile, 'utf8');
      const refused = text.split('\n').filter((l) => VIOLATION.test(l));
      throw new Error(
        `${String(err)}\nrefused by nats-server:\n${refused.slice(0, 40).join('\n')}`,
        {
          cause: err,
        },
      );
    } finally {
      ws.ws.close();
    }
    serverLog = await readFile(p.server.logFile, 'utf8');
    runLogs.push(...(await p.logs()));
    // Nothing any service did was refused: the permissions are enough for every job.
    const refused = serverLog.split('\n').filter((l) => VIOLATION.test(l));
    expect(refused, 'nats-server refused a service').toEqual([]);
    expect(runLogs.filter((l) => VIOLATION.test(l))).toEqual([]);
  });

  it('the gateway cannot publish into md.raw nor create a stream', async () => {
    const nc = await connectAs('gateway');
    const before = await messagesIn('MD_RAW');
    await expect(
      jetstream(nc, { timeout: 2_000 }).publish('md.raw.coinbase.0.BTC-USD', 'forged'),
    ).rejects.toThrow(VIOLATION);
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    await expect(jsm.streams.add({ name: 'EVIL', subjects: ['evil.>'] })).rejects.toThrow(
      VIOLATION,
    );
    await expect(jsm.streams.delete('MD_NORM')).rejects.toThrow(VIOLATION);
    // Nor touch the snapshotter's durable on MD_NORM, although it may create consumers there.
    await expect(jsm.consumers.delete('MD_NORM', 'snapshotter')).rejects.toThrow(VIOLATION);
    const admin = await jetstreamManager(p.nc);
    await expect(admin.streams.info('EVIL')).rejects.toThrow(/stream not found/i);
    expect((await admin.consumers.info('MD_NORM', 'snapshotter')).name).toBe('snapshotter');
    // The ingestor keeps writing, so MD_RAW grows; none of it is the forged frame.
    expect(await messagesIn('MD_RAW')).toBeGreaterThanOrEqual(before);
    const last = await admin.streams.getMessage('MD_RAW', {
      last_by_subj: 'md.raw.coinbase.0.BTC-USD',
    });
    expect(last?.string()).not.toBe('forged');
  });

  it('the ingestor cannot read MD_NORM', async () => {
    const nc = await connectAs('ingestor');
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    await expect(
      jsm.direct.getMessage('MD_NORM', { last_by_subj: 'md.norm.coinbase.BTC-USD.trade' }),
    ).rejects.toThrow(VIOLATION);
    await expect(jsm.streams.getMessage('MD_NORM', { seq: 1 })).rejects.toThrow(VIOLATION);
    await expect(jsm.consumers.add('MD_NORM', { name: 'peek' })).rejects.toThrow(VIOLATION);
    // A core subscription to the stream's subjects is refused by the server too.
    const refused = new Promise<unknown>((resolve) => {
      const sub = nc.subscribe('md.norm.>', {
        callback: (err) => {
          resolve(err);
        },
      });
      void sub.closed.then(() => {
        resolve(new Error('closed without an error'));
      });
    });
    expect(String(await refused)).toMatch(VIOLATION);
  });

  it("the gateway's database login can read but not write; the snapshotter's cannot change the schema", async () => {
    const sec = secure();
    const gw = postgres(sec.gatewayDbUrl, { max: 1, onnotice: () => undefined });
    const snap = postgres(sec.snapshotterDbUrl, { max: 1, onnotice: () => undefined });
    try {
      expect(
        Number((await gw<{ n: string }[]>`select count(*)::text as n from trades`)[0]?.n),
      ).toBeGreaterThan(0);
      // Not read-only sessions here (the gateway's pool sets that too): the role itself refuses.
      await expect(gw`delete from trades`).rejects.toThrow(/permission denied/);
      await expect(gw`update consumer_checkpoints set last_seq = 0`).rejects.toThrow(
        /permission denied/,
      );
      await expect(gw`create table evil (x int)`).rejects.toThrow(/permission denied/);
      await expect(snap`create table evil (x int)`).rejects.toThrow(/permission denied/);
      await expect(snap`drop table trades`).rejects.toThrow(/must be owner/);
      await expect(snap`delete from schema_migrations`).rejects.toThrow(/permission denied/);
      // What the snapshotter's job needs, it has.
      await snap.begin(async (tx) => {
        await tx`update consumer_checkpoints set updated_at = now() where false`;
        await tx`delete from gaps where false`;
      });
    } finally {
      await gw.end({ timeout: 1 });
      await snap.end({ timeout: 1 });
    }
  });

  it('a wrong password is refused, and the error does not show it', async () => {
    const guess = 'not-the-password-7d1c';
    const err = await connectNats({
      servers: [p.server.url],
      name: 'wrong',
      log,
      user: 'gateway',
      pass: guess,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    const text = `${String(err)} ${JSON.stringify(err)} ${String((err as Error).cause)}`;
    expect(text).toMatch(/authorization/i);
    expect(text).not.toContain(guess);
  });

  it('no configured secret appears in any log line of the run or in the server log', async () => {
    // Services that fail on a credential or a setting say why: in words, not with the secret.
    const sec = secure();
    const wrong = `wrong-${sec.nats.users.snapshotter.password.slice(0, 6)}-pw`;
    const badDb = new URL(sec.snapshotterDbUrl);
    const failing = [
      // A wrong NATS password: the service keeps retrying and logging.
      await startService('snapshotter', {
        NATS_URL: p.server.url,
        NATS_USER: 'snapshotter',
        NATS_PASSWORD: wrong,
        DATABASE_URL: sec.snapshotterDbUrl,
        METRICS_PORT: '0',
      }),
      // A config error on a URL holding a password: exit 2, every bad variable named.
      await startService('gateway', {
        ...sec.nats.env('gateway'),
        NATS_URL: p.server.url,
        DATABASE_URL: `mysql://${badDb.username}:${badDb.password}@127.0.0.1/x`,
        GATEWAY_PORT: '0',
      }),
    ];
    await waitFor(
      'the failing services to say why',
      async () => {
        const texts = await Promise.all(failing.map((f) => readFile(f.logFile, 'utf8')));
        return texts.every((t) => /authorization|invalid configuration/i.test(t));
      },
      { timeoutMs: 30_000 },
    );
    for (const f of failing) {
      await f.stop();
      runLogs.push(...(await readFile(f.logFile, 'utf8')).split('\n'));
    }
    runLogs = runLogs.filter((l) => l.trim() !== '');
    // Every service of the run is in the search.
    for (const service of ['ingestor', 'normalizer', 'snapshotter', 'gateway'])
      expect(
        runLogs.some((l) => l.includes(`"service":"${service}"`)),
        service,
      ).toBe(true);
    expect(runLogs.some((l) => /DATABASE_URL/.test(l))).toBe(true);
    const secrets = [...sec.secrets(), wrong];
    expect(secrets.length).toBeGreaterThanOrEqual(8);
    for (const s of secrets) {
      expect(runLogs.filter((l) => l.includes(s))).toEqual([]);
      expect(serverLog.includes(s), 'nats-server log').toBe(false);
    }
    // The search finds a secret where there is one (the test can fail).
    expect(
      [...runLogs, `x${secrets[0] ?? ''}`].some((l) => secrets.some((s) => l.includes(s))),
    ).toBe(true);
  });
});
