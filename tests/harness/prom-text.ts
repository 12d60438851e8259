/**
 * The Prometheus text exposition format (what /metrics answers), parsed into metric
 * families: enough for tests to compare two scrapes and check names, help and labels.
 */

export type FamilyType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name: for a histogram `<family>_bucket`, `_sum` or `_count`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: FamilyType;
  help: string;
  samples: Sample[];
}

const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(v: string): number {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}

const SUFFIXES: Record<FamilyType, readonly string[]> = {
  counter: ['', '_total'],
  gauge: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
  untyped: [''],
};

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  let current: Family | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta !== null) {
      current = family(meta[2] ?? '');
      if (meta[1] === 'HELP') current.help = unescape(meta[3] ?? '');
      else current.type = (meta[3] ?? 'untyped') as FamilyType;
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${line}`);
    const name = m[1] ?? '';
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] ?? ''] = unescape(l[2] ?? '');
    const cur = current;
    const owner =
      cur !== undefined && SUFFIXES[cur.type].some((s) => name === `${cur.name}${s}`)
        ? cur
        : family(name);
    owner.samples.push({ name, labels, value: parseValue(m[3] ?? '') });
  }
  return families;
}

/**
 * What "moved" means for a family: a counter's value summed over its series, a
 * histogram's (or summary's) observation count summed over its series.
 */
export function familyTotal(f: Family): number {
  const samples =
    f.type === 'histogram' || f.type === 'summary'
      ? f.samples.filter((s) => s.name === `${f.name}_count`)
      : f.samples;
  return samples.reduce((n, s) => n + s.value, 0);
}

/** Label names used by a family's series (le and quantile excluded). */
export function labelNames(f: Family): string[] {
  const names = new Set<string>();
  for (const s of f.samples)
    for (const k of Object.keys(s.labels)) if (k !== 'le' && k !== 'quantile') names.add(k);
  return [...names].sort();
}
