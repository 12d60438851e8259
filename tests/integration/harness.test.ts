import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import postgres from 'postgres';
import { afterEach, describe, expect, test } from 'vitest';
import { testDatabase } from '../harness/db.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { startPostgres } from '../harness/postgres.js';
import { killAll, trackedProcesses } from '../harness/processes.js';

/** Linux process state letter from /proc (R, S, T = stopped, Z = zombie), undefined if gone. */
function procState(pid: number): string | undefined {
  try {
    return /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** A zombie counts as dead: orphans may wait for a pid 1 that never reaps them. */
function alive(pid: number): boolean {
  const state = procState(pid);
  return state !== undefined && state !== 'Z';
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function requirePid(server: { pid(): number | undefined }): number {
  const pid = server.pid();
  if (pid === undefined) throw new Error('server is not running');
  return pid;
}

describe('nats-server', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function started(opts?: Parameters<typeof startNats>[0]): Promise<NatsServer> {
    const t0 = performance.now();
    const server = await startNats(opts);
    console.info(`startNats ready in ${Math.round(performance.now() - t0)} ms`);
    cleanups.push(() => server.stop());
    return server;
  }

  async function connected(server: NatsServer): Promise<NatsConnection> {
    const nc = await connect({ servers: server.url, reconnect: false });
    cleanups.push(() => nc.close());
    return nc;
  }

  test('starts with JetStream and an 8 MiB max_payload by default', async () => {
    const server = await started();
    const nc = await connected(server);
    expect(nc.info?.max_payload).toBe(8_388_608);
    expect(nc.info?.jetstream).toBe(true);
    const account = await (await jetstreamManager(nc)).getAccountInfo();
    expect(account.limits.max_storage).not.toBe(0);
  });

  test('honours maxPayload', async () => {
    const server = await started({ maxPayload: '1MB' });
    const nc = await connected(server);
    expect(nc.info?.max_payload).toBe(1_048_576);
  });

  test('kill -9 then restart keeps the JetStream store and the port', async () => {
    const server = await started();
    let nc = await connect({ servers: server.url, reconnect: false });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'HARNESS', subjects: ['harness.>'] });
    const ack = await jetstream(nc).publish('harness.a', 'kept');
    await nc.close();
    const oldPid = requirePid(server);

    await server.kill();
    expect(alive(oldPid)).toBe(false);
    expect(server.pid()).toBeUndefined();
    expect(existsSync(server.storeDir)).toBe(true);

    await server.restart();
    expect(server.pid()).not.toBe(oldPid);
    nc = await connect({ servers: server.url, reconnect: false });
    cleanups.push(() => nc.close());
    const msg = await (await jetstreamManager(nc)).streams.getMessage('HARNESS', { seq: ack.seq });
    expect(msg?.string()).toBe('kept');
  });

  test('pause stops the process, resume continues it', async () => {
    const server = await started();
    const pid = requirePid(server);
    server.pause();
    await until('state T after SIGSTOP', () => procState(pid) === 'T');
    server.resume();
    await until('running after SIGCONT', () => procState(pid) !== 'T');
    const nc = await connected(server);
    await expect(nc.rtt()).resolves.toBeGreaterThanOrEqual(0);
  });

  test('stop() ends the process and removes its directory', async () => {
    const server = await startNats();
    const pid = requirePid(server);
    await server.stop();
    expect(alive(pid)).toBe(false);
    expect(existsSync(server.storeDir)).toBe(false);
  });

  test('startNats({ jetstream: false }) serves core NATS only', async () => {
    const server = await started({ jetstream: false });
    const nc = await connected(server);
    expect(nc.info?.jetstream ?? false).toBe(false);
  });
});

describe('PostgreSQL', () => {
  test('testDatabase() gives usable, distinct databases in the shared cluster', async () => {
    const [urlA, urlB] = await Promise.all([testDatabase(), testDatabase()]);
    expect(urlA).not.toBe(urlB);
    const a = postgres(urlA, { max: 1 });
    const b = postgres(urlB, { max: 1 });
    try {
      expect(await a`select 1 as one`).toEqual([{ one: 1 }]);
      await a`create table only_in_a (id int)`;
      const [nameA] = await a<{ db: string }[]>`select current_database() as db`;
      const [nameB] = await b<{ db: string }[]>`select current_database() as db`;
      expect(nameA?.db).not.toBe(nameB?.db);
      const [found] = await b<{ t: string | null }[]>`select to_regclass('only_in_a')::text as t`;
      expect(found?.t).toBeNull();
    } finally {
      await Promise.all([a.end(), b.end()]);
    }
  });

  test('a private cluster: createDatabase, kill -9 + restart keeps committed rows, stop() ends it', async () => {
    const t0 = performance.now();
    const cluster = await startPostgres();
    console.info(`startPostgres ready in ${Math.round(performance.now() - t0)} ms`);
    try {
      const url = await cluster.createDatabase('harness_private');
      expect(url).toBe(`postgres://postgres@127.0.0.1:${cluster.port}/harness_private`);
      let sql = postgres(url, { max: 1 });
      await sql`create table t (v text)`;
      await sql`insert into t values ('committed')`;
      await sql.end();

      // Straight after the commit: a crash must not lose what was acknowledged.
      const oldPid = requirePid(cluster);
      await cluster.kill();
      expect(alive(oldPid)).toBe(false);
      await cluster.restart();

      sql = postgres(url, { max: 1 });
      try {
        expect(await sql`select v from t`).toEqual([{ v: 'committed' }]);
      } finally {
        await sql.end();
      }
    } finally {
      const pid = requirePid(cluster);
      await cluster.stop();
      expect(alive(pid)).toBe(false);
      expect(cluster.pid()).toBeUndefined();
    }
  });

  test('createDatabase rejects names that are not plain identifiers', async () => {
    await expect(testDatabase()).resolves.toMatch(/^postgres:\/\//);
    const cluster = await startPostgres();
    try {
      await expect(cluster.createDatabase('x"; drop')).rejects.toThrow(/must match/);
    } finally {
      await cluster.stop();
    }
  });
});

describe('process registry', () => {
  test('killAll() kills every server it tracks', async () => {
    const server = await startNats();
    const pid = requirePid(server);
    expect(trackedProcesses().some((p) => p.child.pid === pid)).toBe(true);
    await killAll();
    expect(alive(pid)).toBe(false);
    expect(trackedProcesses()).toEqual([]);
  });

  test('servers die with a test process that is SIGKILLed', async () => {
    // A child test process starts a server, reports its pid and is then killed -9:
    // no exit handler can run, the kernel's parent-death signal must do the work.
    const script = [
      "import { dirname } from 'node:path';",
      "import { startNats } from './tests/harness/nats.ts';",
      'const s = await startNats();',
      'console.log(JSON.stringify({ pid: s.pid(), dir: dirname(s.storeDir) }));',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await until('child reports the server pid', () => out.endsWith('\n'), 20_000);
    const reported = JSON.parse(out) as { pid: number; dir: string };
    try {
      expect(alive(reported.pid)).toBe(true);
      child.kill('SIGKILL');
      await until('server gone after its parent died', () => !alive(reported.pid));
    } finally {
      child.kill('SIGKILL');
      await rm(reported.dir, { recursive: true, force: true });
    }
  });
});
