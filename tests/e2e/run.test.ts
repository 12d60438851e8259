/**
 * `ledgerflux run --sim` (what `make demo` runs) from a fresh checkout inside a 0700
 * directory: infrastructure, migrate and every service come up, live data flows, and a
 * Ctrl-C (SIGINT) leaves no process and no port behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureOutput } from '../harness/processes.js';
import { waitFor } from '../harness/wait.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => {
      resolve(false);
    });
    s.listen(port, '127.0.0.1', () =>
      s.close(() => {
        resolve(true);
      }),
    );
  });
}

/** Pids whose command line mentions `needle` (the clone's path, or its PostgreSQL data dir). */
function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // Zombies (state Z) hold no port and no resource: the machine's init reaps them late.
      if (cmd.includes(needle) && !/^\d+ \(.*\) Z/.test(stat)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('ledgerflux run --sim', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'lf-home-'));
  chmodSync(home, 0o700);
  const clone = path.join(home, 'ledgerflux');
  let run: ChildProcess | undefined;
  let pgData: string | undefined;

  afterAll(async () => {
    // A failed test leaves `run` up: Ctrl-C it, then kill whatever of it is still there.
    if (run !== undefined && run.exitCode === null && run.signalCode === null) {
      const gone = new Promise((resolve) => run?.once('exit', resolve));
      run.kill('SIGINT');
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    }
    for (const pid of [...processesMentioning(clone), ...processesMentioning(pgData ?? clone)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(home, { recursive: true, force: true });
    // As root the cluster lives in /var/lib/ledgerflux/<hash of the checkout>/data.
    if (pgData?.startsWith('/var/lib/ledgerflux/') === true)
      rmSync(path.dirname(pgData), { recursive: true, force: true });
  });

  it('comes up from a clone in a 0700 directory, moves prices, and Ctrl-C leaves nothing behind', async () => {
    // A copy of the working tree as a clone would have it (sources, no build, no data).
    execFileSync('mkdir', ['-p', clone]);
    for (const f of [
      'services',
      'package.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'Makefile',
    ]) {
      execFileSync('cp', ['-r', path.join(ROOT, f), clone]);
    }
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'));
    // What `make demo` builds before it runs: the page's bundle (the services run from sources here).
    execFileSync(process.execPath, ['--import', 'tsx', 'services/gateway/web/build.ts'], {
      cwd: clone,
    });
    run = spawn(
      process.execPath,
      ['--import', 'tsx', 'services/cli.ts', 'run', '--sim', '--products', 'BTC-USD,ETH-USD'],
      {
        cwd: clone,
        env: { ...process.env, LOG_LEVEL: 'info', NATS_URL: '', DATABASE_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const { lines: output, text, exited } = captureOutput(run);

    // Every service starts from sources through tsx: on a loaded 2-core machine the
    // whole start (nats-server, initdb, migrate, five services) has taken over a minute.
    await waitFor('the feed to connect', () => text().includes('✓ feed connected'), {
      timeoutMs: 150_000,
    }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n--- ledgerflux run said:\n${output.slice(-60).join('\n')}`);
    });
    const nats = /nats-server on 127\.0\.0\.1:(\d+)/.exec(text());
    const pg = /PostgreSQL on 127\.0\.0\.1:(\d+) \(data in (\S+)\)/.exec(text());
    expect(nats, text()).not.toBeNull();
    expect(pg, text()).not.toBeNull();
    pgData = pg?.[2];
    // As root, PostgreSQL's data lives outside the 0700 checkout, where its user can reach it.
    if (process.getuid?.() === 0) expect(pg?.[2]).toMatch(/^\/var\/lib\/ledgerflux\//);
    // Trades reach the normalizers (the gateway and snapshotter checks join when they land).
    const metricsPort = /metrics +http:\/\/127\.0\.0\.1:(\d+)\/metrics \(ingestor\)/.exec(
      text(),
    )?.[1];
    await waitFor(
      'trades into MD_RAW',
      async () => {
        const m = await (await fetch(`http://127.0.0.1:${String(metricsPort)}/metrics`)).text();
        return (
          Number(/^ledgerflux_ingestor_frames_total\{type="match"\} (\d+)/m.exec(m)?.[1] ?? 0) > 5
        );
      },
      { timeoutMs: 60_000 },
    );

    // The page is served, and REST shows prices that move as the simulator trades.
    const page = /page +(http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(text());
    expect(page, text()).not.toBeNull();
    const pageUrl = page?.[1] ?? '';
    // The gateway may still be starting when the feed connects.
    const html = await waitFor(
      'the page',
      async () => {
        const r = await fetch(pageUrl);
        return r.ok ? r.text() : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(html).toContain('LedgerFlux');
    const lastPrice = async () => {
      const r = (await (await fetch(`${pageUrl}v1/products/BTC-USD`)).json()) as {
        last_trade?: { price?: string; trade_id?: string } | null;
      };
      return r.last_trade?.trade_id;
    };
    const first = await waitFor('a BTC-USD trade over REST', lastPrice, { timeoutMs: 30_000 });
    await waitFor(
      'a newer BTC-USD trade over REST',
      async () => ((await lastPrice()) ?? first) !== first,
      { timeoutMs: 30_000 },
    );

    run.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(text()).toContain('stopped; no process left behind');
    await waitFor(
      'every child gone',
      () =>
        processesMentioning(clone).length === 0 &&
        processesMentioning(pg?.[2] ?? clone).length === 0,
      { timeoutMs: 15_000 },
    );
    for (const port of [nats?.[1], pg?.[1], metricsPort, page?.[2]])
      expect(await portFree(Number(port)), `port ${String(port)}`).toBe(true);
  }, 360_000);
});

describe('ledgerflux run against an unreachable feed', () => {
  it('says so within seconds and suggests make demo', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => {
          resolve(port);
        });
      });
    });
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'lf-unreachable-'));
    const run = spawn(
      process.execPath,
      [
        // By URL: the children get the same flag and start in the scratch directory.
        '--import',
        import.meta.resolve('tsx'),
        path.join(ROOT, 'services/cli.ts'),
        'run',
        '--feed-url',
        `ws://127.0.0.1:${String(closed)}`,
        '--products',
        'BTC-USD',
        '--shards',
        '1',
      ],
      {
        // Its own directory: `run` keeps its data under the working directory, and data
        // left by another run there (other shard counts) must not change this one.
        cwd: scratch,
        env: { ...process.env, NATS_URL: '', DATABASE_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const { lines, exited } = captureOutput(run);
    try {
      await waitFor(
        'the unreachable-feed report and its advice',
        () =>
          lines.some((l) => l.includes('could not be reached')) &&
          lines.some((l) => l.includes('make demo')),
        { timeoutMs: 60_000 },
      );
    } finally {
      run.kill('SIGINT');
      expect(await exited).toBe(0);
      rmSync(scratch, { recursive: true, force: true });
      // As root the cluster lives in /var/lib/ledgerflux/<hash of the directory>/data.
      const pgData = /PostgreSQL on \S+ \(data in (\S+)\)/.exec(lines.join('\n'))?.[1];
      if (pgData?.startsWith('/var/lib/ledgerflux/') === true)
        rmSync(path.dirname(pgData), { recursive: true, force: true });
    }
  });
});
