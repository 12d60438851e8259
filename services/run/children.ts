import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Child processes of `ledgerflux run`, each with its log lines prefixed by its name.
 * pino JSON lines are shown as `time level [name] msg key=value…`; other lines as is.
 */
export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  stop(graceMs?: number): Promise<void>;
  /** The last lines it printed (shown when it fails). */
  tail(): string[];
}

const LEVELS: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'service', 'v']);

const live = new Set<ChildProcess>();
// Whatever way `ledgerflux run` ends, its children end with it.
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export function formatLine(name: string, line: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return `[${name}] ${line}`;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return `[${name}] ${line}`;
  const rec = parsed as Record<string, unknown>;
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 19) : '';
  const level = typeof rec.level === 'number' ? (LEVELS[rec.level] ?? String(rec.level)) : '';
  const extra = Object.entries(rec)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level.padEnd(5)} [${name}] ${typeof rec.msg === 'string' ? rec.msg : ''}${extra === '' ? '' : ` ${extra}`}`;
}

export function startChild(
  name: string,
  command: string,
  args: readonly string[],
  opts: SpawnOptions & { quiet?: boolean; out?: (line: string) => void },
): Child {
  // Own process group: a terminal's Ctrl-C reaches only `ledgerflux run`, which then stops
  // the children in order (services before the servers they need).
  const proc = spawn(command, [...args], {
    ...opts,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const last: string[] = [];
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  for (const stream of [proc.stdout, proc.stderr]) {
    const rl = createInterface({ input: stream });
    rl.on('line', (line) => {
      last.push(line);
      if (last.length > 20) last.shift();
      if (opts.quiet !== true) out(formatLine(name, line));
    });
  }
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => {
      resolve(code);
    });
    proc.once('error', () => {
      resolve(null);
    });
  });
  return {
    name,
    proc,
    exited,
    tail: () => [...last],
    stop: async (graceMs = 15_000) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(name === 'postgres' ? 'SIGINT' : 'SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
