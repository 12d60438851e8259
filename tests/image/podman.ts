import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * podman with the flags known to work on these machines (the Makefile uses the same):
 * overlay storage, runc, explicit ulimits and the host's network, so containers reach
 * the harness's servers on 127.0.0.1 and never use podman's bridge addresses.
 */
const run = promisify(execFile);

export const IMAGE = process.env.LEDGERFLUX_IMAGE ?? 'localhost/ledgerflux:latest';
export const DEV_IMAGE = process.env.LEDGERFLUX_DEV_IMAGE ?? 'localhost/ledgerflux:dev';

const GLOBAL = ['--storage-driver', 'overlay'];
const RUN_FLAGS = [
  '--runtime',
  'runc',
  '--ulimit',
  'nofile=1024:1024',
  '--ulimit',
  'nproc=1024:1024',
  '--network',
  'host',
];

export async function podman(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  try {
    const { stdout } = await run('podman', [...GLOBAL, ...args], {
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`podman ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/** Containers not yet removed: a test process that exits early still takes them along. */
const live = new Set<string>();
let exitHandlerInstalled = false;
function removeOnExit(name: string): void {
  live.add(name);
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    if (live.size > 0) spawnSync('podman', [...GLOBAL, 'rm', '--force', '--time', '0', ...live]);
  });
}

/** A detached container of `image` running `command`; removed by remove(). */
export interface Container {
  readonly name: string;
  /** `podman exec` as the container's user. */
  exec(cmd: readonly string[]): Promise<string>;
  logs(): Promise<string>;
  /** podman stop (SIGTERM, SIGKILL after `timeoutS`); resolves with the wall time it took. */
  stop(timeoutS?: number): Promise<number>;
  /** The exit code podman recorded (137 after a SIGKILL). */
  exitCode(): Promise<number>;
  remove(): Promise<void>;
}

export async function startContainer(
  name: string,
  image: string,
  command: readonly string[],
  env: Record<string, string>,
): Promise<Container> {
  const envArgs = Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  removeOnExit(name);
  await podman(['run', '--detach', '--name', name, ...RUN_FLAGS, ...envArgs, image, ...command]);
  return {
    name,
    exec: (cmd) => podman(['exec', name, ...cmd]),
    logs: async () => {
      // podman logs writes the container's stdout and stderr to its own.
      const { stdout, stderr } = await run('podman', [...GLOBAL, 'logs', name], {
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout + stderr;
    },
    stop: async (timeoutS = 10) => {
      const t0 = performance.now();
      await podman(['stop', '--time', String(timeoutS), name], (timeoutS + 30) * 1000);
      return performance.now() - t0;
    },
    exitCode: async () =>
      Number((await podman(['inspect', '--format', '{{.State.ExitCode}}', name])).trim()),
    remove: async () => {
      await podman(['rm', '--force', '--time', '0', name]).catch(() => undefined);
      live.delete(name);
    },
  };
}

/** `podman run --rm` to completion; resolves with stdout, rejects on a non-zero exit. */
export function runOnce(
  image: string,
  args: readonly string[],
  opts: { env?: Record<string, string>; entrypoint?: string } = {},
): Promise<string> {
  const envArgs = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  const entry = opts.entrypoint === undefined ? [] : ['--entrypoint', opts.entrypoint];
  return podman(['run', '--rm', ...RUN_FLAGS, ...envArgs, ...entry, image, ...args]);
}
