/**
 * Debian's Prometheus scrapes a short simulated run of the real services on loopback,
 * discovered through the repository's relabel rules (file_sd standing in for Kubernetes
 * pods and their prometheus.io annotations), while the simulator's faults are on, a
 * client stops reading, the feed connection is cut and PostgreSQL is killed and
 * restarted. Then:
 *  - between two scrapes of every service, every counter and every histogram count has
 *    increased (the exceptions are named below, each with its reason);
 *  - every metric follows the naming rules, every label is bounded, and the catalogue in
 *    docs/architecture.md lists exactly the metrics the services expose;
 *  - every PromQL expression of every panel (variables and $__rate_interval substituted)
 *    evaluates through /api/v1/query to a series with a non-NaN value, and every metric
 *    the dashboards and alerts name exists;
 *  - every SQL query of the market-data dashboard (its variable and annotation too),
 *    with Grafana's macros expanded, runs as a login holding only ledgerflux_reader
 *    against the real schema and returns rows;
 *  - Prometheus loaded prometheus/alerts.yml and evaluates every rule without error.
 * Each panel's value is printed and written to test-artifacts/observability-live.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import postgres, { type Sql } from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LedgerFluxClient } from '../../services/client/client.js';
import { freePort } from '../harness/free-port.js';
import {
  allQueries,
  loadDashboards,
  renderQuery,
  type DashboardQuery,
} from '../harness/grafana.js';
import { isDefaultMetric, metricProblems } from '../harness/metric-rules.js';
import { startNats, type NatsServer } from '../harness/nats.js';
import { startPostgres, type PgCluster } from '../harness/postgres.js';
import { makeTempDir } from '../harness/processes.js';
import {
  fileSdVariant,
  podTargets,
  startPrometheus,
  type PodTarget,
  type PrometheusServer,
} from '../harness/prometheus.js';
import { familyTotal, labelNames, parseExposition, type Family } from '../harness/prom-text.js';
import { startService, type ServiceProcess } from '../harness/service.js';
import { waitFor } from '../harness/wait.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PRODUCTS = ['BTC-USD', 'ETH-USD'];
const SCRAPE_INTERVAL = '1s';
/** Grafana's $__rate_interval is max($__interval + scrape, 4 × scrape); 10 s leaves margin at 1 s. */
const RATE_INTERVAL = '10s';
/** $__interval of the SQL panels. */
const SQL_INTERVAL = '10s';
const GRAFANA_LOGIN = 'ledgerflux_grafana';

/**
 * Families that need what this run does not do. Each is made to move by the test named in
 * its reason; here it must exist (and it is checked like every other family).
 */
const NOT_MOVING: Record<string, string> = {
  ledgerflux_ingestor_exchange_errors_total:
    'error frames come only in answer to bad requests, and the ingestor sends none (tests/integration/ingestor.test.ts checks it with one)',
  ledgerflux_ingestor_subscription_missing_total:
    'only when a subscriptions ack lacks a channel or product; the simulator acks everything',
  ledgerflux_ingestor_discontinuities_total:
    'only when NATS fails mid-publish after a later frame was stored (the path: tests/integration/publisher.test.ts)',
  ledgerflux_ingestor_sequence_events_total:
    'Advanced Trade only (COINBASE_FEED=advanced); this run reads the Exchange feed (the path: tests/integration/advanced-trade.test.ts)',
  ledgerflux_ingestor_backpressure_pauses_total:
    'only when the publish window is full, NATS slower than the feed (tests/integration/ingestor.test.ts checks it)',
  ledgerflux_normalizer_dlq_frames_total:
    "the simulator's malformed frames are not JSON, which the ingestor files (the normalizer's schema path: tests/integration/dlq.test.ts)",
  ledgerflux_ingestor_unexpected_frames_total:
    'only for a frame naming a product outside PRODUCTS or forging our marker type; the simulator sends neither (tests/hostile/fuzz-ingestor.test.ts)',
  ledgerflux_normalizer_ignored_frames_total:
    'only for raw frames of types the normalizer does not map (full-channel types); the simulator sends none on product subjects (tests/hostile/fuzz-normalizer.test.ts)',
  ledgerflux_normalizer_skipped_reflected_total:
    'only when a restarted normalizer is redelivered frames it had published (the path: tests/integration/normalizer.test.ts)',
  ledgerflux_snapshotter_consumer_resets_total:
    'only after a delivery hole or a lost durable consumer',
  ledgerflux_snapshotter_retention_deleted_rows_total:
    'retention removes rows older than RETENTION_*_DAYS, whole days',
  ledgerflux_gateway_connections_rejected_total:
    'only at GATEWAY_MAX_CONNECTIONS or while the gateway is not ready (the path: tests/integration/gateway.test.ts)',
  ledgerflux_normalizer_wrong_last_sequence_total:
    'only when a PubAck is lost and the duplicate window cannot tell (a JetStream cluster losing a leader; tests/integration/serialized-publisher.test.ts, tests/chaos/failover.test.ts)',
  ledgerflux_normalizer_lost_pubacks_total:
    'only when a PubAck is lost in a JetStream leader change (tests/chaos/failover.test.ts)',
  ledgerflux_normalizer_shard_restarts_total:
    'only after a delivery lost in transit, a stalled durable or a late write by a predecessor (a JetStream cluster losing nodes: tests/chaos/failover.test.ts, make soak)',
  ledgerflux_gateway_feed_recreated_total:
    'only when the shared consumer falls silent while MD_NORM grows (its server died: tests/chaos/failover.test.ts, make soak)',
  ledgerflux_gateway_feed_invalid_total:
    'only for MD_NORM messages failing the schema or of a product the gateway does not serve',
};

interface Svc {
  name: string;
  pod: string;
  port: number;
  proc: ServiceProcess;
}

const started: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const stop of started.splice(0).reverse()) await stop().catch(() => undefined);
});

async function scrape(port: number): Promise<Map<string, Family>> {
  const res = await fetch(`http://127.0.0.1:${String(port)}/metrics`, {
    signal: AbortSignal.timeout(5_000),
  });
  return parseExposition(await res.text());
}

async function scrapeAll(svcs: readonly Svc[]): Promise<Map<string, Family>> {
  const all = new Map<string, Family>();
  for (const m of await Promise.all(svcs.map((s) => scrape(s.port))))
    for (const [name, f] of m) all.set(name, f);
  return all;
}

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${String(port)}/readyz`)).status === 200;
  } catch {
    return false;
  }
}

/** Names the catalogue of docs/architecture.md lists. */
function catalogue(): Set<string> {
  const doc = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
  const start = doc.indexOf('## Metrics catalogue');
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end === -1 ? undefined : end);
  return new Set([...section.matchAll(/^\| `(ledgerflux_[a-z0-9_]+)`/gm)].map((m) => m[1] ?? ''));
}

/** Metric names a PromQL expression selects (plain names and __name__ regexes). */
function selectedNames(expr: string): { names: string[]; patterns: RegExp[] } {
  const patterns = [...expr.matchAll(/__name__=~"([^"]+)"/g)].map(
    (m) => new RegExp(`^(?:${m[1] ?? ''})$`),
  );
  const withoutRegexes = expr.replace(/__name__=~"[^"]+"/g, '');
  const names = [...withoutRegexes.matchAll(/\b(ledgerflux_[a-z0-9_]+)/g)].map((m) =>
    (m[1] ?? '').replace(/_(bucket|sum|count)$/, ''),
  );
  return { names, patterns };
}

function total(f: Family | undefined): number {
  return f === undefined ? 0 : familyTotal(f);
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      resolve();
    });
    ws.once('error', reject);
  });
}

function describeValue(v: unknown): string {
  if (typeof v === 'number')
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

describe('Prometheus and Grafana over a simulated run', () => {
  it('moves every metric, answers every panel and evaluates every rule', async () => {
    const t0 = Date.now();
    const timings: Record<string, number> = {};
    const mark = (what: string) => {
      timings[what] = Date.now() - t0;
      console.info(`live observability: ${what} at ${(timings[what] / 1000).toFixed(1)} s`);
    };

    // --- servers, schema, the read-only login Grafana uses -------------------------------
    const [nats, pg]: [NatsServer, PgCluster] = await Promise.all([startNats(), startPostgres()]);
    started.push(
      () => nats.stop(),
      () => pg.stop(),
    );
    const dbUrl = await pg.createDatabase();
    const migrate = await startService('migrate', { NATS_URL: nats.url, DATABASE_URL: dbUrl });
    const migrated = await migrate.proc.exited;
    expect(migrated.code, migrate.logTail()).toBe(0);
    const admin = postgres(dbUrl, { max: 1, onnotice: () => undefined });
    started.push(() => admin.end({ timeout: 1 }));
    await admin.unsafe(`CREATE ROLE ${GRAFANA_LOGIN} LOGIN IN ROLE ledgerflux_reader`);
    const grafanaUrl = new URL(dbUrl);
    grafanaUrl.username = GRAFANA_LOGIN;
    const reader: Sql = postgres(grafanaUrl.toString(), { max: 2, onnotice: () => undefined });
    started.push(() => reader.end({ timeout: 1 }));
    mark('servers and schema');

    // --- the services, as real processes --------------------------------------------------
    const [simPort, ingestorPort, normalizerPort, snapshotterPort, gatewayPort] = await Promise.all(
      [freePort(), freePort(), freePort(), freePort(), freePort()],
    );
    const common = { NATS_URL: nats.url, PRODUCTS: PRODUCTS.join(','), LOG_LEVEL: 'warn' };
    const start = async (name: string, pod: string, port: number, env: Record<string, string>) => {
      const proc = await startService(name, { ...common, ...env });
      started.push(() => proc.stop());
      return { name, pod, port, proc } satisfies Svc;
    };
    const svcs: Svc[] = await Promise.all([
      start('sim', 'sim-0', simPort, { SIM_PORT: String(simPort) }),
      start('ingestor', 'ingestor-0', ingestorPort, {
        COINBASE_WS_URL: `ws://127.0.0.1:${String(simPort)}`,
        METRICS_PORT: String(ingestorPort),
        SHARDS: '1',
        RECONNECT_MIN_MS: '100',
      }),
      start('normalizer', 'normalizer-0', normalizerPort, {
        METRICS_PORT: String(normalizerPort),
        SHARDS: '1',
        SHARD: '0',
        // A one-trade reorder window: reordered trades make gaps and then late trades.
        REORDER_WINDOW_MS: '1',
        REORDER_WINDOW_MSGS: '1',
        // Thresholds the synthetic market crosses, so that flags are raised and counted.
        PRICE_JUMP_PCT: '0.001',
        ABSURD_SPREAD_PCT: '0.001',
        // Deep books: the depth panel has something to sum, and the slow client fills up.
        BOOK_TOP_N: '50',
      }),
      start('snapshotter', 'snapshotter-0', snapshotterPort, {
        DATABASE_URL: dbUrl,
        METRICS_PORT: String(snapshotterPort),
        BATCH_MS: '100',
        DB_RETRY_MAX_MS: '300',
      }),
      start('gateway', 'gateway-0', gatewayPort, {
        DATABASE_URL: grafanaUrl.toString(),
        GATEWAY_PORT: String(gatewayPort),
        GATEWAY_SLOW_BYTES: String(16 * 1024),
        GATEWAY_MAX_BUFFER_BYTES: String(64 * 1024),
        GATEWAY_SLOW_MAX_MS: '1500',
        GATEWAY_HEARTBEAT_MS: '1000',
        // Room for the slow client's 40 requests in two seconds.
        GATEWAY_RATE_LIMIT_PER_S: '50',
        GATEWAY_RATE_LIMIT_BURST: '100',
      }),
    ]);

    // --- Prometheus, discovering them as Kubernetes pods ------------------------------------
    const promDir = await makeTempDir('lf-live-prometheus-');
    const targetsFile = path.join(promDir, 'targets.json');
    const pods: PodTarget[] = [
      ...svcs.map((s) => ({
        service: s.name,
        pod: s.pod,
        // The normalizer declares another container port: the annotation must win.
        address: s.name === 'normalizer' ? '127.0.0.1:1' : '127.0.0.1',
        annotations: {
          scrape: 'true',
          port: String(s.port),
          ...(s.name === 'gateway' || s.name === 'snapshotter' ? { path: '/metrics' } : {}),
        },
      })),
      // Dropped by the relabel rules: a finished Job's pod, and a pod without the annotation.
      {
        service: 'migrate',
        pod: 'migrate-x7k2p',
        address: '127.0.0.1',
        phase: 'Succeeded',
        annotations: { scrape: 'true', port: '1' },
      },
      { service: 'grafana', pod: 'grafana-0', address: '127.0.0.1:3000', annotations: {} },
    ];
    const prom: PrometheusServer = await startPrometheus({
      config: fileSdVariant(targetsFile, { scrape: SCRAPE_INTERVAL, evaluation: SCRAPE_INTERVAL }),
      targetsFile,
      targets: podTargets(pods),
      dir: promDir,
    });
    started.push(() => prom.stop());

    for (const s of svcs)
      await waitFor(`${s.name} ready`, () => ready(s.port), { timeoutMs: 90_000, intervalMs: 200 });
    mark('services ready');

    // The relabel rules: five pods kept with their service, pod and annotated port.
    type Target = {
      labels: Record<string, string>;
      scrapeUrl: string;
      health: string;
    };
    const targets = await waitFor(
      'every target up',
      async () => {
        const t = await prom.api<{ activeTargets: Target[]; droppedTargets: unknown[] }>(
          '/api/v1/targets',
        );
        return t.activeTargets.length === svcs.length &&
          t.activeTargets.every((a) => a.health === 'up')
          ? t
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(targets.droppedTargets).toHaveLength(2);
    expect(
      targets.activeTargets
        .map((a) => [
          a.labels.service,
          a.labels.pod,
          a.labels.namespace,
          a.labels.instance,
          a.scrapeUrl,
        ])
        .sort(),
    ).toEqual(
      svcs
        .map((s) => [
          s.name,
          s.pod,
          'ledgerflux',
          `127.0.0.1:${String(s.port)}`,
          `http://127.0.0.1:${String(s.port)}/metrics`,
        ])
        .sort(),
    );

    // --- traffic: a fast client, the simulator's faults ---------------------------------------
    const gwUrl = `ws://127.0.0.1:${String(gatewayPort)}/ws`;
    const fast = new LedgerFluxClient({
      url: gwUrl,
      WebSocket,
      reconnect: { initialMs: 50, maxMs: 500 },
    });
    started.push(async () => {
      fast.close();
      await Promise.resolve();
    });
    let fastUpdates = 0;
    fast.on((e) => {
      if (e.type === 'update') fastUpdates++;
    });
    fast.subscribe({ channels: ['ticker', 'trades', 'book'], products: PRODUCTS });
    const simHttp = `http://127.0.0.1:${String(simPort)}`;
    const faults = async (body: unknown) => {
      const res = await fetch(`${simHttp}/control/faults`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
    };
    await faults({
      drop: { p: 0.02 },
      dup: { p: 0.02 },
      reorder: { p: 0.03, k: 3 },
      malformed: { p: 0.003 },
    });
    await waitFor('updates at the fast client', () => fastUpdates > 50, { timeoutMs: 30_000 });
    await waitFor(
      'rows in PostgreSQL',
      async () => (await admin`select count(*)::int as n from trades`)[0]?.n > 20,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    mark('data flowing');

    // --- scrape 1 ---------------------------------------------------------------------------
    const before = await scrapeAll(svcs);
    mark('first scrape');

    // --- what should move every metric ------------------------------------------------------
    // The feed connection is cut (reconnect, markers, book invalidation, resyncs, snapshots).
    await faults({ close: { after_frames: 50, code: 1006 } });
    // A client that never reads: conflation, slow_client gaps, then 4000. The kernel takes
    // megabytes of a socket's data before the gateway sees a backlog, so the client also
    // replays ETH-USD from offset 0 a few times (a resume served from the ring, at memory
    // speed) while BTC-USD is live: the live updates then meet a full socket.
    const slow = new WebSocket(gwUrl);
    started.push(async () => {
      slow.terminate();
      await Promise.resolve();
    });
    await new Promise<void>((resolve, reject) => {
      slow.once('open', () => {
        resolve();
      });
      slow.once('error', reject);
    });
    slow.pause();
    const all = ['ticker', 'trades', 'book'];
    slow.send(JSON.stringify({ op: 'subscribe', channels: all, products: ['BTC-USD'] }));
    for (let i = 0; i < 20; i++) {
      if (i > 0)
        slow.send(JSON.stringify({ op: 'unsubscribe', channels: all, products: ['ETH-USD'] }));
      slow.send(
        JSON.stringify({
          op: 'subscribe',
          channels: all,
          products: ['ETH-USD'],
          from: { 'ETH-USD': 0 },
        }),
      );
      // Each replay runs before the next request cancels it.
      await new Promise((r) => setTimeout(r, 100));
    }
    // A client error, and a bad subscribe at the simulator.
    const bad = new WebSocket(gwUrl);
    await opened(bad);
    bad.send('not json');
    const simBad = new WebSocket(`ws://127.0.0.1:${String(simPort)}`);
    await opened(simBad);
    simBad.send(JSON.stringify({ type: 'subscribe', channels: [] }));
    // A client resuming from a recent offset (the ring).
    const offsets = fast.offsets();
    const resumer = new LedgerFluxClient({ url: gwUrl, WebSocket, reconnect: false });
    started.push(async () => {
      resumer.close();
      await Promise.resolve();
    });
    resumer.subscribe({ channels: ['trades'], products: PRODUCTS, from: offsets });
    // REST.
    const rest = `http://127.0.0.1:${String(gatewayPort)}`;
    const from = new Date(t0).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    for (const p of [
      '/v1/products',
      '/v1/products/BTC-USD',
      `/v1/products/ETH-USD/trades?from=${from}&to=${to}&limit=10`,
    ])
      expect((await fetch(`${rest}${p}`)).status, p).toBe(200);
    // PostgreSQL killed under the snapshotter, then restarted.
    const retries = async () =>
      total((await scrape(snapshotterPort)).get('ledgerflux_snapshotter_retries_total'));
    const retriesBefore = await retries();
    await pg.kill();
    await waitFor('a failed commit', async () => (await retries()) > retriesBefore, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    await pg.restart();
    mark('events');

    // --- scrape 2: every counter and histogram count has moved -----------------------------
    let after = before;
    let lastLeft = -1;
    const notMoved = () =>
      [...before.values()]
        .filter((f) => f.type === 'counter' || f.type === 'histogram')
        .filter((f) => !(f.name in NOT_MOVING))
        .filter((f) => familyTotal(after.get(f.name) ?? f) <= familyTotal(f))
        .map((f) => f.name);
    await waitFor(
      'every counter and histogram to move',
      async () => {
        after = await scrapeAll(svcs);
        const left = notMoved();
        if (left.length !== lastLeft)
          console.info(`${String(Date.now() - t0)} ms: ${left.join(' ')}`);
        lastLeft = left.length;
        return left.length === 0;
      },
      { timeoutMs: 45_000, intervalMs: 1_000 },
    ).catch(() => undefined);
    mark('second scrape');
    expect(notMoved(), 'counters and histograms that did not move').toEqual([]);
    const moving = [...before.values()].filter(
      (f) => f.type === 'counter' || f.type === 'histogram',
    );
    const movedAnyway = Object.keys(NOT_MOVING).filter(
      (n) => total(after.get(n)) > total(before.get(n)),
    );
    for (const name of Object.keys(NOT_MOVING)) expect(before.has(name), name).toBe(true);
    // The gateway closed the slow client with 4000 (the client, not reading, cannot see it).
    const closes4000 = (m: Map<string, Family>) =>
      m.get('ledgerflux_gateway_disconnects_total')?.samples.find((x) => x.labels.code === '4000')
        ?.value ?? 0;
    expect(closes4000(after), 'slow client closed with 4000').toBeGreaterThan(closes4000(before));
    slow.terminate();

    // --- names, help, labels, catalogue -----------------------------------------------------
    const families = [...after.values()];
    const problems = families.flatMap((f) =>
      metricProblems({ name: f.name, type: f.type, help: f.help, labelNames: labelNames(f) }),
    );
    expect(problems).toEqual([]);
    const products = new Set(
      families
        .flatMap((f) => f.samples.map((s) => s.labels.product))
        .filter((p) => p !== undefined),
    );
    expect(
      [...products].every((p) => PRODUCTS.includes(p)),
      [...products].join(','),
    ).toBe(true);
    for (const f of families)
      expect(new Set(f.samples.map((s) => JSON.stringify(s.labels))).size, f.name).toBeLessThan(
        200,
      );
    const own = families.filter((f) => !isDefaultMetric(f.name)).map((f) => f.name);
    const listed = catalogue();
    expect(
      own.filter((n) => !listed.has(n)),
      'exposed but not in the catalogue',
    ).toEqual([]);
    expect(
      [...listed].filter((n) => !after.has(n)),
      'in the catalogue but not exposed',
    ).toEqual([]);

    // --- every PromQL query of every panel -------------------------------------------------
    const dashboards = loadDashboards();
    const queries = dashboards.flatMap(allQueries);
    const report: { dashboard: string; where: string; query: string; value: string }[] = [];
    // Prometheus variables use Grafana's label_values(match, label): the label values API.
    const promVariables = queries.filter(
      (x) => x.kind === 'promql' && x.where.startsWith('variable'),
    );
    expect(promVariables.map((v) => v.where)).toEqual(['variable shard']);
    const variableValues: Record<string, string[]> = {};
    for (const v of promVariables) {
      const m = /^label_values\((.+),\s*(\w+)\)$/.exec(v.text.trim());
      expect(m, `${v.where}: label_values(match, label)`).not.toBeNull();
      const values = await prom.labelValues(m?.[2] ?? '', m?.[1] ?? '');
      variableValues[v.where.slice('variable '.length)] = values;
      report.push({
        dashboard: v.dashboard,
        where: v.where,
        query: v.text,
        value: values.join(', '),
      });
    }
    const shards = variableValues.shard ?? [];
    expect(shards).toEqual(['0']);
    const promValues: Record<string, string> = {
      shard: shards[0] ?? '',
      __rate_interval: RATE_INTERVAL,
      __interval: '1s',
      __interval_ms: '1000',
      __range: '5m',
    };
    const range = { from: new Date(t0 - 5 * 60_000), to: new Date(Date.now() + 60_000) };
    for (const q of queries.filter((x) => x.kind === 'promql' && !x.where.startsWith('variable'))) {
      const expr = renderQuery(q, promValues, range);
      const { names, patterns } = selectedNames(expr);
      for (const n of names) expect(after.has(n), `${q.where}: ${n} is exposed`).toBe(true);
      for (const p of patterns)
        expect(
          families.some((f) => p.test(f.name)),
          `${q.where}: ${String(p)} matches`,
        ).toBe(true);
      const result = await waitFor(
        `${q.where}: a series with a value`,
        async () => {
          const r = await prom.query(expr);
          return r.some((s) => !Number.isNaN(Number(s.value[1]))) ? r : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      ).catch(async () => prom.query(expr));
      const values = result.filter((s) => !Number.isNaN(Number(s.value[1])));
      expect(values.length, `${q.where}: ${expr} → ${JSON.stringify(result)}`).toBeGreaterThan(0);
      report.push({
        dashboard: q.dashboard,
        where: q.where,
        query: expr,
        value:
          values
            .slice(0, 6)
            .map(
              (s) =>
                `${Object.values(s.metric).join(' ') || '·'}=${describeValue(Number(s.value[1]))}`,
            )
            .join(', ') + (values.length > 6 ? ` (+${String(values.length - 6)} series)` : ''),
      });
    }
    mark('PromQL panels');

    // --- every SQL query, as the read-only login -------------------------------------------
    const sqlQueries = queries.filter((x) => x.kind === 'sql');
    const variable = sqlQueries.find((x) => x.where === 'variable product') as DashboardQuery;
    const productRows = await reader.unsafe<{ product: string }[]>(
      renderQuery(variable, {}, range),
    );
    expect(productRows.map((r) => r.product)).toEqual(PRODUCTS);
    const sqlValues: Record<string, string> = {
      product: productRows[0]?.product ?? '',
      __interval: SQL_INTERVAL,
      __interval_ms: '10000',
    };
    for (const q of sqlQueries) {
      const text = renderQuery(q, sqlValues, range);
      const rows = await reader.unsafe<Record<string, unknown>[]>(text);
      expect(rows.length, `${q.where}: rows from\n${text}`).toBeGreaterThan(0);
      if (q.format === 'time_series') expect(Object.keys(rows[0] ?? {})[0], q.where).toBe('time');
      const first = rows[0] ?? {};
      report.push({
        dashboard: q.dashboard,
        where: q.where,
        query: text,
        value: `${String(rows.length)} rows; first: ${Object.entries(first)
          .map(([k, v]) => `${k}=${describeValue(v)}`)
          .join(', ')}`,
      });
    }
    // The login is read-only.
    await expect(reader.unsafe("DELETE FROM trades WHERE product = 'BTC-USD'")).rejects.toThrow(
      /permission denied/,
    );
    mark('SQL panels');

    // --- the alert rules, loaded and evaluated ---------------------------------------------
    type Rule = { name: string; health: string; lastError?: string; state?: string };
    const groups = await waitFor('rules evaluated', async () => {
      const g = await prom.api<{ groups: { rules: (Rule & { lastEvaluation: string })[] }[] }>(
        '/api/v1/rules',
      );
      const rules = g.groups.flatMap((x) => x.rules);
      return rules.length > 0 && rules.every((r) => !r.lastEvaluation.startsWith('0001'))
        ? rules
        : undefined;
    });
    expect(groups.map((r) => [r.name, r.health, r.lastError ?? ''])).toEqual(
      groups.map((r) => [r.name, 'ok', '']),
    );
    expect(groups).toHaveLength(9);
    mark('rules');

    // --- the report --------------------------------------------------------------------------
    const summary = {
      seconds: (Date.now() - t0) / 1000,
      timings,
      families: {
        total: families.length,
        countersAndHistograms: moving.length,
        moved: moving.length - Object.keys(NOT_MOVING).length + movedAnyway.length,
        exceptions: NOT_MOVING,
        exceptionsThatMovedAnyway: movedAnyway,
      },
      rules: groups.map((r) => ({ name: r.name, health: r.health, state: r.state })),
      panels: report,
    };
    mkdirSync(path.join(ROOT, 'test-artifacts'), { recursive: true });
    writeFileSync(
      path.join(ROOT, 'test-artifacts/observability-live.json'),
      `${JSON.stringify(summary, null, 2)}\n`,
    );
    console.info(
      [
        `live observability run: ${summary.seconds.toFixed(1)} s, ${String(families.length)} families, ` +
          `${String(moving.length)} counters/histograms, ${String(Object.keys(NOT_MOVING).length)} named exceptions ` +
          `(moved anyway: ${movedAnyway.join(', ') || 'none'})`,
        `timings (ms from start): ${JSON.stringify(timings)}`,
        ...report.map((r) => `  ${r.dashboard} | ${r.where} | ${r.value}`),
      ].join('\n'),
    );
    fast.close();
    resumer.close();
    bad.close();
    simBad.close();
  });
});
