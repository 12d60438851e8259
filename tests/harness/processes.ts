import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findOnPath } from './binaries.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the program could not be started at all (e.g. ENOENT). */
  error?: Error;
}

export interface TrackedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  running(): boolean;
  /** Signal the process itself; a stopped (SIGSTOP) process is continued so it can act. */
  signal(sig: NodeJS.Signals): void;
  /** SIGKILL the process and everything in its process group (e.g. PostgreSQL backends). */
  killGroup(): void;
}

export interface SpawnTrackedOptions {
  name: string;
  command: string;
  args: readonly string[];
  /** stdout and stderr are appended here, so a failed start can show the server's words. */
  logFile: string;
  cwd?: string;
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
}

const processes = new Set<TrackedProcess>();
const tempDirs = new Set<string>();
let exitHandlerInstalled = false;

function sendSignal(pid: number, sig: NodeJS.Signals | 0): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    // ESRCH: already gone, which is what the caller wants anyway.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Last resort when the test process exits without afterAll having run: nothing survives. */
function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const proc of processes) if (proc.running()) proc.killGroup();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * setpriv --pdeathsig makes the kernel SIGKILL the server when the test process dies
 * even by SIGKILL, where no 'exit' handler runs. setpriv execs, so the pid stays the
 * server's own.
 */
function withDeathSignal(command: string, args: readonly string[]): [string, string[]] {
  const setpriv = findOnPath('setpriv');
  if (setpriv === undefined) return [command, [...args]];
  return [setpriv, ['--pdeathsig', 'SIGKILL', '--', command, ...args]];
}

function watchExit(child: ChildProcess): Promise<ExitInfo> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      resolve({ code: null, signal: null, error });
    });
  });
}

/** Start a server process that the registry tracks until it exits. */
export function spawnTracked(opts: SpawnTrackedOptions): TrackedProcess {
  installExitHandler();
  const [command, args] = withDeathSignal(opts.command, opts.args);
  const log = openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: opts.cwd,
      uid: opts.uid,
      gid: opts.gid,
      env: opts.env ?? process.env,
      stdio: ['ignore', log, log],
      // Own process group: killGroup() reaches the server's children, and a Ctrl-C
      // aimed at vitest does not race the harness's own shutdown.
      detached: true,
    });
  } finally {
    closeSync(log);
  }
  let alive = child.pid !== undefined;
  const exited = watchExit(child).then((info) => {
    alive = false;
    processes.delete(tracked);
    return info;
  });
  const tracked: TrackedProcess = {
    name: opts.name,
    logFile: opts.logFile,
    child,
    exited,
    running: () => alive,
    signal: (sig) => {
      if (!alive || child.pid === undefined) return;
      sendSignal(child.pid, sig);
      if (sig !== 'SIGKILL' && sig !== 'SIGSTOP' && sig !== 'SIGCONT') {
        sendSignal(child.pid, 'SIGCONT');
      }
    },
    killGroup: () => {
      if (alive && child.pid !== undefined) sendSignal(-child.pid, 'SIGKILL');
    },
  };
  if (alive) processes.add(tracked);
  return tracked;
}

/** Processes the registry still considers alive (for tests of the harness). */
export function trackedProcesses(): readonly TrackedProcess[] {
  return [...processes];
}

/** A fresh directory under os.tmpdir(), removed by killAll() if its owner forgets. */
export async function makeTempDir(prefix = 'lf-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** SIGKILL every tracked process (with its group), wait for the exits, remove temp dirs. */
export async function killAll(): Promise<void> {
  const victims = [...processes];
  for (const proc of victims) proc.killGroup();
  await Promise.all(victims.map((proc) => proc.exited));
  await Promise.all([...tempDirs].map(removeTempDir));
}

/** The last lines a server wrote, for error messages. */
export function logTail(logFile: string, lines = 25): string {
  let text: string;
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return `(no log at ${logFile})`;
  }
  const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
  return `--- last lines of ${logFile} ---\n${tail}`;
}

function describeExit(info: ExitInfo): string {
  if (info.error !== undefined) return `failed to start: ${info.error.message}`;
  return info.signal !== null ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitReadyOptions {
  /** What is being waited for, for the error message. */
  what: string;
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Poll `isReady` until it returns true. Fails at the deadline, or at once when the
 * process exits first, with the server's log tail either way.
 */
export async function waitUntilReady(
  proc: TrackedProcess,
  isReady: () => Promise<boolean>,
  opts: WaitReadyOptions,
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let exit: ExitInfo | undefined;
  void proc.exited.then((info) => (exit = info));
  for (;;) {
    if (exit !== undefined) {
      throw new Error(
        `${proc.name} ${describeExit(exit)} before ${opts.what}\n${logTail(proc.logFile)}`,
      );
    }
    if (await isReady()) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${proc.name}: no ${opts.what} within ${opts.timeoutMs} ms\n${logTail(proc.logFile)}`,
      );
    }
    await delay(opts.intervalMs ?? 10);
  }
}

/**
 * Signal the process and wait for it to exit; SIGKILL the group if it outlives the
 * grace period, so a wedged server cannot hang a test.
 */
export async function stopProcess(
  proc: TrackedProcess,
  sig: NodeJS.Signals,
  graceMs = 10_000,
): Promise<ExitInfo> {
  proc.signal(sig);
  const timer = setTimeout(() => {
    proc.killGroup();
  }, graceMs);
  try {
    return await proc.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** The log says why a start failed; a port taken since freePort() is worth a retry. */
export function failedOnTakenPort(err: unknown): boolean {
  return err instanceof Error && /address already in use/i.test(err.message);
}

/** What a spawned child (stdout and stderr piped) says, line by line, and how it ends. */
export function captureOutput(proc: ChildProcess): {
  lines: string[];
  text: () => string;
  exited: Promise<number | null>;
} {
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => {
      resolve(code);
    }),
  );
  for (const s of [proc.stdout, proc.stderr])
    s?.on('data', (b: Buffer) => lines.push(...b.toString('utf8').split('\n')));
  return { lines, text: () => lines.join('\n'), exited };
}
