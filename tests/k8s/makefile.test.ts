import { execFile } from 'node:child_process';
import { mkdir, symlink, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { findOnPath } from '../harness/binaries.js';
import { makeTempDir } from '../harness/processes.js';
import { sharedConfig } from './env.js';
import { renderOverlay, ROOT } from './render.js';

/**
 * The Makefile's cluster targets, without a cluster: `make -n` shows the commands they
 * would run, and with tools missing from PATH each stops before doing anything, naming
 * the tool. No target here is run for real against a cluster.
 */

const run = promisify(execFile);
const MAKE = findOnPath('make') ?? '/usr/bin/make';

async function make(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(MAKE, ['--no-print-directory', '-C', ROOT, ...args], {
      env,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

/** A PATH holding only `bash` and stubs for `tools` (a stub that runs fails the test). */
async function pathWith(tools: readonly string[]): Promise<string> {
  const dir = await makeTempDir('lf-k8s-path-');
  const bin = path.join(dir, 'bin');
  await mkdir(bin);
  for (const t of tools) {
    const stub = path.join(bin, t);
    await writeFile(stub, `#!/bin/sh\necho "stub ${t} ran: $*" >&2\nexit 97\n`);
    await chmod(stub, 0o755);
  }
  await symlink('/bin/bash', path.join(bin, 'bash'));
  return bin;
}

describe('make up down status skaffold-dev', () => {
  test('make -n prints the commands a user expects, tool checks first', async () => {
    const { code, out } = await make(['-n', 'up', 'down', 'status', 'skaffold-dev']);
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    const commands = lines.filter((l) => !l.startsWith('command -v') && !l.startsWith('echo'));
    expect(commands).toEqual([
      "minikube status --format '{{.Host}}' 2>/dev/null | grep -qx Running || minikube start --cpus 4 --memory 8g --cni calico --addons ingress",
      'skaffold run',
      'skaffold delete',
      'kubectl -n ledgerflux get pods,services,ingress,hpa,pdb,pvc,jobs -o wide',
      "minikube status --format '{{.Host}}' 2>/dev/null | grep -qx Running || minikube start --cpus 4 --memory 8g --cni calico --addons ingress",
      'skaffold dev -p dev --port-forward',
    ]);
    // Each target checks its tools before its first command.
    const firstOf = (target: string) => lines.findIndex((l) => l.includes(`make ${target}:`));
    expect(firstOf('up')).toBe(0);
    expect(lines[firstOf('down') + 1]).toBe('skaffold delete');
    console.log(out);
  });

  test('PROFILE=prod deploys and removes the prod overlay', async () => {
    const { out } = await make(['-n', 'skaffold-run', 'down', 'PROFILE=prod']);
    expect(out).toMatch(/^skaffold run -p prod$/m);
    expect(out).toMatch(/^skaffold delete -p prod$/m);
  });

  test.each([
    ['up', [], 'minikube'],
    ['up', ['minikube'], 'skaffold'],
    ['up', ['minikube', 'skaffold'], 'kubectl'],
    ['skaffold-dev', ['minikube', 'kubectl'], 'skaffold'],
    ['status', [], 'kubectl'],
    ['compose-up', ['skaffold', 'kubectl'], 'minikube'],
    ['grafana', ['minikube', 'skaffold'], 'kubectl'],
    ['k8s-secrets', ['minikube', 'skaffold'], 'kubectl'],
  ] as const)(
    'make %s with only %j on PATH stops early, naming %s',
    async (target, tools, missing) => {
      const bin = await pathWith(tools);
      const { code, out } = await make([target], { PATH: bin, HOME: process.env.HOME });
      expect(code).not.toBe(0);
      expect(out).toContain(`make ${target}: ${missing} is missing; install it:`);
      expect(out).not.toContain('stub'); // nothing ran
    },
  );

  test("make k8s-nats-auth renders each overlay's auth.conf for that overlay's SHARDS", async () => {
    const { code, out } = await make(['-n', 'k8s-nats-auth']);
    expect(code).toBe(0);
    const shards = async (overlay: 'dev' | 'prod') =>
      sharedConfig(await renderOverlay(overlay)).SHARDS;
    const gen = 'node --import tsx services/common/gen-nats-auth.ts --file --shards';
    expect(out).toContain(`${gen} ${String(await shards('dev'))} > k8s/base/nats/auth.conf\n`);
    expect(out).toContain(`${gen} ${String(await shards('prod'))} > k8s/overlays/prod/auth.conf\n`);
  });

  test("make k8s-secrets creates prod's Secrets once, never replacing them", async () => {
    const { code, out } = await make(['-n', 'k8s-secrets']);
    expect(code).toBe(0);
    expect(out).toMatch(/^k8s\/overlays\/prod\/secrets\.sh \| kubectl -n ledgerflux create -f -$/m);
  });

  test('make help lists every cluster target', async () => {
    const { out } = await make(['help']);
    for (const t of [
      'up',
      'down',
      'status',
      'logs',
      'grafana',
      'prometheus',
      'gateway-ui',
      'skaffold-dev',
      'skaffold-run',
      'compose-up',
      'compose-down',
      'k8s-nats-auth',
      'k8s-secrets',
      'test-k8s',
      'test',
      'lint',
      'typecheck',
      'clean',
      'help',
      'run',
      'demo',
    ])
      expect(out, t).toMatch(new RegExp(`^  make ${t} +\\S`, 'm'));
  });
});
