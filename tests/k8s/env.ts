import type { IContainer } from 'kubernetes-models/v1/Container';
import { z } from 'zod';
import { loadConfig, variableNames } from '../../services/common/config.js';
import { GatewayConfigSchema } from '../../services/gateway/config.js';
import { IngestorConfigSchema } from '../../services/ingestor/config.js';
import { MigrateConfigSchema } from '../../services/migrate/config.js';
import { NormalizerConfigSchema } from '../../services/normalizer/config.js';
import { SnapshotterConfigSchema } from '../../services/snapshotter/config.js';
import { findGenerated, type K8sObject, type Workload } from './render.js';

/** The config schema each `ledgerflux <command>` parses its environment with. */
export const SCHEMAS: Readonly<Record<string, z.ZodType>> = {
  migrate: MigrateConfigSchema,
  ingestor: IngestorConfigSchema,
  normalizer: NormalizerConfigSchema,
  snapshotter: SnapshotterConfigSchema,
  gateway: GatewayConfigSchema,
};

/** Variables Kubernetes itself sets in every container (HOSTNAME: the pod's name). */
const RUNTIME_VARIABLES = new Set(['HOSTNAME']);

export interface Pod {
  name: string;
  /** apps.kubernetes.io/pod-index for StatefulSet pods. */
  index: number | undefined;
  labels: Record<string, string>;
}

/** The pods a workload creates: <sts>-<k> with the pod-index label, else one stand-in. */
export function podsOf(w: Workload): Pod[] {
  const labels = w.template.metadata?.labels ?? {};
  if (w.kind !== 'StatefulSet') return [{ name: `${w.name}-pod`, index: undefined, labels }];
  return Array.from({ length: w.replicas }, (_, k) => ({
    name: `${w.name}-${String(k)}`,
    index: k,
    labels: { ...labels, 'apps.kubernetes.io/pod-index': String(k) },
  }));
}

/** A ConfigMap's or Secret's keys and values (a Secret's `stringData` wins, as the API merges it). */
export function dataOf(o: K8sObject): Record<string, string> {
  if (o.kind === 'Secret') {
    const data = (o.data ?? {}) as Record<string, string>;
    return {
      ...Object.fromEntries(
        Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
      ),
      ...((o.stringData ?? {}) as Record<string, string>),
    };
  }
  return (o.data ?? {}) as Record<string, string>;
}

function byName(objects: readonly K8sObject[], kind: string, name: string): K8sObject | undefined {
  return objects.find((o) => o.kind === kind && o.metadata.name === name);
}

/** The downward API fields the manifests use, as the kubelet resolves them. */
function fieldRef(path: string, pod: Pod, namespace: string): string | undefined {
  if (path === 'metadata.name') return pod.name;
  if (path === 'metadata.namespace') return namespace;
  const label = /^metadata\.labels\['(.+)'\]$/.exec(path);
  if (label !== null) return pod.labels[label[1] as string];
  return undefined;
}

/**
 * A container's environment exactly as the kubelet builds it for `pod`: literal values,
 * ConfigMap and Secret keys, downward API fields, and `$(VAR)` references; plus HOSTNAME.
 * Every reference that does not resolve is a problem (the pod would not start).
 */
export function containerEnv(
  objects: readonly K8sObject[],
  container: IContainer,
  pod: Pod,
  namespace = 'ledgerflux',
): { env: Record<string, string>; problems: string[] } {
  const env: Record<string, string> = { HOSTNAME: pod.name };
  const problems: string[] = [];
  const where = `${pod.name}/${container.name}`;
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef !== undefined ? 'ConfigMap' : 'Secret';
    const o = ref?.name === undefined ? undefined : byName(objects, kind, ref.name);
    if (o === undefined) problems.push(`${where}: envFrom ${kind} ${String(ref?.name)} not found`);
    else Object.assign(env, dataOf(o));
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = e.value.replace(/\$\((\w+)\)/g, (m, v: string) => env[v] ?? m);
      continue;
    }
    const source = e.valueFrom;
    const keyRef = source?.configMapKeyRef ?? source?.secretKeyRef;
    if (keyRef !== undefined) {
      const kind = source?.configMapKeyRef !== undefined ? 'ConfigMap' : 'Secret';
      const o = byName(objects, kind, keyRef.name ?? '');
      const value = o === undefined ? undefined : dataOf(o)[keyRef.key];
      if (value === undefined)
        problems.push(
          `${where}: ${e.name} from ${kind} ${String(keyRef.name)} key ${keyRef.key} not found`,
        );
      else env[e.name] = value;
    } else if (source?.fieldRef !== undefined) {
      const value = fieldRef(source.fieldRef.fieldPath, pod, namespace);
      if (value === undefined)
        problems.push(`${where}: ${e.name} from ${source.fieldRef.fieldPath} is empty`);
      else env[e.name] = value;
    } else {
      problems.push(`${where}: ${e.name} has neither a value nor a supported valueFrom`);
    }
  }
  return { env, problems };
}

/**
 * Variables a container sets only to be expanded into another one's value (`$(NAME)`):
 * a password from a Secret key that becomes part of DATABASE_URL. The service does not
 * read them, and need not.
 */
export function expansionHelpers(container: IContainer): Set<string> {
  const defined = new Set((container.env ?? []).map((e) => e.name));
  const used = (container.env ?? []).flatMap((e) =>
    [...(e.value ?? '').matchAll(/\$\((\w+)\)/g)].map((m) => m[1] as string),
  );
  return new Set(used.filter((name) => defined.has(name)));
}

/**
 * Both directions between a container's environment and its command's config schema:
 * every variable it sets is one the schema reads (or one of its `helpers`), every variable
 * the schema requires is set, and the schema accepts the values.
 */
export function checkServiceEnv(
  command: string,
  env: Record<string, string>,
  where: string,
  helpers: ReadonlySet<string> = new Set(),
): { problems: string[]; config: Record<string, unknown> | undefined } {
  const schema = SCHEMAS[command];
  if (schema === undefined)
    return { problems: [`${where}: no config schema for "${command}"`], config: undefined };
  const read = new Set(variableNames(schema));
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    if (!read.has(name) && !RUNTIME_VARIABLES.has(name) && !helpers.has(name))
      problems.push(`${where}: sets ${name}, which \`ledgerflux ${command}\` does not read`);
  }
  const shape = objectShape(schema);
  for (const name of read) {
    const field = shape[name];
    if (field !== undefined && !field.safeParse(undefined).success && env[name] === undefined)
      problems.push(`${where}: ${name} is required by \`ledgerflux ${command}\` and not set`);
  }
  try {
    return { problems, config: loadConfig(schema, env) };
  } catch (err) {
    problems.push(`${where}: ${err instanceof Error ? err.message : String(err)}`);
    return { problems, config: undefined };
  }
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> {
  if (schema instanceof z.ZodObject) return schema.shape;
  if (schema instanceof z.ZodPipe) return objectShape(schema.in as z.ZodType);
  throw new TypeError('a config schema is a z.object(), optionally piped into a transform');
}

/**
 * The docker-link variables the kubelet adds to a pod's environment for every Service with
 * a cluster IP in its namespace, unless the pod sets `enableServiceLinks: false`: for the
 * Service `gateway` on 8080 they include GATEWAY_PORT=tcp://<ip>:8080. The container's own
 * variables take precedence over them.
 */
export function serviceLinks(objects: readonly K8sObject[]): Record<string, string> {
  const env: Record<string, string> = {};
  const ip = '10.96.0.10';
  for (const svc of objects.filter((o) => o.kind === 'Service')) {
    const spec = svc.spec as {
      clusterIP?: string;
      ports?: { name?: string; port: number; protocol?: string }[];
    };
    if (spec.clusterIP === 'None') continue;
    const name = svc.metadata.name.toUpperCase().replace(/-/g, '_');
    const [first] = spec.ports ?? [];
    if (first === undefined) continue;
    env[`${name}_SERVICE_HOST`] = ip;
    env[`${name}_SERVICE_PORT`] = String(first.port);
    env[`${name}_PORT`] = `tcp://${ip}:${String(first.port)}`;
    for (const p of spec.ports ?? []) {
      const proto = (p.protocol ?? 'TCP').toUpperCase();
      const key = `${name}_PORT_${String(p.port)}_${proto}`;
      if (p.name !== undefined)
        env[`${name}_SERVICE_PORT_${p.name.toUpperCase().replace(/-/g, '_')}`] = String(p.port);
      env[key] = `${proto.toLowerCase()}://${ip}:${String(p.port)}`;
      env[`${key}_PROTO`] = proto.toLowerCase();
      env[`${key}_PORT`] = String(p.port);
      env[`${key}_ADDR`] = ip;
    }
  }
  return env;
}

/** The shared ConfigMap's values (kustomize names it ledgerflux-config-<hash>). */
export function sharedConfig(objects: readonly K8sObject[]): Record<string, string> {
  return dataOf(findGenerated(objects, 'ConfigMap', 'ledgerflux-config'));
}
