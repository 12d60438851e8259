/**
 * The Grafana dashboards and provisioning, checked without Grafana: every dashboard
 * type-checks against @grafana/schema's Dashboard; uids and panel ids are unique; every
 * panel has a grid position inside the 24 columns and overlaps none; refIds are unique;
 * every variable used is defined (and every one defined is used); every data source is
 * referenced by {type, uid} and provisioned; the SQL macros are ones the live test
 * expands; the kustomize base lists every file. Each check is also shown to catch a
 * broken copy. (tests/observability/prometheus.test.ts runs every query against real data.)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { dashboardProblems, typeCheckDashboards } from '../harness/dashboard-checks.js';
import {
  DASHBOARD_DIR,
  expandSqlMacros,
  GRAFANA_DIR,
  loadDashboards,
  loadDataSources,
  substituteVariables,
  variablesUsed,
  type Dashboard,
} from '../harness/grafana.js';

const dashboards = loadDashboards();
const dataSources = loadDataSources();

function mutated(d: Dashboard, change: (json: Record<string, unknown>) => void): Dashboard {
  const json = JSON.parse(d.text) as Record<string, unknown>;
  change(json);
  const text = JSON.stringify(json, null, 2);
  return { file: d.file, text, json: JSON.parse(text) as Dashboard['json'] };
}

function byUid(uid: string): Dashboard {
  const d = dashboards.find((x) => x.json.uid === uid);
  if (d === undefined) throw new Error(`no dashboard ${uid}`);
  return d;
}

type Json = Record<string, unknown>;
type PanelLike = Json & { id: number; gridPos: Record<string, number>; targets: Json[] };

/** The i-th top-level panel of a dashboard copy (0 is a row; 1 and 2 are panels with queries). */
function panel(json: Json, i: number): PanelLike {
  const p = (json.panels as PanelLike[])[i];
  if (p === undefined) throw new Error(`no panel ${String(i)}`);
  return p;
}

function target(p: PanelLike, i: number): Json {
  const t = p.targets[i];
  if (t === undefined) throw new Error(`no target ${String(i)} in panel ${String(p.id)}`);
  return t;
}

function variables(json: Json): Json[] {
  return (json.templating as { list: Json[] }).list;
}

describe('Grafana dashboards', () => {
  it('are the two dashboards of the issue, with fixed uids', () => {
    expect(dashboards.map((d) => [d.file, d.json.uid, d.json.title])).toEqual([
      ['grafana/dashboards/market-data.json', 'ledgerflux-market-data', 'LedgerFlux Market Data'],
      [
        'grafana/dashboards/system-health.json',
        'ledgerflux-system-health',
        'LedgerFlux System Health',
      ],
    ]);
  });

  it("type-check against @grafana/schema's Dashboard", () => {
    expect(typeCheckDashboards(dashboards)).toEqual([]);
  }, 60_000);

  it('the type check rejects a misspelt field, a wrong enum value and a missing refId', () => {
    const d = byUid('ledgerflux-system-health');
    const broken = [
      mutated(d, (j) => {
        panel(j, 1).gridpos = { x: 0 };
      }),
      mutated(d, (j) => {
        const v = variables(j)[0];
        if (v !== undefined) v.type = 'dropdown';
      }),
      mutated(d, (j) => {
        delete target(panel(j, 1), 0).refId;
      }),
    ];
    const errors = typeCheckDashboards(broken);
    expect(errors.some((e) => /gridpos/.test(e))).toBe(true);
    expect(errors.some((e) => /dropdown/.test(e))).toBe(true);
    expect(errors.some((e) => /refId/.test(e))).toBe(true);
  }, 60_000);

  it('are structurally sound: uids, ids, grid, refIds, variables, data sources, macros', () => {
    expect(dashboardProblems(dashboards, dataSources)).toEqual([]);
  });

  it('the structural checks catch each kind of mistake', () => {
    const md = byUid('ledgerflux-market-data');
    const sh = byUid('ledgerflux-system-health');
    const cases: [Dashboard[], RegExp][] = [
      [[md, mutated(sh, (j) => (j.uid = 'ledgerflux-market-data'))], /also used by/],
      [[mutated(sh, (j) => (j.schemaVersion = 36))], /schemaVersion 36/],
      [[mutated(sh, (j) => (panel(j, 2).id = panel(j, 1).id))], /duplicate panel id/],
      [[mutated(sh, (j) => (panel(j, 2).gridPos = { ...panel(j, 1).gridPos }))], /overlaps/],
      [[mutated(sh, (j) => (panel(j, 1).gridPos.x = 20))], /exceeds 24/],
      [[mutated(sh, (j) => delete (panel(j, 1) as Json).gridPos)], /no gridPos/],
      [
        [
          mutated(sh, (j) => {
            const p = (j.panels as PanelLike[]).find(
              (x) => Array.isArray(x.targets) && x.targets.length > 1,
            );
            if (p !== undefined) target(p, 1).refId = target(p, 0).refId;
          }),
        ],
        /duplicate refId/,
      ],
      [
        [mutated(sh, (j) => (target(panel(j, 1), 0).expr = 'up{pod=~"$pod"}'))],
        /uses \$pod, which is not defined/,
      ],
      [[mutated(md, (j) => variables(j).splice(0))], /uses \$product, which is not defined/],
      [
        [mutated(md, (j) => (target(panel(j, 1), 0).rawSql = 'SELECT $__unixEpochGroup(x, 1m)'))],
        /not one the tests can expand/,
      ],
      [
        [
          mutated(sh, (j) => {
            panel(j, 1).datasource = { type: 'prometheus', uid: 'another-prometheus' };
          }),
        ],
        /"another-prometheus" is not provisioned/,
      ],
      [
        [
          mutated(sh, (j) => {
            panel(j, 1).datasource = {
              type: 'grafana-postgresql-datasource',
              uid: 'ledgerflux-prometheus',
            };
          }),
        ],
        /has type prometheus/,
      ],
      [[mutated(sh, (j) => (panel(j, 1).datasource = 'Prometheus'))], /given by name/],
      [
        [
          mutated(sh, (j) => {
            variables(j).push({ name: 'unused', type: 'custom', query: 'a,b' });
          }),
        ],
        /\$unused is defined but never used/,
      ],
    ];
    for (const [ds, expected] of cases) {
      const problems = dashboardProblems(ds, dataSources);
      expect(problems.join('\n'), String(expected)).toMatch(expected);
    }
  });

  it('name their data sources by the provisioned {type, uid}: Prometheus and PostgreSQL', () => {
    expect(dataSources.map((s) => [s.uid, s.type])).toEqual([
      ['ledgerflux-prometheus', 'prometheus'],
      ['ledgerflux-postgres', 'grafana-postgresql-datasource'],
    ]);
    // PostgreSQL is read through a login granted ledgerflux_reader, given by the environment.
    const pg = dataSources.find((s) => s.uid === 'ledgerflux-postgres');
    expect(pg?.user).toBe('${LEDGERFLUX_GRAFANA_PG_USER}');
    // Every {type, uid} reference in the files names one of them (the dashboards' own uids aside).
    const refs = new Set(
      dashboards.flatMap((d) =>
        [...d.text.matchAll(/"type": "([^"]+)",\s*"uid": "([^"]+)"/g)].map(
          (m) => `${m[1]} ${m[2]}`,
        ),
      ),
    );
    expect([...refs].sort()).toEqual([
      'grafana-postgresql-datasource ledgerflux-postgres',
      'prometheus ledgerflux-prometheus',
    ]);
  });

  it('the market-data dashboard reads PostgreSQL with a product variable; system health reads Prometheus', () => {
    const md = byUid('ledgerflux-market-data');
    expect(md.json.templating?.list?.map((v) => v.name)).toEqual(['product']);
    expect(md.json.annotations?.list?.map((a) => a.name)).toEqual(['Gaps']);
    const types = (d: Dashboard) =>
      new Set(d.json.panels.filter((p) => p.type !== 'row').map((p) => p.datasource?.type));
    expect(types(md)).toEqual(new Set(['grafana-postgresql-datasource']));
    expect(types(byUid('ledgerflux-system-health'))).toEqual(new Set(['prometheus']));
  });
});

describe("Grafana's query rendering, as the live test uses it", () => {
  const range = {
    from: new Date('2026-01-02T03:04:05.000Z'),
    to: new Date('2026-01-02T04:04:05.000Z'),
  };

  it('expands the PostgreSQL macros as the plugin does', () => {
    expect(expandSqlMacros('WHERE $__timeFilter(time)', range)).toBe(
      "WHERE time BETWEEN '2026-01-02T03:04:05.000Z' AND '2026-01-02T04:04:05.000Z'",
    );
    expect(expandSqlMacros('SELECT $__timeGroupAlias(boundary, 10s)', range)).toBe(
      'SELECT floor(extract(epoch from boundary)/10)*10 AS "time"',
    );
    expect(expandSqlMacros("GROUP BY $__timeGroup(minute,'5m')", range)).toBe(
      'GROUP BY floor(extract(epoch from minute)/300)*300',
    );
    expect(expandSqlMacros('$__timeFrom() $__timeTo()', range)).toBe(
      "'2026-01-02T03:04:05.000Z' '2026-01-02T04:04:05.000Z'",
    );
    expect(() => expandSqlMacros('$__unixEpochGroup(t, 1m)', range)).toThrow(/not one/);
  });

  it('substitutes every variable syntax and refuses unknown ones', () => {
    const v = { product: 'BTC-USD', __interval: '10s', __interval_ms: '10000' };
    expect(substituteVariables("p = '$product' or '${product}' or '[[product]]'", v)).toBe(
      "p = 'BTC-USD' or 'BTC-USD' or 'BTC-USD'",
    );
    expect(substituteVariables('$__timeGroupAlias(t, $__interval) / $__interval_ms', v)).toBe(
      '$__timeGroupAlias(t, 10s) / 10000',
    );
    expect(() => substituteVariables('$shard', v)).toThrow(/no value for variable \$shard/);
    expect(variablesUsed('{{service}} ${a:csv} $b [[c]] $__rate_interval')).toEqual([
      'a',
      'b',
      'c',
    ]);
  });
});

describe('the kustomize bases', () => {
  const kustomization = (dir: string) =>
    parseYaml(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as {
      configMapGenerator: { name: string; files: string[] }[];
    };

  it('grafana/ generates ConfigMaps from every dashboard and provisioning file, and only those', () => {
    const k = kustomization(GRAFANA_DIR);
    const files = k.configMapGenerator.flatMap((g) => g.files);
    for (const f of files) expect(existsSync(path.join(GRAFANA_DIR, f)), f).toBe(true);
    const dashboardsOnDisk = readdirSync(DASHBOARD_DIR).map((f) => `dashboards/${f}`);
    expect(files.sort()).toEqual(
      [...dashboardsOnDisk, 'provisioning/dashboards.yaml', 'provisioning/datasources.yaml'].sort(),
    );
    expect(k.configMapGenerator.map((g) => g.name)).toEqual([
      'ledgerflux-grafana-dashboards',
      'ledgerflux-grafana-provisioning-datasources',
      'ledgerflux-grafana-provisioning-dashboards',
    ]);
  });

  it('prometheus/ generates one ConfigMap with the scrape config and the rules it loads', () => {
    const dir = path.resolve(GRAFANA_DIR, '../prometheus');
    const k = kustomization(dir);
    expect(k.configMapGenerator).toEqual([
      { name: 'ledgerflux-prometheus-config', files: ['prometheus.yml', 'alerts.yml'] },
    ]);
    const config = parseYaml(readFileSync(path.join(dir, 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
    };
    expect(config.rule_files).toEqual(['alerts.yml']);
  });
});
