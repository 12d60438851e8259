import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { natsServerBinary } from './binaries.js';
import { freePort } from './free-port.js';
import {
  failedOnTakenPort,
  makeTempDir,
  removeTempDir,
  spawnTracked,
  stopProcess,
  waitUntilReady,
  type TrackedProcess,
} from './processes.js';

export interface StartNatsOptions {
  /** nats-server size syntax; the default matches production. */
  maxPayload?: string;
  jetstream?: boolean;
  /**
   * An `authorization { ... }` block (see `secureNats` in credentials.ts): clients must
   * then log in as one of its users.
   */
  authorization?: string;
}

export interface NatsServer {
  /** nats://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** JetStream store_dir (nats-server keeps its data in <storeDir>/jetstream). */
  readonly storeDir: string;
  /** The server's own log (permission violations are logged here). */
  readonly logFile: string;
  pid(): number | undefined;
  /** SIGTERM, wait for the exit, remove the temp dir. */
  stop(): Promise<void>;
  /** Signal (SIGKILL by default) and wait for the exit; the store survives for restart(). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start again on the same port and store, waiting until ready; stops it first if running. */
  restart(): Promise<void>;
  /** SIGSTOP: the server holds its sockets but answers nothing. */
  pause(): void;
  /** SIGCONT */
  resume(): void;
}

interface NatsLayout {
  dir: string;
  configFile: string;
  logFile: string;
  storeDir: string;
  port: number;
  httpPort: number;
  jetstream: boolean;
  authorization: string;
}

const START_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;

function renderConfig(layout: NatsLayout, maxPayload: string): string {
  const lines = [
    `server_name: lf_test_${layout.port}`,
    `listen: 127.0.0.1:${layout.port}`,
    // Monitoring port: /healthz is the cheapest readiness probe, no client needed.
    `http: 127.0.0.1:${layout.httpPort}`,
    `max_payload: ${maxPayload}`,
  ];
  if (layout.jetstream) {
    lines.push(
      'jetstream {',
      `  store_dir: ${JSON.stringify(layout.storeDir)}`,
      '  max_memory_store: 256MB',
      '  // Large enough for the production stream limits (MD_RAW 2 GiB, MD_NORM 4 GiB, MD_DLQ 256 MiB); nothing is preallocated.',
      '  max_file_store: 16GB',
      '}',
    );
  }
  if (layout.authorization !== '') lines.push(layout.authorization);
  return `${lines.join('\n')}\n`;
}

/**
 * /healthz answers "ok" only once the client listener is up and, with JetStream
 * configured, JetStream is enabled (its streams recovered, which matters on restart).
 */
async function healthy(layout: NatsLayout): Promise<boolean> {
  const query = layout.jetstream ? '?js-enabled-only=true' : '';
  try {
    const res = await fetch(`http://127.0.0.1:${layout.httpPort}/healthz${query}`, {
      signal: AbortSignal.timeout(1_000),
    });
    if (!res.ok) return false;
    const body = (await res.json()) as { status?: unknown };
    return body.status === 'ok';
  } catch {
    return false;
  }
}

async function launch(layout: NatsLayout): Promise<TrackedProcess> {
  const proc = spawnTracked({
    name: `nats-server :${layout.port}`,
    command: natsServerBinary(),
    args: ['-c', layout.configFile],
    logFile: layout.logFile,
    cwd: layout.dir,
  });
  try {
    await waitUntilReady(proc, () => healthy(layout), {
      what: 'JetStream-ready /healthz',
      timeoutMs: START_TIMEOUT_MS,
    });
  } catch (err) {
    await stopProcess(proc, 'SIGKILL');
    throw err;
  }
  return proc;
}

async function freshLayout(
  dir: string,
  jetstream: boolean,
  authorization: string,
): Promise<NatsLayout> {
  return {
    dir,
    configFile: path.join(dir, 'nats.conf'),
    logFile: path.join(dir, 'nats.log'),
    storeDir: path.join(dir, 'store'),
    port: await freePort(),
    httpPort: await freePort(),
    jetstream,
    authorization,
  };
}

/** First start: a port can be taken between freePort() and the bind, so retry on fresh ports. */
async function firstLaunch(
  dir: string,
  opts: Required<StartNatsOptions>,
): Promise<[NatsLayout, TrackedProcess]> {
  for (let attempt = 1; ; attempt++) {
    const layout = await freshLayout(dir, opts.jetstream, opts.authorization);
    await writeFile(layout.configFile, renderConfig(layout, opts.maxPayload));
    try {
      return [layout, await launch(layout)];
    } catch (err) {
      if (attempt >= START_ATTEMPTS || !failedOnTakenPort(err)) throw err;
    }
  }
}

/** Start a private nats-server (JetStream on by default) and wait until it is ready. */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const dir = await makeTempDir('lf-test-nats-');
  let layout: NatsLayout;
  let proc: TrackedProcess | undefined;
  try {
    [layout, proc] = await firstLaunch(dir, {
      maxPayload: opts.maxPayload ?? '8MB',
      jetstream: opts.jetstream ?? true,
      authorization: opts.authorization ?? '',
    });
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }

  const halt = async (sig: NodeJS.Signals): Promise<void> => {
    if (proc === undefined) return;
    await stopProcess(proc, sig);
    proc = undefined;
  };

  return {
    url: `nats://127.0.0.1:${layout.port}`,
    port: layout.port,
    storeDir: layout.storeDir,
    logFile: layout.logFile,
    pid: () => (proc?.running() ? proc.child.pid : undefined),
    stop: async () => {
      await halt('SIGTERM');
      await removeTempDir(dir);
    },
    kill: (signal = 'SIGKILL') => halt(signal),
    restart: async () => {
      await halt('SIGTERM');
      proc = await launch(layout);
    },
    pause: () => proc?.signal('SIGSTOP'),
    resume: () => proc?.signal('SIGCONT'),
  };
}
