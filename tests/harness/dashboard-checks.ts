import path from 'node:path';
import ts from 'typescript';
import {
  allPanels,
  allQueries,
  BUILTIN_VARIABLES,
  expandSqlMacros,
  substituteVariables,
  variablesUsed,
  type Dashboard,
  type DataSourceRef,
  type ProvisionedDataSource,
} from './grafana.js';

/**
 * Structural checks of the dashboards, as functions returning what is wrong (so tests can
 * also show that each check catches a broken copy), and the type check of every
 * dashboard against @grafana/schema's `Dashboard`.
 */

const GRID_COLUMNS = 24;

/** Schema versions of the Grafana releases the dashboards are written for (11.x–12.x). */
export const SCHEMA_VERSIONS = { min: 39, max: 42 };

export function dashboardProblems(
  dashboards: readonly Dashboard[],
  dataSources: readonly ProvisionedDataSource[],
): string[] {
  const problems: string[] = [];
  const uids = new Map<string, string>();
  for (const d of dashboards) {
    const j = d.json;
    const at = d.file;
    if (!/^[a-zA-Z0-9_-]{1,40}$/.test(j.uid))
      problems.push(`${at}: uid "${j.uid}" is not 1-40 of [a-zA-Z0-9_-]`);
    const other = uids.get(j.uid);
    if (other !== undefined) problems.push(`${at}: uid "${j.uid}" also used by ${other}`);
    uids.set(j.uid, at);
    if (j.schemaVersion < SCHEMA_VERSIONS.min || j.schemaVersion > SCHEMA_VERSIONS.max)
      problems.push(`${at}: schemaVersion ${String(j.schemaVersion)} outside 39-42`);
    problems.push(
      ...panelProblems(d),
      ...dataSourceProblems(d, dataSources),
      ...variableProblems(d),
    );
  }
  return problems;
}

function panelProblems(d: Dashboard): string[] {
  const problems: string[] = [];
  const ids = new Set<number>();
  const placed: { id: number; x: number; y: number; w: number; h: number }[] = [];
  for (const p of allPanels(d.json)) {
    const at = `${d.file}: panel ${String(p.id)} '${p.title ?? ''}'`;
    if (!Number.isInteger(p.id) || p.id <= 0) problems.push(`${at}: id must be a positive integer`);
    if (ids.has(p.id)) problems.push(`${at}: duplicate panel id`);
    ids.add(p.id);
    const g = p.gridPos;
    if (g === undefined) {
      problems.push(`${at}: no gridPos`);
    } else {
      if (![g.x, g.y, g.w, g.h].every((n) => Number.isInteger(n) && n >= 0))
        problems.push(`${at}: gridPos values must be non-negative integers`);
      if (g.w < 1 || g.h < 1) problems.push(`${at}: gridPos w and h must be at least 1`);
      if (g.x + g.w > GRID_COLUMNS)
        problems.push(`${at}: gridPos x + w exceeds ${String(GRID_COLUMNS)}`);
      for (const q of placed) {
        const overlap = g.x < q.x + q.w && q.x < g.x + g.w && g.y < q.y + q.h && q.y < g.y + g.h;
        if (overlap) problems.push(`${at}: overlaps panel ${String(q.id)}`);
      }
      placed.push({ id: p.id, ...g });
    }
    if ((p.title ?? '').trim() === '') problems.push(`${at}: no title`);
    if (p.type === 'row') continue;
    const targets = p.targets ?? [];
    if (targets.length === 0) problems.push(`${at}: no queries`);
    const refIds = new Set<string>();
    for (const t of targets) {
      const refId = t.refId;
      if (typeof refId !== 'string' || refId === '') problems.push(`${at}: a target without refId`);
      else if (refIds.has(refId)) problems.push(`${at}: duplicate refId ${refId}`);
      else refIds.add(refId);
    }
  }
  return problems;
}

function refProblem(
  at: string,
  ref: DataSourceRef | string | undefined,
  dataSources: readonly ProvisionedDataSource[],
): string | undefined {
  if (ref === undefined) return `${at}: no data source`;
  if (typeof ref === 'string') return `${at}: data source given by name "${ref}", not {type, uid}`;
  const ds = dataSources.find((s) => s.uid === ref.uid);
  if (ds === undefined) return `${at}: data source uid "${String(ref.uid)}" is not provisioned`;
  if (ds.type !== ref.type)
    return `${at}: data source ${String(ref.uid)} has type ${ds.type}, not ${String(ref.type)}`;
  return undefined;
}

function dataSourceProblems(d: Dashboard, dataSources: readonly ProvisionedDataSource[]): string[] {
  const problems: (string | undefined)[] = [];
  for (const p of allPanels(d.json)) {
    const at = `${d.file}: panel ${String(p.id)}`;
    if (p.type === 'row') continue;
    problems.push(refProblem(at, p.datasource, dataSources));
    for (const t of p.targets ?? [])
      if (t.datasource !== undefined)
        problems.push(
          refProblem(
            `${at} ${String(t.refId)}`,
            t.datasource as DataSourceRef | string,
            dataSources,
          ),
        );
  }
  for (const v of d.json.templating?.list ?? [])
    if (v.type === 'query')
      problems.push(refProblem(`${d.file}: variable ${v.name}`, v.datasource, dataSources));
  for (const a of d.json.annotations?.list ?? [])
    problems.push(refProblem(`${d.file}: annotation ${a.name}`, a.datasource, dataSources));
  return problems.filter((p): p is string => p !== undefined);
}

function variableProblems(d: Dashboard): string[] {
  const problems: string[] = [];
  const defined = new Set((d.json.templating?.list ?? []).map((v) => v.name));
  const used = new Set<string>();
  const texts = [
    ...allQueries(d).map((q) => ({ where: q.where, text: q.text, kind: q.kind })),
    ...allPanels(d.json).map((p) => ({
      where: `panel ${String(p.id)} title`,
      text: p.title ?? '',
      kind: undefined,
    })),
  ];
  for (const { where, text, kind } of texts) {
    for (const name of variablesUsed(text)) {
      used.add(name);
      if (!defined.has(name))
        problems.push(`${d.file}: ${where} uses $${name}, which is not defined`);
    }
    for (const m of text.matchAll(/\$__(\w+)(\()?/g)) {
      const name = m[1] ?? '';
      if (m[2] === undefined && !BUILTIN_VARIABLES.includes(`__${name}`))
        problems.push(`${d.file}: ${where} uses $__${name}, which the tests cannot substitute`);
    }
    if (kind === 'sql') {
      const values = Object.fromEntries([...defined, ...BUILTIN_VARIABLES].map((n) => [n, '1s']));
      try {
        expandSqlMacros(substituteVariables(text, values), { from: new Date(0), to: new Date(1) });
      } catch (err) {
        problems.push(`${d.file}: ${where}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  for (const name of defined)
    if (!used.has(name)) problems.push(`${d.file}: variable $${name} is defined but never used`);
  return problems;
}

/**
 * Grafana's schema types say what a dashboard may contain; the JSON is checked by the
 * TypeScript compiler as an object literal of that type (excess properties are errors,
 * so a misspelt field fails). Two adjustments, both Grafana's own intent: query targets
 * are typed by data source (the schema leaves them `Record<string, unknown>`, and types
 * annotation targets as the generic DataQuery), and the schema's string enums accept
 * their values as JSON strings.
 */
const PRELUDE = `
import type { AnnotationQuery, Dashboard, DataQuery, Panel, RowPanel } from '@grafana/schema';

type Loosen<T> = T extends string
  ? \`\${T}\`
  : T extends readonly (infer U)[]
    ? Loosen<U>[]
    : T extends object
      ? { [K in keyof T]: Loosen<T[K]> }
      : T;

interface PromQuery extends DataQuery {
  expr: string;
  legendFormat?: string;
  editorMode?: 'code' | 'builder';
  range?: boolean;
  instant?: boolean;
  interval?: string;
  format?: 'time_series' | 'table' | 'heatmap';
}

interface SqlQuery extends DataQuery {
  rawSql: string;
  format: 'time_series' | 'table';
  rawQuery?: boolean;
  editorMode?: 'code' | 'builder';
}

type LfPanel = Omit<Panel, 'targets'> & { targets?: (PromQuery | SqlQuery)[] };
type LfRow = Omit<RowPanel, 'panels'> & { panels: LfPanel[] };
type LfDashboard = Omit<Dashboard, 'panels' | 'annotations'> & {
  panels?: (LfPanel | LfRow)[];
  annotations?: { list?: AnnotationQuery<PromQuery | SqlQuery>[] };
};
`;

export function typeCheckDashboards(
  dashboards: readonly { file: string; text: string }[],
): string[] {
  // Virtual files inside the repository, so that '@grafana/schema' resolves from node_modules.
  const dir = path.resolve(import.meta.dirname);
  const files = new Map<string, { file: string; source: string }>();
  for (const [i, d] of dashboards.entries()) {
    const name = path.join(dir, `__check_${String(i)}_${path.basename(d.file, '.json')}.ts`);
    files.set(name, {
      file: d.file,
      source: `${PRELUDE}\nexport const dashboard: Loosen<LfDashboard> = ${d.text};\n`,
    });
  }
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) => {
    const v = files.get(fileName);
    return v === undefined
      ? getSourceFile(fileName, languageVersion, onError, shouldCreate)
      : ts.createSourceFile(fileName, v.source, languageVersion, true);
  };
  host.fileExists = (fileName) => files.has(fileName) || fileExists(fileName);
  host.readFile = (fileName) => files.get(fileName)?.source ?? readFile(fileName);
  const program = ts.createProgram([...files.keys()], options, host);
  return ts.getPreEmitDiagnostics(program).map((diag) => {
    const text = ts.flattenDiagnosticMessageText(diag.messageText, '\n');
    if (diag.file === undefined || diag.start === undefined) return text;
    const v = files.get(diag.file.fileName);
    const { line } = diag.file.getLineAndCharacterOfPosition(diag.start);
    // Line numbers of the JSON file: the prelude and the declaration line come first.
    const preludeLines = PRELUDE.split('\n').length;
    return v === undefined
      ? `${diag.file.fileName}:${String(line + 1)}: ${text}`
      : `${v.file}:${String(line - preludeLines + 1)}: ${text}`;
  });
}
