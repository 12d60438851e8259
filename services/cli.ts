#!/usr/bin/env node
/**
 * One binary, one subcommand per service. Each command module is imported only when
 * chosen, so `ledgerflux gateway` never loads the simulator.
 */
import { describeError } from './common/errors.js';

type Command = {
  summary: string;
  load: () => Promise<{ main: (argv: string[]) => Promise<number | undefined> }>;
};

export const COMMANDS: Record<string, Command> = {
  ingestor: {
    summary: 'read the Coinbase feed into JetStream MD_RAW',
    load: () => import('./ingestor/main.js'),
  },
  normalizer: {
    summary: 'validate, order and normalize one shard of MD_RAW into MD_NORM',
    load: () => import('./normalizer/main.js'),
  },
  dlq: {
    summary: 'list, show and replay MD_DLQ entries',
    load: () => import('./dlq/main.js'),
  },
  run: {
    summary: 'run the whole pipeline locally (--sim for the simulator)',
    load: () => import('./run/main.js'),
  },
  gateway: {
    summary: 'serve MD_NORM to WebSocket clients (snapshot, live, resume)',
    load: () => import('./gateway/main.js'),
  },
  snapshotter: {
    summary: 'write MD_NORM into PostgreSQL: trades, candles, gaps, point-in-time snapshots',
    load: () => import('./snapshotter/main.js'),
  },
  record: {
    summary: 'capture a live feed to a file that `sim --replay` plays back',
    load: () => import('./record/main.js'),
  },
  migrate: {
    summary: 'create the JetStream streams, the KV bucket and the SQL schema',
    load: () => import('./migrate/main.js'),
  },
  sim: {
    summary: 'run the Coinbase-compatible feed simulator',
    load: () => import('./sim/main.js'),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`,
  );
  return `usage: ledgerflux <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function cli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`ledgerflux: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return (await mod.main(rest)) ?? 0;
}

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`ledgerflux: ${describeError(err)}\n`);
    process.exitCode = 1;
  },
);
