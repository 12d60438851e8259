/**
 * `npm run bench [-- name ...]`: runs the benchmarks, each beside its raw limit measured
 * in the same run, prints a table and writes bench/results.json. Numbers, never
 * pass/fail: targets are printed beside them.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { killAll } from '../tests/harness/processes.js';
import type { BenchResult, Benchmark } from './types.js';

const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  ingest: async () => (await import('./ingest.js')).ingestBenchmark,
  snapshot: async () => (await import('./snapshot.js')).snapshotBenchmark,
  gateway: async () => (await import('./gateway.js')).gatewayBenchmark,
  normalize: async () => (await import('./normalize.js')).normalizeBenchmark,
  e2e: async () => (await import('./e2e.js')).e2eBenchmark,
};

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function printTable(results: BenchResult[]): void {
  const rows = results.map((r) => [
    r.name,
    r.value.toFixed(r.unit === 'ms' ? 2 : 0),
    r.unit,
    r.baseline === undefined ? '' : r.baseline.toFixed(r.unit === 'ms' ? 2 : 0),
    r.baseline === undefined || r.baseline === 0
      ? ''
      : `${((r.value / r.baseline) * 100).toFixed(0)}%`,
    r.target ?? '',
  ]);
  const head = ['benchmark', 'value', 'unit', 'baseline', 'ratio', 'target'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i] ?? 0)).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length > 0 ? wanted : Object.keys(BENCHMARKS);
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`,
    );
    process.exitCode = 2;
    return;
  }
  const results: BenchResult[] = [];
  try {
    for (const name of names) {
      const load = BENCHMARKS[name];
      if (load === undefined) continue;
      const bench = await load();
      console.log(`# ${name}: ${bench.description}`);
      results.push(...(await bench.run()));
    }
  } finally {
    await killAll();
  }
  printTable(results);
  const file = path.join(import.meta.dirname, 'results.json');
  await writeFile(
    file,
    `${JSON.stringify({ at: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length, results }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);
}

await main();
