/**
 * The Prometheus files under Debian's promtool: the rules parse, every alert has a unit
 * test where it fires and one where it must not, and those tests pass; a copy of the rules
 * where no alert can fire (and one where every alert always fires) makes exactly those
 * tests fail, so none of them passes by accident. The scrape config, with its relabel rules
 * unchanged over file_sd (Debian's promtool has no Kubernetes discovery), passes
 * `promtool check config`.
 */
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { makeTempDir } from '../harness/processes.js';
import {
  fileSdVariant,
  podTargets,
  promtool,
  PROMETHEUS_DIR,
  shippedConfig,
} from '../harness/prometheus.js';

const RULES = path.join(PROMETHEUS_DIR, 'alerts.yml');
const RULE_TESTS = path.join(PROMETHEUS_DIR, 'tests/alerts.test.yml');

/** The alerts the issue asks for, and one for NATS. */
const ALERTS = [
  'LedgerFluxServiceDown',
  'LedgerFluxServiceAbsent',
  'LedgerFluxFeedStale',
  'LedgerFluxConsumerLagGrowing',
  'LedgerFluxDLQRate',
  'LedgerFluxGapRate',
  'LedgerFluxSlowClientDisconnects',
  'LedgerFluxPostgresCommitFailures',
  'LedgerFluxNatsDisconnected',
];

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string }[] }[];
}
interface RuleTests {
  tests: {
    name: string;
    alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
  }[];
}

const rules = parseYaml(await readFile(RULES, 'utf8')) as RuleFile;
const ruleTests = parseYaml(await readFile(RULE_TESTS, 'utf8')) as RuleTests;

/** The alert names whose expected result at some eval time is firing / quiet. */
function expectations(kind: 'firing' | 'quiet'): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of ruleTests.tests)
    for (const a of t.alert_rule_test ?? []) {
      const firing = (a.exp_alerts ?? []).length > 0;
      if (firing === (kind === 'firing'))
        out.set(a.alertname, [...(out.get(a.alertname) ?? []), t.name]);
    }
  return out;
}

/** Failed checks in promtool's output: [alertname, expected firing?]. */
function failures(output: string): { alertname: string; expectedFiring: boolean }[] {
  const out: { alertname: string; expectedFiring: boolean }[] = [];
  const re = /alertname: (\S+), time: \S+,\s*\n\s*exp:(\[\]|\[\s*\n)/g;
  for (const m of output.matchAll(re))
    out.push({ alertname: (m[1] ?? '').replace(/,$/, ''), expectedFiring: m[2] !== '[]' });
  return out;
}

/** The rules with every alert's expression replaced, beside a copy of the unit tests. */
async function mutatedRun(expr: string): Promise<{ code: number; output: string }> {
  const dir = await makeTempDir('lf-promtool-');
  const copy: RuleFile = structuredClone(rules);
  for (const g of copy.groups) for (const r of g.rules) r.expr = expr;
  await writeFile(path.join(dir, 'alerts.yml'), stringifyYaml(copy));
  await mkdir(path.join(dir, 'tests'));
  await copyFile(RULE_TESTS, path.join(dir, 'tests/alerts.test.yml'));
  return promtool(['test', 'rules', 'tests/alerts.test.yml'], dir);
}

describe('alert rules', () => {
  it('are the alerts the issue lists, and promtool check rules accepts them', async () => {
    expect(rules.groups.flatMap((g) => g.rules.map((r) => r.alert))).toEqual(ALERTS);
    const r = await promtool(['check', 'rules', RULES]);
    expect(r.output).toContain(`SUCCESS: ${String(ALERTS.length)} rules found`);
    expect(r.code, r.output).toBe(0);
  });

  it('each alert has a unit test where it fires and one where it stays quiet', () => {
    const firing = expectations('firing');
    const quiet = expectations('quiet');
    for (const a of ALERTS) {
      expect(firing.get(a), `${a}: a firing case`).toBeDefined();
      expect(quiet.get(a), `${a}: a not-firing case`).toBeDefined();
    }
  });

  it('promtool test rules passes', async () => {
    const r = await promtool(['test', 'rules', 'tests/alerts.test.yml'], PROMETHEUS_DIR);
    expect(r.output).toContain('SUCCESS');
    expect(r.code, r.output).toBe(0);
  });

  it('the unit tests catch alerts that never fire and alerts that always fire', async () => {
    const [never, always] = await Promise.all([
      mutatedRun('vector(1) == 2'),
      mutatedRun('vector(1)'),
    ]);
    expect(never.code).not.toBe(0);
    expect(always.code).not.toBe(0);
    const missedFiring = new Set(
      failures(never.output)
        .filter((f) => f.expectedFiring)
        .map((f) => f.alertname),
    );
    const falseFiring = new Set(
      failures(always.output)
        .filter((f) => !f.expectedFiring)
        .map((f) => f.alertname),
    );
    expect([...missedFiring].sort(), never.output).toEqual([...ALERTS].sort());
    expect([...falseFiring].sort(), always.output).toEqual([...ALERTS].sort());
  }, 60_000);
});

describe('scrape config', () => {
  it('promtool check config accepts it with its relabel rules over file_sd targets', async () => {
    const dir = await makeTempDir('lf-promtool-config-');
    const targetsFile = path.join(dir, 'targets.json');
    await writeFile(
      targetsFile,
      JSON.stringify(
        podTargets([
          {
            service: 'ingestor',
            pod: 'ingestor-0',
            address: '10.0.0.5',
            annotations: { scrape: 'true', port: '9101', path: '/metrics' },
          },
        ]),
      ),
    );
    const variant = fileSdVariant(targetsFile);
    // Only the discovery differs: the same job, the same relabel rules.
    const shipped = shippedConfig();
    expect(variant.scrape_configs.map((s) => [s.job_name, s.relabel_configs])).toEqual(
      shipped.scrape_configs.map((s) => [s.job_name, s.relabel_configs]),
    );
    expect(shipped.scrape_configs.every((s) => s.kubernetes_sd_configs !== undefined)).toBe(true);
    const file = path.join(dir, 'prometheus.yml');
    await writeFile(file, stringifyYaml(variant));
    const r = await promtool(['check', 'config', file]);
    expect(r.output).toMatch(/SUCCESS/);
    expect(r.output).toMatch(/SUCCESS: 9 rules found/);
    expect(r.code, r.output).toBe(0);
  });
});
