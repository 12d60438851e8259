/**
 * The permission table (services/common/permissions.ts) against its copies and its users:
 * the docs table says the same, the rendered config is one nats-server 2.9 accepts (also
 * with passwords from the server's environment, as Kubernetes gives them), and no
 * wildcard crept in beyond the listed ones.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import {
  DOC_SHARDS,
  NATS_USERS,
  PERMISSION_DOC_HEADER,
  natsPermissionTable,
  passwordEnvName,
  permissionDocRows,
} from '../../services/common/permissions.js';
import { deploymentAuthorization } from '../../services/common/gen-nats-auth.js';
import { natsServerBinary } from '../harness/binaries.js';
import { freePort } from '../harness/free-port.js';
import { makeTempDir, spawnTracked, stopProcess } from '../harness/processes.js';
import { waitFor } from '../harness/wait.js';

const run = promisify(execFile);
const DOC = path.resolve(import.meta.dirname, '../../docs/architecture.md');

/** The markdown table whose header is the permission table's, as rows of trimmed cells. */
function docTable(text: string): string[][] {
  const lines = text.split('\n');
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((c) => c.trim());
  const start = lines.findIndex(
    (l) => l.startsWith('|') && cells(l).join('|') === PERMISSION_DOC_HEADER.join('|'),
  );
  if (start < 0) throw new Error('docs/architecture.md has no NATS permission table');
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(cells(line));
  }
  return rows;
}

describe('the NATS permission table', () => {
  it('docs/architecture.md shows it as services/common/permissions.ts defines it', async () => {
    const doc = docTable(await readFile(DOC, 'utf8'));
    expect(doc).toEqual(permissionDocRows(natsPermissionTable(DOC_SHARDS)));
  });

  it('has one user per service and command that talks to NATS', () => {
    expect(natsPermissionTable([0]).map((p) => p.user)).toEqual([...NATS_USERS]);
  });

  it('uses no wildcard beyond the listed ones', () => {
    const wild = natsPermissionTable([0, 1]).flatMap((p) =>
      [...p.publish, ...p.subscribe]
        .filter((s) => s.split('.').some((t) => t === '*' || t === '>'))
        .map((s) => `${p.user} ${s}`),
    );
    expect(wild).toEqual([
      'migrate _INBOX.>',
      'ingestor md.raw.>',
      'ingestor md.dlq.>',
      'ingestor _INBOX.>',
      'normalizer md.norm.>',
      'normalizer md.dlq.>',
      'normalizer $KV.LF_SEQ.>',
      'normalizer $JS.API.CONSUMER.CREATE.MD_RAW.normalizer-0.>',
      'normalizer $JS.ACK.MD_RAW.normalizer-0.>',
      'normalizer $JS.API.CONSUMER.CREATE.MD_RAW.normalizer-1.>',
      'normalizer $JS.ACK.MD_RAW.normalizer-1.>',
      'normalizer _INBOX.>',
      'snapshotter $JS.API.CONSUMER.CREATE.MD_NORM.snapshotter.>',
      'snapshotter $JS.ACK.MD_NORM.snapshotter.>',
      'snapshotter _INBOX.>',
      'gateway $JS.API.CONSUMER.CREATE.MD_NORM.>',
      'gateway $JS.API.CONSUMER.INFO.MD_NORM.>',
      'gateway $JS.API.CONSUMER.DELETE.MD_NORM.>',
      'gateway $JS.API.CONSUMER.MSG.NEXT.MD_NORM.>',
      'gateway $JS.API.DIRECT.GET.MD_NORM.>',
      'gateway _INBOX.>',
      'dlq md.raw.>',
      'dlq $JS.API.CONSUMER.CREATE.MD_DLQ.>',
      'dlq $JS.API.CONSUMER.INFO.MD_DLQ.>',
      'dlq $JS.API.CONSUMER.DELETE.MD_DLQ.>',
      'dlq $JS.API.CONSUMER.MSG.NEXT.MD_DLQ.>',
      'dlq _INBOX.>',
    ]);
  });

  it('renders a config nats-server 2.9 accepts, with passwords from its environment', async () => {
    const dir = await makeTempDir('lf-perm-');
    const conf = path.join(dir, 'nats.conf');
    const text = deploymentAuthorization(2);
    expect(text).not.toMatch(/password: "/);
    await writeFile(conf, `listen: 127.0.0.1:-1\nmax_payload: 8MB\n${text}`);
    const env = Object.fromEntries(NATS_USERS.map((u) => [passwordEnvName(u), `pw-${u}`]));
    const check = (e: NodeJS.ProcessEnv) =>
      run(natsServerBinary(), ['-t', '-c', conf], { env: e }).then(
        (r) => `ok ${r.stdout}${r.stderr}`,
        (err: unknown) => String(err),
      );
    expect(await check({ ...process.env, ...env })).toMatch(
      /^ok .*configuration file .* is valid/s,
    );
    // A missing password is an error at start, not an open door.
    const { NATS_PASSWORD_GATEWAY: _, ...missing } = env;
    expect(await check({ ...process.env, ...missing })).toMatch(/NATS_PASSWORD_GATEWAY/);

    // And the server started so logs the users in with those passwords.
    const port = await freePort();
    await writeFile(conf, `listen: 127.0.0.1:${String(port)}\nmax_payload: 8MB\n${text}`);
    const proc = spawnTracked({
      name: 'nats-server (env passwords)',
      command: natsServerBinary(),
      args: ['-c', conf],
      logFile: path.join(dir, 'nats.log'),
      env: { ...process.env, ...env },
    });
    try {
      const login = (pass: string) =>
        connect({ servers: `127.0.0.1:${String(port)}`, user: 'gateway', pass }).then(
          async (nc) => {
            await nc.close();
            return 'ok';
          },
          (err: unknown) => String(err),
        );
      await waitFor('the server', async () => (await login('pw-gateway')) === 'ok', {
        timeoutMs: 10_000,
      });
      expect(await login('pw-ingestor')).toMatch(/authorization/i);
    } finally {
      await stopProcess(proc, 'SIGTERM');
    }
  });
});
