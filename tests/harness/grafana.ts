import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * The repository's Grafana files as data: the dashboards, their queries (panel targets,
 * variable queries, annotation queries), the provisioned data sources, and Grafana's own
 * rules for turning a query into what reaches the data source (template variables first,
 * then the PostgreSQL plugin's macros), so tests can run every query for real.
 */

export const GRAFANA_DIR = path.resolve(import.meta.dirname, '../../grafana');
export const DASHBOARD_DIR = path.join(GRAFANA_DIR, 'dashboards');

export const PROMETHEUS_TYPE = 'prometheus';
export const POSTGRES_TYPE = 'grafana-postgresql-datasource';

export interface DataSourceRef {
  type?: string;
  uid?: string;
}

export interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}

/** The fields the tests read; the type check against @grafana/schema covers the rest. */
export interface PanelJson {
  id: number;
  type: string;
  title?: string;
  gridPos?: GridPos;
  datasource?: DataSourceRef;
  targets?: Record<string, unknown>[];
  panels?: PanelJson[];
}

export interface VariableJson {
  name: string;
  type: string;
  datasource?: DataSourceRef;
  query?: string | Record<string, unknown>;
  includeAll?: boolean;
  allValue?: string;
  multi?: boolean;
}

export interface AnnotationJson {
  name: string;
  datasource?: DataSourceRef;
  target?: Record<string, unknown>;
}

export interface DashboardJson {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: PanelJson[];
  templating?: { list?: VariableJson[] };
  annotations?: { list?: AnnotationJson[] };
}

export interface Dashboard {
  file: string;
  /** The file's text, exactly as committed. */
  text: string;
  json: DashboardJson;
}

export function loadDashboards(): Dashboard[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const text = readFileSync(path.join(DASHBOARD_DIR, f), 'utf8');
      return { file: `grafana/dashboards/${f}`, text, json: JSON.parse(text) as DashboardJson };
    });
}

export interface ProvisionedDataSource {
  name: string;
  uid: string;
  type: string;
  user?: string;
  url?: string;
  jsonData?: Record<string, unknown>;
}

export function loadDataSources(): ProvisionedDataSource[] {
  const doc = parseYaml(
    readFileSync(path.join(GRAFANA_DIR, 'provisioning/datasources.yaml'), 'utf8'),
  ) as { datasources?: ProvisionedDataSource[] };
  return doc.datasources ?? [];
}

/** Every panel, rows and the panels inside rows included. */
export function allPanels(d: DashboardJson): PanelJson[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export type QueryKind = 'promql' | 'sql';

export interface DashboardQuery {
  dashboard: string;
  /** "panel 7 'Per-hop latency p99' A", "variable product", "annotation Gaps". */
  where: string;
  panelTitle?: string;
  refId?: string;
  kind: QueryKind;
  /** The query as written in the dashboard, variables and macros unexpanded. */
  text: string;
  datasource: DataSourceRef;
  /** SQL only: Grafana's result format. */
  format?: string;
}

function kindOf(ds: DataSourceRef | undefined): QueryKind | undefined {
  if (ds?.type === PROMETHEUS_TYPE) return 'promql';
  if (ds?.type === POSTGRES_TYPE) return 'sql';
  return undefined;
}

function targetText(t: Record<string, unknown>): string | undefined {
  if (typeof t.expr === 'string') return t.expr;
  if (typeof t.rawSql === 'string') return t.rawSql;
  return undefined;
}

/** Panel targets (a target's own datasource wins over the panel's). */
export function panelQueries(d: Dashboard): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const p of allPanels(d.json)) {
    for (const t of p.targets ?? []) {
      const ds = (t.datasource as DataSourceRef | undefined) ?? p.datasource ?? {};
      const kind = kindOf(ds);
      const text = targetText(t);
      if (kind === undefined || text === undefined) {
        throw new Error(`${d.file}: panel ${String(p.id)} target ${String(t.refId)}: no query`);
      }
      out.push({
        dashboard: d.json.uid,
        where: `panel ${String(p.id)} '${p.title ?? ''}' ${String(t.refId)}`,
        panelTitle: p.title ?? '',
        refId: String(t.refId),
        kind,
        text,
        datasource: ds,
        ...(typeof t.format === 'string' ? { format: t.format } : {}),
      });
    }
  }
  return out;
}

export function variableQueries(d: Dashboard): DashboardQuery[] {
  return (d.json.templating?.list ?? [])
    .filter((v) => v.type === 'query')
    .map((v) => {
      const kind = kindOf(v.datasource);
      const text = typeof v.query === 'string' ? v.query : undefined;
      if (kind === undefined || text === undefined || v.datasource === undefined)
        throw new Error(`${d.file}: variable ${v.name}: no data source or query`);
      return {
        dashboard: d.json.uid,
        where: `variable ${v.name}`,
        kind,
        text,
        datasource: v.datasource,
      };
    });
}

export function annotationQueries(d: Dashboard): DashboardQuery[] {
  return (d.json.annotations?.list ?? []).map((a) => {
    const kind = kindOf(a.datasource);
    const text = a.target === undefined ? undefined : targetText(a.target);
    if (kind === undefined || text === undefined || a.datasource === undefined)
      throw new Error(`${d.file}: annotation ${a.name}: no data source or query`);
    return {
      dashboard: d.json.uid,
      where: `annotation ${a.name}`,
      kind,
      text,
      datasource: a.datasource,
    };
  });
}

export function allQueries(d: Dashboard): DashboardQuery[] {
  return [...variableQueries(d), ...annotationQueries(d), ...panelQueries(d)];
}

/** Grafana's variable syntaxes: $name, ${name}, ${name:format}, [[name]]. */
const VARIABLE = /\$(\w+)|\$\{(\w+)(?::[\w-]+)?\}|\[\[(\w+)\]\]/g;

/** Names of the dashboard variables a query uses (Grafana's `$__…` built-ins excluded). */
export function variablesUsed(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(VARIABLE)) {
    const name = m[1] ?? m[2] ?? m[3] ?? '';
    if (!name.startsWith('__')) names.add(name);
  }
  return [...names];
}

/** Grafana's global variables the dashboards may use; nothing else that starts with `$__`. */
export const BUILTIN_VARIABLES = ['__rate_interval', '__interval', '__interval_ms', '__range'];

/**
 * Replaces variables as Grafana does before a query leaves the browser; throws on a
 * variable it was not given (a dashboard using something undefined).
 */
export function substituteVariables(text: string, values: Record<string, string>): string {
  return text.replace(VARIABLE, (whole, a?: string, b?: string, c?: string) => {
    const name = a ?? b ?? c ?? '';
    // SQL macros ($__timeFilter(…)) are the data source's, expanded later.
    if (name.startsWith('__') && !BUILTIN_VARIABLES.includes(name)) return whole;
    const v = values[name];
    if (v === undefined) throw new Error(`no value for variable $${name} in: ${text}`);
    return v;
  });
}

export interface TimeRange {
  from: Date;
  to: Date;
}

/** Grafana's interval syntax as the macros take it: 10s, 1m, 500ms, 1h, 1d. */
export function intervalSeconds(s: string): number {
  const m = /^'?(\d+(?:\.\d+)?)(ms|s|m|h|d)'?$/.exec(s.trim());
  if (m === null) throw new Error(`not an interval: ${s}`);
  const n = Number(m[1]);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

/**
 * The PostgreSQL plugin's macros, as its Go code expands them (pkg/tsdb/grafana-postgresql-
 * datasource/macros.go): same pattern (no nested parentheses in arguments), same output.
 * Any other `$__` macro is refused, so a dashboard cannot use one this test cannot check.
 */
export function expandSqlMacros(sql: string, range: TimeRange): string {
  const iso = (d: Date) => d.toISOString();
  return sql.replace(/\$__([_a-zA-Z0-9]+)\(([^)]*)\)/g, (_whole, name: string, argText: string) => {
    const args = argText
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
    const need = (n: number) => {
      if (args.length < n) throw new Error(`macro $__${name} needs ${String(n)} arguments: ${sql}`);
    };
    switch (name) {
      case 'timeFilter':
        need(1);
        return `${String(args[0])} BETWEEN '${iso(range.from)}' AND '${iso(range.to)}'`;
      case 'timeFrom':
        return `'${iso(range.from)}'`;
      case 'timeTo':
        return `'${iso(range.to)}'`;
      case 'timeGroup':
      case 'timeGroupAlias': {
        need(2);
        const s = intervalSeconds(String(args[1]));
        const group = `floor(extract(epoch from ${String(args[0])})/${String(s)})*${String(s)}`;
        return name === 'timeGroup' ? group : `${group} AS "time"`;
      }
      default:
        throw new Error(`macro $__${name} is not one the tests can expand: ${sql}`);
    }
  });
}

/** What Grafana sends for a query: variables substituted, then (SQL) macros expanded. */
export function renderQuery(
  q: DashboardQuery,
  values: Record<string, string>,
  range: TimeRange,
): string {
  const text = substituteVariables(q.text, values);
  if (q.kind === 'promql') {
    if (/\$__\w+/.test(text)) throw new Error(`${q.where}: unexpanded ${text}`);
    return text;
  }
  const sql = expandSqlMacros(text, range);
  if (/\$\w/.test(sql)) throw new Error(`${q.where}: unexpanded ${sql}`);
  return sql;
}
