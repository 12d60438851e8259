import path from 'node:path';
import {
  logTail,
  makeTempDir,
  spawnTracked,
  stopProcess,
  type TrackedProcess,
} from './processes.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface ServiceProcess {
  readonly proc: TrackedProcess;
  readonly logFile: string;
  /** SIGTERM and wait (the service's own graceful shutdown). */
  stop(): Promise<void>;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  logTail(lines?: number): string;
}

/** Runs `ledgerflux <command>` from the sources (tsx) as a real process the harness tracks. */
export async function startService(
  command: string,
  env: Record<string, string>,
  args: readonly string[] = [],
): Promise<ServiceProcess> {
  const dir = await makeTempDir(`lf-${command}-`);
  const logFile = path.join(dir, `${command}.log`);
  const proc = spawnTracked({
    name: command,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(ROOT, 'services/cli.ts'), command, ...args],
    logFile,
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
  });
  return {
    proc,
    logFile,
    stop: async () => {
      await stopProcess(proc, 'SIGTERM', 15_000);
    },
    kill: async () => {
      proc.signal('SIGKILL');
      await proc.exited;
    },
    logTail: (lines = 30) => logTail(logFile, lines),
  };
}
