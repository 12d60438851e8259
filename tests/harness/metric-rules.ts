/**
 * The naming rules of docs/architecture.md ("Metrics catalogue"), as a function that lists
 * what a metric breaks. Unit tests apply it to each service's metric definitions; the live
 * test applies it to everything the running services expose.
 */

export const SERVICES = ['ingestor', 'normalizer', 'snapshotter', 'gateway', 'sim'] as const;

/** Counters: `<name>_total`, the thing counted (or its unit) before `_total`. Histograms: */
export const HISTOGRAM_UNITS = ['seconds', 'bytes', 'messages'] as const;
/** Gauge units: a quantity, or a 0/1 state (`_connected`, `_up`). `seq` is a stream sequence. */
export const GAUGE_UNITS = [
  'seconds',
  'bytes',
  'messages',
  'trades',
  'connections',
  'subscriptions',
  'readers',
  'seq',
] as const;
export const STATE_SUFFIXES = ['connected', 'up'] as const;

/**
 * Label names may only carry values from closed sets (enums, config): never a client id,
 * an address, an error text or a trade id.
 */
export const ALLOWED_LABELS = new Set([
  'type', // frame type (closed list, else "other")
  'outcome',
  'product', // from PRODUCTS only
  'reason',
  'cause',
  'state',
  'channel',
  'result',
  'shard',
  'kind',
  'flag',
  'table',
  'op',
  'code', // close codes and error codes: closed lists
  'source',
  'fault',
  'route', // REST operation ids
  'status', // HTTP status of a REST route
]);

export interface MetricInfo {
  name: string;
  type: string;
  help: string;
  labelNames: readonly string[];
}

const PREFIX = new RegExp(`^ledgerflux_(${SERVICES.join('|')})_([a-z][a-z0-9_]*)$`);

/** prom-client's default process and Node metrics, under each service's prefix. */
export function isDefaultMetric(name: string): boolean {
  const m = PREFIX.exec(name);
  return m !== null && /^(process_|nodejs_)/.test(m[2] ?? '');
}

export function metricProblems(m: MetricInfo): string[] {
  const problems: string[] = [];
  const match = PREFIX.exec(m.name);
  if (match === null) return [`${m.name}: not ledgerflux_<service>_<name>_<unit>`];
  if (isDefaultMetric(m.name)) return problems;
  const tokens = (match[2] ?? '').split('_');
  const last = tokens.at(-1) ?? '';
  const unitTokens = ['seconds', 'bytes', 'total'];
  for (const u of unitTokens) {
    if (tokens.filter((t) => t === u).length > 1) problems.push(`${m.name}: "${u}" twice`);
  }
  switch (m.type) {
    case 'counter':
      if (last !== 'total' || tokens.length < 2)
        problems.push(`${m.name}: a counter ends in _<thing>_total`);
      break;
    case 'histogram':
      if (!(HISTOGRAM_UNITS as readonly string[]).includes(last))
        problems.push(`${m.name}: a histogram ends in its unit (${HISTOGRAM_UNITS.join(', ')})`);
      break;
    case 'gauge':
      if (
        !(GAUGE_UNITS as readonly string[]).includes(last) &&
        !(STATE_SUFFIXES as readonly string[]).includes(last)
      )
        problems.push(
          `${m.name}: a gauge ends in its unit (${GAUGE_UNITS.join(', ')}) or is a 0/1 state (_connected, _up)`,
        );
      if (last === 'total') problems.push(`${m.name}: _total is for counters`);
      break;
    default:
      problems.push(`${m.name}: type ${m.type} (counters, gauges and histograms only)`);
  }
  if (m.help.trim().length < 10) problems.push(`${m.name}: help text missing or too short`);
  else if (!/^[A-Z0-9]/.test(m.help)) problems.push(`${m.name}: help text starts lowercase`);
  for (const l of m.labelNames) {
    if (!ALLOWED_LABELS.has(l)) problems.push(`${m.name}: label "${l}" is not a bounded label`);
  }
  return problems;
}
