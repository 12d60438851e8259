import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { findOnPath } from './binaries.js';
import { freePort } from './free-port.js';
import {
  failedOnTakenPort,
  makeTempDir,
  spawnTracked,
  stopProcess,
  waitUntilReady,
  type TrackedProcess,
} from './processes.js';

/**
 * Debian's prometheus and promtool (apt-get install prometheus; .ci/run installs it) for
 * the tests: the repository's scrape config with its relabel rules unchanged over
 * file_sd targets (Debian builds both without Kubernetes discovery), a private
 * Prometheus on a free port, and its HTTP API.
 */

export const PROMETHEUS_DIR = path.resolve(import.meta.dirname, '../../prometheus');

const run = promisify(execFile);

function binary(name: 'prometheus' | 'promtool'): string {
  const found = findOnPath(name);
  if (found === undefined)
    throw new Error(`${name} not found on PATH; install it with: apt-get install -y prometheus`);
  return found;
}

export interface ToolResult {
  code: number;
  output: string;
}

/** Runs promtool; never throws on a non-zero exit (the output says why). */
export async function promtool(args: readonly string[], cwd?: string): Promise<ToolResult> {
  try {
    const r = await run(binary('promtool'), [...args], { cwd, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, output: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : 1,
      output: `${e.stdout ?? ''}${e.stderr ?? ''}`,
    };
  }
}

interface ScrapeConfig {
  job_name: string;
  kubernetes_sd_configs?: unknown[];
  file_sd_configs?: unknown[];
  relabel_configs?: unknown[];
  [k: string]: unknown;
}

export interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs: ScrapeConfig[];
}

export function shippedConfig(): PrometheusConfig {
  return parseYaml(
    readFileSync(path.join(PROMETHEUS_DIR, 'prometheus.yml'), 'utf8'),
  ) as PrometheusConfig;
}

/**
 * The shipped config with each Kubernetes discovery replaced by file_sd over
 * `targetsFile` (relabel rules untouched), rule files at their absolute paths, and the
 * given intervals.
 */
export function fileSdVariant(
  targetsFile: string,
  intervals: { scrape: string; evaluation: string } = { scrape: '15s', evaluation: '15s' },
): PrometheusConfig {
  const c = shippedConfig();
  return {
    ...c,
    global: {
      ...c.global,
      scrape_interval: intervals.scrape,
      scrape_timeout: intervals.scrape,
      evaluation_interval: intervals.evaluation,
    },
    rule_files: (c.rule_files ?? []).map((f) => path.join(PROMETHEUS_DIR, f)),
    scrape_configs: c.scrape_configs.map((s) => {
      if (s.kubernetes_sd_configs === undefined) return s;
      const { kubernetes_sd_configs: _k8s, ...rest } = s;
      return { ...rest, file_sd_configs: [{ files: [targetsFile], refresh_interval: '1s' }] };
    }),
  };
}

/** A pod as Kubernetes discovery would describe it (role: pod), for file_sd. */
export interface PodTarget {
  service: string;
  pod: string;
  /** __address__: the pod IP, optionally with a declared container port. */
  address: string;
  annotations: { scrape?: string; port?: string; path?: string };
  phase?: string;
  namespace?: string;
}

export function podTargets(pods: readonly PodTarget[]): unknown[] {
  return pods.map((p) => {
    const labels: Record<string, string> = {
      __meta_kubernetes_namespace: p.namespace ?? 'ledgerflux',
      __meta_kubernetes_pod_name: p.pod,
      __meta_kubernetes_pod_phase: p.phase ?? 'Running',
      __meta_kubernetes_pod_label_app_kubernetes_io_name: p.service,
    };
    const a = p.annotations;
    if (a.scrape !== undefined)
      labels.__meta_kubernetes_pod_annotation_prometheus_io_scrape = a.scrape;
    if (a.port !== undefined) labels.__meta_kubernetes_pod_annotation_prometheus_io_port = a.port;
    if (a.path !== undefined) labels.__meta_kubernetes_pod_annotation_prometheus_io_path = a.path;
    return { targets: [p.address], labels };
  });
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  readonly url: string;
  readonly dir: string;
  /** Instant query; throws with Prometheus's error text when the query fails. */
  query(expr: string, time?: number): Promise<PromSample[]>;
  labelValues(label: string, match: string): Promise<string[]>;
  api<T>(pathAndQuery: string): Promise<T>;
  stop(): Promise<void>;
}

export async function startPrometheus(opts: {
  config: PrometheusConfig;
  targetsFile: string;
  targets: unknown[];
  dir?: string;
}): Promise<PrometheusServer> {
  const dir = opts.dir ?? (await makeTempDir('lf-test-prometheus-'));
  const configFile = path.join(dir, 'prometheus.yml');
  await writeFile(opts.targetsFile, JSON.stringify(opts.targets, null, 2));
  await writeFile(configFile, stringifyYaml(opts.config));
  let proc: TrackedProcess | undefined;
  let port = 0;
  for (let attempt = 1; proc === undefined; attempt++) {
    port = await freePort();
    const p = spawnTracked({
      name: `prometheus :${String(port)}`,
      command: binary('prometheus'),
      args: [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${String(port)}`,
        '--log.level=warn',
      ],
      logFile: path.join(dir, 'prometheus.log'),
      cwd: dir,
    });
    try {
      await waitUntilReady(
        p,
        async () => {
          try {
            return (await fetch(`http://127.0.0.1:${String(port)}/-/ready`)).ok;
          } catch {
            return false;
          }
        },
        { what: '/-/ready', timeoutMs: 30_000, intervalMs: 100 },
      );
      proc = p;
    } catch (err) {
      await stopProcess(p, 'SIGKILL');
      if (attempt >= 3 || !failedOnTakenPort(err)) throw err;
    }
  }
  const url = `http://127.0.0.1:${String(port)}`;
  const api = async <T>(pathAndQuery: string): Promise<T> => {
    const res = await fetch(`${url}${pathAndQuery}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success')
      throw new Error(`${pathAndQuery}: ${body.error ?? res.statusText}`);
    return body.data;
  };
  const running = proc;
  return {
    url,
    dir,
    api,
    query: async (expr, time) => {
      const q = new URLSearchParams({ query: expr });
      if (time !== undefined) q.set('time', String(time));
      const data = await api<{ resultType: string; result: PromSample[] | [number, string] }>(
        `/api/v1/query?${q.toString()}`,
      );
      if (data.resultType === 'scalar') {
        const [t, v] = data.result as [number, string];
        return [{ metric: {}, value: [t, v] }];
      }
      return data.result as PromSample[];
    },
    labelValues: (label, match) =>
      api<string[]>(
        `/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': match }).toString()}`,
      ),
    stop: async () => {
      await stopProcess(running, 'SIGTERM');
    },
  };
}
