import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { findOnPath } from '../harness/binaries.js';

const run = promisify(execFile);

export const ROOT = path.resolve(import.meta.dirname, '../..');
/** The overlays that run the services; `infra` is the dev overlay without them. */
export const SERVICE_OVERLAYS = ['dev', 'prod'] as const;
export const OVERLAYS = [...SERVICE_OVERLAYS, 'infra'] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** kubectl's bundled kustomize (v5) renders what `kubectl apply -k` and skaffold deploy. */
export const MIN_KUBECTL = [1, 27] as const;

/** A rendered object: what every object has, the rest read through the typed helpers. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

/**
 * kubectl from PATH, at least 1.27; otherwise an error naming the tool. Debian's own
 * `kubernetes-client` package is 1.20, whose kustomize cannot render these overlays.
 */
export async function kubectl(): Promise<string> {
  const bin = findOnPath('kubectl');
  const install =
    'install kubectl >= 1.27 from https://kubernetes.io/docs/tasks/tools/ ' +
    "(not Debian's kubernetes-client package, which is 1.20)";
  if (bin === undefined) throw new Error(`kubectl not found on PATH; ${install}`);
  const { stdout } = await run(bin, ['version', '--client', '-o', 'json']);
  const info = JSON.parse(stdout) as { clientVersion?: { major?: string; minor?: string } };
  const major = Number(info.clientVersion?.major);
  const minor = Number.parseInt(info.clientVersion?.minor ?? '', 10);
  if (!(major > MIN_KUBECTL[0] || (major === MIN_KUBECTL[0] && minor >= MIN_KUBECTL[1]))) {
    throw new Error(`kubectl ${String(major)}.${String(minor)} at ${bin} is too old; ${install}`);
  }
  return bin;
}

/** `kubectl kustomize <dir>`, parsed; any YAML error fails. */
export async function renderDir(dir: string): Promise<K8sObject[]> {
  const { stdout } = await run(await kubectl(), ['kustomize', dir], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return parseYamlStream(stdout);
}

export function renderOverlay(overlay: Overlay): Promise<K8sObject[]> {
  return renderDir(path.join(ROOT, 'k8s/overlays', overlay));
}

/** Prints the Secrets the prod overlay expects to exist, with fresh random passwords. */
export const PROD_SECRETS_SCRIPT = path.join(ROOT, 'k8s/overlays/prod/secrets.sh');

/**
 * The Secrets an overlay expects to find in the cluster instead of rendering them: prod's
 * come from its script (what `make k8s-secrets` creates), the other overlays ship their own.
 */
export async function clusterSecrets(overlay: Overlay): Promise<K8sObject[]> {
  if (overlay !== 'prod') return [];
  const { stdout } = await run(PROD_SECRETS_SCRIPT, []);
  return parseYamlStream(stdout).map((o) => ({
    ...o,
    metadata: { ...o.metadata, namespace: 'ledgerflux' },
  }));
}

/** What the namespace holds once the overlay is deployed: its objects and those Secrets. */
export async function renderDeployed(overlay: Overlay): Promise<K8sObject[]> {
  const [objects, secrets] = await Promise.all([renderOverlay(overlay), clusterSecrets(overlay)]);
  return [...objects, ...secrets];
}

export function parseYamlStream(text: string): K8sObject[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
    return doc.toJS() as K8sObject;
  });
}

export const objectId = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;

export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`${kind}/${name} is not rendered`);
  return found;
}

/** ConfigMaps and Secrets by their base name: kustomize appends a content hash. */
export function findGenerated(
  objects: readonly K8sObject[],
  kind: string,
  base: string,
): K8sObject {
  const found = objects.filter(
    (o) => o.kind === kind && new RegExp(`^${base}-[a-z0-9]{10}$`).test(o.metadata.name),
  );
  if (found.length !== 1)
    throw new Error(`expected one ${kind} ${base}-<hash>, got ${found.length}`);
  return found[0] as K8sObject;
}

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'Job'] as const;

export interface Workload {
  object: K8sObject;
  kind: (typeof WORKLOAD_KINDS)[number];
  name: string;
  replicas: number;
  selector: Record<string, string> | undefined;
  template: IPodTemplateSpec;
}

export function workloads(objects: readonly K8sObject[]): Workload[] {
  return objects.flatMap((o) => {
    const kind = WORKLOAD_KINDS.find((k) => k === o.kind);
    if (kind === undefined) return [];
    const spec = o.spec as {
      replicas?: number;
      selector?: { matchLabels?: Record<string, string> };
      template: IPodTemplateSpec;
    };
    return [
      {
        object: o,
        kind,
        name: o.metadata.name,
        replicas: kind === 'Job' ? 1 : (spec.replicas ?? 1),
        selector: spec.selector?.matchLabels,
        template: spec.template,
      },
    ];
  });
}

export function containersOf(w: Workload): { init: IContainer[]; main: IContainer[] } {
  return { init: w.template.spec?.initContainers ?? [], main: w.template.spec?.containers ?? [] };
}

/** Workloads running the LedgerFlux image: the container's first argument is the command. */
export function ledgerfluxContainers(
  objects: readonly K8sObject[],
): { workload: Workload; container: IContainer; command: string }[] {
  return workloads(objects).flatMap((w) =>
    containersOf(w)
      .main.filter((c) => c.image?.startsWith('localhost/ledgerflux') === true)
      .map((c) => ({ workload: w, container: c, command: c.args?.[0] ?? '' })),
  );
}

export function labelsMatch(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
