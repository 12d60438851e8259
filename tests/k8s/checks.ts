import type { IContainer } from 'kubernetes-models/v1/Container';
import type { INetworkPolicySpec } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicySpec';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IServiceSpec } from 'kubernetes-models/v1/ServiceSpec';
import {
  checkServiceEnv,
  containerEnv,
  expansionHelpers,
  podsOf,
  serviceLinks,
  sharedConfig,
  type Pod,
} from './env.js';
import {
  containersOf,
  labelsMatch,
  ledgerfluxContainers,
  objectId,
  workloads,
  type K8sObject,
  type Workload,
} from './render.js';

/**
 * Cross-reference checks over one rendered overlay. Each returns its problems (empty when
 * the overlay is consistent), so tests assert `[]` and show every problem at once, and a
 * broken copy of an overlay proves that a check can fail.
 */

export const NAMESPACE = 'ledgerflux';

type LabelSelector = NonNullable<INetworkPolicySpec['podSelector']>;

const serviceSpec = (o: K8sObject): IServiceSpec => o.spec as IServiceSpec;
const podSpec = (w: Workload): IPodSpec => w.template.spec ?? { containers: [] };
const allContainers = (w: Workload): IContainer[] => {
  const { init, main } = containersOf(w);
  return [...init, ...main];
};

// --- label selectors ------------------------------------------------------------------

export function selects(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (selector === undefined) return false;
  const matchLabels = Object.entries(selector.matchLabels ?? {});
  const ok = matchLabels.every(([k, v]) => labels[k] === v);
  return (
    ok &&
    (selector.matchExpressions ?? []).every((e) => {
      const has = Object.hasOwn(labels, e.key);
      const value = labels[e.key];
      switch (e.operator) {
        case 'In':
          return has && (e.values ?? []).includes(value as string);
        case 'NotIn':
          return !has || !(e.values ?? []).includes(value as string);
        case 'Exists':
          return has;
        case 'DoesNotExist':
          return !has;
        default:
          return false;
      }
    })
  );
}

/** Every pod the overlay would run, with the workload it belongs to. */
export function allPods(objects: readonly K8sObject[]): { workload: Workload; pod: Pod }[] {
  return workloads(objects).flatMap((w) => podsOf(w).map((pod) => ({ workload: w, pod })));
}

/** A container port of the workload by name or number; the number it resolves to. */
function resolvePort(w: Workload, port: number | string | undefined): number | undefined {
  if (port === undefined) return undefined;
  for (const c of containersOf(w).main) {
    for (const p of c.ports ?? []) {
      if (typeof port === 'number' ? p.containerPort === port : p.name === port)
        return p.containerPort;
    }
  }
  return undefined;
}

// --- workloads and services -----------------------------------------------------------

export function checkSelectors(objects: readonly K8sObject[]): string[] {
  return workloads(objects).flatMap((w) => {
    if (w.kind === 'Job') return [];
    return labelsMatch(w.selector, w.template.metadata?.labels)
      ? []
      : [
          `${objectId(w.object)}: selector ${JSON.stringify(w.selector)} does not match its pod labels`,
        ];
  });
}

export function checkServices(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const svc of objects.filter((o) => o.kind === 'Service')) {
    const spec = serviceSpec(svc);
    const selected = workloads(objects).filter((w) =>
      labelsMatch(spec.selector, w.template.metadata?.labels),
    );
    if (selected.length === 0) {
      problems.push(`${objectId(svc)}: selector ${JSON.stringify(spec.selector)} selects no pods`);
      continue;
    }
    for (const p of spec.ports ?? []) {
      for (const w of selected) {
        if (resolvePort(w, p.targetPort ?? p.port) === undefined)
          problems.push(
            `${objectId(svc)}: targetPort ${String(p.targetPort)} is not a port of ${objectId(w.object)}`,
          );
      }
    }
  }
  for (const w of workloads(objects).filter((x) => x.kind === 'StatefulSet')) {
    const name = (w.object.spec as { serviceName?: string }).serviceName;
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === name);
    if (svc === undefined)
      problems.push(`${objectId(w.object)}: serviceName ${String(name)} is not a Service`);
    else if (serviceSpec(svc).clusterIP !== 'None')
      problems.push(`${objectId(w.object)}: its Service ${String(name)} is not headless`);
    else if (!labelsMatch(serviceSpec(svc).selector, w.template.metadata?.labels))
      problems.push(`${objectId(w.object)}: its Service ${String(name)} does not select its pods`);
  }
  return problems;
}

/** Every probe of every container points at one of that container's declared ports. */
export function checkProbePorts(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    for (const c of allContainers(w)) {
      for (const [kind, probe] of probesOf(c)) {
        const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
        if (port === undefined) continue;
        const declared = (c.ports ?? []).some((p) =>
          typeof port === 'number' ? p.containerPort === port : p.name === port,
        );
        if (!declared)
          problems.push(
            `${objectId(w.object)}/${c.name}: ${kind} port ${String(port)} is not declared`,
          );
      }
    }
  }
  return problems;
}

function probesOf(c: IContainer): [string, IProbe][] {
  const probes: [string, IProbe | undefined][] = [
    ['readinessProbe', c.readinessProbe],
    ['livenessProbe', c.livenessProbe],
    ['startupProbe', c.startupProbe],
  ];
  return probes.filter((p): p is [string, IProbe] => p[1] !== undefined);
}

/**
 * The services' environment against their config schemas (both directions, every pod of a
 * StatefulSet), and what the config implies: the probes and the scrape annotation use the
 * port the service listens on, readiness is /readyz and liveness /healthz.
 */
export function checkServiceContainers(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const { workload: w, container: c, command } of ledgerfluxContainers(objects)) {
    for (const pod of podsOf(w)) {
      const where = `${pod.name}/${c.name}`;
      const resolved = containerEnv(objects, c, pod);
      problems.push(...resolved.problems);
      const helpers = expansionHelpers(c);
      const { problems: envProblems, config } = checkServiceEnv(
        command,
        resolved.env,
        where,
        helpers,
      );
      problems.push(...envProblems);
      if (w.template.spec?.enableServiceLinks !== false) {
        // The kubelet's link variables come first, the container's own override them.
        const withLinks = { ...serviceLinks(objects), ...resolved.env };
        const parsed = checkServiceEnv(
          command,
          withLinks,
          `${where} (with service links)`,
          helpers,
        );
        problems.push(...parsed.problems.filter((p) => !/ sets \w+, which /.test(p)));
      }
      if (w.kind === 'Job' || config === undefined) continue;
      const listens = Number(command === 'gateway' ? config.GATEWAY_PORT : config.METRICS_PORT);
      if (resolvePort(w, listens) === undefined)
        problems.push(`${where}: listens on ${String(listens)}, which is not a declared port`);
      for (const [kind, path] of [
        ['readinessProbe', '/readyz'],
        ['livenessProbe', '/healthz'],
      ] as const) {
        const probe = c[kind];
        if (probe?.httpGet === undefined) {
          problems.push(`${where}: no ${kind} (httpGet ${path})`);
          continue;
        }
        if (probe.httpGet.path !== path)
          problems.push(`${where}: ${kind} asks ${String(probe.httpGet.path)}, not ${path}`);
        if (resolvePort(w, probe.httpGet.port) !== listens)
          problems.push(
            `${where}: ${kind} port ${String(probe.httpGet.port)} is not ${String(listens)}`,
          );
      }
      const annotations = w.template.metadata?.annotations ?? {};
      if (annotations['prometheus.io/scrape'] !== 'true')
        problems.push(`${where}: not annotated prometheus.io/scrape`);
      if (annotations['prometheus.io/port'] !== String(listens))
        problems.push(
          `${where}: prometheus.io/port ${String(annotations['prometheus.io/port'])}, serves /metrics on ${String(listens)}`,
        );
    }
  }
  return problems;
}

/** Any pod annotated for scraping names one of its declared ports. */
export function checkScrapeAnnotations(objects: readonly K8sObject[]): string[] {
  return workloads(objects).flatMap((w) => {
    const a = w.template.metadata?.annotations ?? {};
    if (a['prometheus.io/scrape'] !== 'true') return [];
    const port = Number(a['prometheus.io/port']);
    return resolvePort(w, port) === undefined
      ? [
          `${objectId(w.object)}: prometheus.io/port ${String(a['prometheus.io/port'])} is not a declared port`,
        ]
      : [];
  });
}

/** The normalizer StatefulSet has one pod per shard: replicas = SHARDS, ingestor agrees. */
export function checkShards(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const shardsOf = (command: string): number[] =>
    ledgerfluxContainers(objects)
      .filter((x) => x.command === command)
      .flatMap(({ workload, container }) => {
        const pod = podsOf(workload)[0];
        if (pod === undefined) return [];
        const shards = containerEnv(objects, container, pod).env.SHARDS;
        return [Number(shards ?? '1')];
      });
  const normalizers = ledgerfluxContainers(objects).filter((x) => x.command === 'normalizer');
  if (normalizers.length !== 1)
    return [`expected one normalizer workload, got ${String(normalizers.length)}`];
  const n = normalizers[0] as (typeof normalizers)[number];
  const [shards] = shardsOf('normalizer');
  if (n.workload.kind !== 'StatefulSet')
    problems.push('the normalizer is not a StatefulSet (no pod index)');
  if (n.workload.replicas !== shards)
    problems.push(`normalizer replicas ${String(n.workload.replicas)} != SHARDS ${String(shards)}`);
  for (const s of shardsOf('ingestor')) {
    if (s !== shards)
      problems.push(`ingestor SHARDS ${String(s)} != normalizer SHARDS ${String(shards)}`);
  }
  return problems;
}

// --- references between objects --------------------------------------------------------

export function checkReferences(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const has = (kind: string, name: string | undefined): boolean =>
    objects.some((o) => o.kind === kind && o.metadata.name === name);
  for (const w of workloads(objects)) {
    const spec = podSpec(w);
    for (const v of spec.volumes ?? []) {
      if (v.configMap !== undefined && !has('ConfigMap', v.configMap.name))
        problems.push(
          `${objectId(w.object)}: volume ${v.name}: ConfigMap ${String(v.configMap.name)} not found`,
        );
      if (v.secret !== undefined && !has('Secret', v.secret.secretName))
        problems.push(
          `${objectId(w.object)}: volume ${v.name}: Secret ${String(v.secret.secretName)} not found`,
        );
    }
    const claims = new Set(
      (
        (w.object.spec as { volumeClaimTemplates?: { metadata?: { name?: string } }[] })
          .volumeClaimTemplates ?? []
      ).map((t) => t.metadata?.name),
    );
    const volumes = new Set([...(spec.volumes ?? []).map((v) => v.name), ...claims]);
    for (const c of allContainers(w)) {
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name))
          problems.push(`${objectId(w.object)}/${c.name}: mounts ${m.name}, no such volume`);
      }
      for (const pod of podsOf(w)) problems.push(...containerEnv(objects, c, pod).problems);
    }
    if (spec.serviceAccountName !== undefined && !has('ServiceAccount', spec.serviceAccountName))
      problems.push(`${objectId(w.object)}: ServiceAccount ${spec.serviceAccountName} not found`);
  }
  for (const o of objects) {
    if (o.kind === 'HorizontalPodAutoscaler') {
      const ref = (o.spec as { scaleTargetRef: { kind: string; name: string } }).scaleTargetRef;
      if (!has(ref.kind, ref.name))
        problems.push(`${objectId(o)}: scales ${ref.kind}/${ref.name}, not found`);
    }
    if (o.kind === 'PodDisruptionBudget') {
      const sel = (o.spec as { selector?: LabelSelector }).selector;
      if (!allPods(objects).some(({ pod }) => selects(sel, pod.labels)))
        problems.push(`${objectId(o)}: selects no pods`);
    }
    if (o.kind === 'Ingress') problems.push(...checkIngress(objects, o));
    if (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') {
      const b = o as unknown as {
        roleRef: { kind: string; name: string };
        subjects?: { kind: string; name: string; namespace?: string }[];
      };
      if (!has(b.roleRef.kind, b.roleRef.name))
        problems.push(`${objectId(o)}: role ${b.roleRef.name} not found`);
      for (const s of b.subjects ?? []) {
        if (
          s.kind === 'ServiceAccount' &&
          (!has('ServiceAccount', s.name) || s.namespace !== NAMESPACE)
        )
          problems.push(
            `${objectId(o)}: ServiceAccount ${String(s.namespace)}/${s.name} not found`,
          );
      }
    }
  }
  return problems;
}

function checkIngress(objects: readonly K8sObject[], ingress: K8sObject): string[] {
  const problems: string[] = [];
  const rules =
    (
      ingress.spec as {
        rules?: {
          http?: {
            paths: {
              path?: string;
              backend: { service?: { name: string; port?: { name?: string; number?: number } } };
            }[];
          };
        }[];
      }
    ).rules ?? [];
  for (const path of rules.flatMap((r) => r.http?.paths ?? [])) {
    const backend = path.backend.service;
    const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === backend?.name);
    if (svc === undefined) {
      problems.push(
        `${objectId(ingress)}: ${String(path.path)} → Service ${String(backend?.name)} not found`,
      );
      continue;
    }
    const ports = serviceSpec(svc).ports ?? [];
    const port = backend?.port;
    if (
      !ports.some((p) =>
        port?.name !== undefined ? p.name === port.name : p.port === port?.number,
      )
    )
      problems.push(
        `${objectId(ingress)}: ${String(path.path)} → port ${JSON.stringify(port)} not on ${objectId(svc)}`,
      );
  }
  return problems;
}

// --- images -----------------------------------------------------------------------------

/**
 * LedgerFlux images are skaffold artifacts of the configuration that deploys the overlay
 * (skaffold replaces exactly those names with what it built); every other image is pinned.
 */
export function checkImages(objects: readonly K8sObject[], artifacts: readonly string[]): string[] {
  const problems: string[] = [];
  const used = new Set<string>();
  for (const w of workloads(objects)) {
    for (const c of allContainers(w)) {
      const image = c.image ?? '';
      if (image.startsWith('localhost/')) {
        used.add(image);
        if (!artifacts.includes(image))
          problems.push(
            `${objectId(w.object)}/${c.name}: image ${image} is not a skaffold artifact (${artifacts.join(', ')})`,
          );
      } else if (!/:[\w.-]+$/.test(image) || image.endsWith(':latest')) {
        problems.push(`${objectId(w.object)}/${c.name}: image ${image} is not pinned to a version`);
      }
    }
  }
  for (const a of artifacts)
    if (!used.has(a)) problems.push(`skaffold builds ${a}, which no container uses`);
  return problems;
}

// --- NATS topology ----------------------------------------------------------------------

/** The files a NATS pod mounts at /etc/nats (the ConfigMap behind its config volume). */
export function natsConfigFiles(objects: readonly K8sObject[]): Record<string, string> {
  const sts = workloads(objects).find((w) => w.name === 'nats');
  const volume =
    sts === undefined ? undefined : podSpec(sts).volumes?.find((v) => v.name === 'config');
  const cm = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === volume?.configMap?.name,
  );
  if (cm === undefined) throw new Error('no ConfigMap mounted by StatefulSet/nats');
  return (cm.data ?? {}) as Record<string, string>;
}

/** The nats.conf a NATS pod runs. */
export function natsConf(objects: readonly K8sObject[]): string {
  const conf = natsConfigFiles(objects)['nats.conf'];
  if (conf === undefined) throw new Error('no nats.conf mounted by StatefulSet/nats');
  return conf;
}

/**
 * Streams are created with JS_REPLICAS replicas (the migrate Job's environment), so the
 * overlay runs at least that many NATS servers, clustered when more than one, with a route
 * to each pod through the headless Service.
 */
export function checkStreamReplicas(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const sts = workloads(objects).find((w) => w.name === 'nats');
  if (sts === undefined) return ['no StatefulSet/nats'];
  const servers = sts.replicas;
  const migrate = ledgerfluxContainers(objects).find((x) => x.command === 'migrate');
  if (migrate === undefined) return ['no migrate Job'];
  const pod = podsOf(migrate.workload)[0] as Pod;
  const replicas = Number(containerEnv(objects, migrate.container, pod).env.JS_REPLICAS ?? '1');
  for (const { workload, container } of ledgerfluxContainers(objects)) {
    const r = containerEnv(objects, container, podsOf(workload)[0] as Pod).env.JS_REPLICAS ?? '1';
    if (Number(r) !== replicas)
      problems.push(`${workload.name}: JS_REPLICAS ${r} != migrate's ${String(replicas)}`);
  }
  if (replicas !== servers)
    problems.push(
      `JS_REPLICAS ${String(replicas)} but ${String(servers)} NATS server(s): streams need one replica per server here`,
    );
  const conf = natsConf(objects);
  const routes = [...conf.matchAll(/nats:\/\/([^:\s]+):(\d+)/g)].map((m) => m[1] as string);
  const headless = (sts.object.spec as { serviceName: string }).serviceName;
  const expected = Array.from(
    { length: servers },
    (_, i) => `nats-${String(i)}.${headless}.${NAMESPACE}.svc.cluster.local`,
  );
  if (servers > 1) {
    // OrderedReady would wait for nats-0 to be ready before starting nats-1, and a
    // clustered JetStream server is not ready without its peers: no pod would start.
    const policy = (sts.object.spec as { podManagementPolicy?: string }).podManagementPolicy;
    if (policy !== 'Parallel')
      problems.push(
        `StatefulSet/nats: ${String(servers)} servers need podManagementPolicy Parallel`,
      );
    if (!/cluster\s*\{/.test(conf))
      problems.push(`${String(servers)} NATS servers but nats.conf has no cluster block`);
    if (JSON.stringify([...routes].sort()) !== JSON.stringify(expected))
      problems.push(`nats.conf routes ${routes.join(', ')} != the pods ${expected.join(', ')}`);
  } else if (/cluster\s*\{/.test(conf)) {
    problems.push('one NATS server with a cluster block: JetStream would wait for peers');
  }
  if (!/^max_payload:\s*8MB$/m.test(conf)) problems.push('nats.conf does not set max_payload: 8MB');
  return problems;
}

/** nats.conf sizes (1024-based, as nats-server reads them) and Kubernetes quantities (Gi, Mi). */
export function bytesOf(size: string): number {
  const m = /^(\d+)\s*(K|KB|Ki|M|MB|Mi|G|GB|Gi|T|TB|Ti)?$/i.exec(size.trim());
  if (m === null) throw new Error(`not a size: ${size}`);
  const unit = (m[2] ?? '').toUpperCase().charAt(0);
  const power = { '': 0, K: 1, M: 2, G: 3, T: 4 }[unit] ?? 0;
  return Number(m[1]) * 1024 ** power;
}

/** max_file_store / max_memory_store of nats.conf's jetstream block. */
export function jetstreamLimits(conf: string): { file: number; memory: number } {
  const file = /^\s*max_file_store:\s*(\S+)\s*$/m.exec(conf)?.[1];
  const memory = /^\s*max_memory_store:\s*(\S+)\s*$/m.exec(conf)?.[1];
  if (file === undefined || memory === undefined)
    throw new Error('nats.conf sets no JetStream limits');
  return { file: bytesOf(file), memory: bytesOf(memory) };
}

/**
 * The streams' byte limits (services/common/topology.ts, the migrate Job's defaults) fit
 * in JetStream's file store, which fits on the volume; the memory store in the memory limit.
 */
export function checkStorage(objects: readonly K8sObject[], streamBytes: number): string[] {
  const problems: string[] = [];
  const sts = workloads(objects).find((w) => w.name === 'nats');
  if (sts === undefined) return ['no StatefulSet/nats'];
  const { file, memory } = jetstreamLimits(natsConf(objects));
  const claims =
    (
      sts.object.spec as {
        volumeClaimTemplates?: {
          metadata?: { name?: string };
          spec?: { resources?: { requests?: { storage?: string } } };
        }[];
      }
    ).volumeClaimTemplates ?? [];
  const volume = claims.find((c) => c.metadata?.name === 'data')?.spec?.resources?.requests
    ?.storage;
  const limit = containersOf(sts).main[0]?.resources?.limits?.memory;
  if (streamBytes > file)
    problems.push(
      `streams may hold ${String(streamBytes)} bytes, max_file_store is ${String(file)}`,
    );
  if (volume === undefined || file > bytesOf(volume))
    problems.push(`max_file_store ${String(file)} does not fit the volume (${String(volume)})`);
  if (limit === undefined || memory >= bytesOf(String(limit)))
    problems.push(
      `max_memory_store ${String(memory)} does not fit the memory limit (${String(limit)})`,
    );
  return problems;
}

/**
 * Prometheus: the config file and its rule files are where the container reads them, and
 * its ServiceAccount may list and watch what its service discovery asks for.
 */
export function checkPrometheus(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const w = workloads(objects).find((x) => x.name === 'prometheus');
  const c = w === undefined ? undefined : containersOf(w).main[0];
  if (w === undefined || c === undefined) return ['no Deployment/prometheus'];
  const configFile =
    (c.args ?? []).find((a) => a.startsWith('--config.file='))?.slice('--config.file='.length) ??
    '';
  const dir = configFile.slice(0, configFile.lastIndexOf('/'));
  const mount = c.volumeMounts?.find((m) => m.mountPath === dir);
  const volume = podSpec(w).volumes?.find((v) => v.name === mount?.name);
  const cm = objects.find(
    (o) => o.kind === 'ConfigMap' && o.metadata.name === volume?.configMap?.name,
  );
  const files = (cm?.data ?? {}) as Record<string, string>;
  const config = files[configFile.slice(dir.length + 1)];
  if (config === undefined) return [`prometheus: ${configFile} is not in a mounted ConfigMap`];
  for (const rule of [...config.matchAll(/^rule_files:\s*\n((?:\s+-\s*\S+\n)+)/gm)].flatMap(
    (m) => (m[1] ?? '').match(/\S+$/gm) ?? [],
  )) {
    if (files[rule] === undefined)
      problems.push(`prometheus: rule file ${rule} is not beside ${configFile}`);
  }
  const roles = [...config.matchAll(/^\s*-?\s*role:\s*(\w+)\s*$/gm)].map((m) => `${m[1] ?? ''}s`);
  const account = podSpec(w).serviceAccountName;
  const bound = objects
    .filter((o) => o.kind === 'ClusterRoleBinding')
    .filter((b) =>
      ((b as unknown as { subjects?: { name: string }[] }).subjects ?? []).some(
        (s) => s.name === account,
      ),
    )
    .map((b) => (b as unknown as { roleRef: { name: string } }).roleRef.name);
  const rules = objects
    .filter((o) => o.kind === 'ClusterRole' && bound.includes(o.metadata.name))
    .flatMap(
      (o) => (o as unknown as { rules: { resources?: string[]; verbs?: string[] }[] }).rules,
    );
  for (const resource of roles) {
    for (const verb of ['get', 'list', 'watch']) {
      if (
        !rules.some(
          (r) => r.resources?.includes(resource) === true && r.verbs?.includes(verb) === true,
        )
      )
        problems.push(
          `prometheus: ServiceAccount ${String(account)} may not ${verb} ${resource} (kubernetes_sd)`,
        );
    }
  }
  if (roles.length === 0) problems.push('prometheus: no kubernetes_sd role found in its config');
  return problems;
}

// --- security -----------------------------------------------------------------------------

export function checkSecurity(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const w of workloads(objects)) {
    const spec = podSpec(w);
    for (const c of allContainers(w)) {
      const where = `${objectId(w.object)}/${c.name}`;
      const sc = c.securityContext ?? {};
      const nonRoot = sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
      const user = sc.runAsUser ?? spec.securityContext?.runAsUser;
      if (nonRoot !== true) problems.push(`${where}: runAsNonRoot is not set`);
      if (user === 0) problems.push(`${where}: runs as uid 0`);
      if (sc.readOnlyRootFilesystem !== true)
        problems.push(`${where}: root filesystem is writable`);
      if (sc.allowPrivilegeEscalation !== false)
        problems.push(`${where}: allowPrivilegeEscalation is not false`);
      if (!(sc.capabilities?.drop ?? []).includes('ALL'))
        problems.push(`${where}: capabilities not dropped`);
      if (sc.privileged === true) problems.push(`${where}: privileged`);
      if (c.resources?.requests?.cpu === undefined || c.resources.requests.memory === undefined)
        problems.push(`${where}: no cpu and memory requests`);
      if (c.resources?.limits?.memory === undefined) problems.push(`${where}: no memory limit`);
      const longRunning = w.kind !== 'Job' && containersOf(w).main.includes(c);
      if (longRunning && (c.readinessProbe === undefined || c.livenessProbe === undefined))
        problems.push(`${where}: needs readiness and liveness probes`);
    }
  }
  return problems;
}

// --- network policies -----------------------------------------------------------------------

interface Policy {
  name: string;
  spec: INetworkPolicySpec;
}

function policies(objects: readonly K8sObject[]): Policy[] {
  return objects
    .filter((o) => o.kind === 'NetworkPolicy')
    .map((o) => ({ name: o.metadata.name, spec: o.spec as INetworkPolicySpec }));
}

/**
 * Whether a pod with `from` labels may open `port` on `to` (a pod of workload `toW`) under
 * the overlay's NetworkPolicies (all in one namespace): allowed when no policy selects
 * the target, else when a rule of a selecting policy admits the source and the port.
 * `from === 'outside'` is a client outside the namespace (the Ingress controller).
 */
export function admits(
  objects: readonly K8sObject[],
  from: Record<string, string> | 'outside',
  to: { workload: Workload; labels: Record<string, string> },
  port: number,
): boolean {
  const applying = policies(objects).filter(
    (p) =>
      (p.spec.policyTypes ?? ['Ingress']).includes('Ingress') &&
      selects(p.spec.podSelector, to.labels),
  );
  if (applying.length === 0) return true;
  return applying.some((p) =>
    (p.spec.ingress ?? []).some((rule) => {
      const peers = rule.from;
      const peerOk =
        peers === undefined ||
        peers.length === 0 ||
        peers.some(
          (peer) =>
            from !== 'outside' &&
            peer.namespaceSelector === undefined &&
            peer.ipBlock === undefined &&
            selects(peer.podSelector, from),
        );
      const portOk =
        rule.ports === undefined ||
        rule.ports.length === 0 ||
        rule.ports.some(
          (rp) => rp.port === undefined || resolvePort(to.workload, rp.port) === port,
        );
      return peerOk && portOk;
    }),
  );
}

/** The pods behind a Service name and port number (what a client's URL reaches). */
function backends(
  objects: readonly K8sObject[],
  host: string,
  port: number,
): {
  targets: { workload: Workload; labels: Record<string, string>; port: number }[];
  problem?: string;
} {
  const name = host.split('.')[0] ?? host;
  const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === name);
  if (svc === undefined) return { targets: [], problem: `host ${host}: no Service ${name}` };
  const spec = serviceSpec(svc);
  const sp = (spec.ports ?? []).find((p) => p.port === port);
  if (sp === undefined)
    return { targets: [], problem: `host ${host}: Service ${name} has no port ${String(port)}` };
  const targets = allPods(objects)
    .filter(({ pod }) => labelsMatch(spec.selector, pod.labels))
    .flatMap(({ workload, pod }) => {
      const p = resolvePort(workload, sp.targetPort ?? sp.port);
      return p === undefined ? [] : [{ workload, labels: pod.labels, port: p }];
    });
  return { targets };
}

/** host:port pairs a container's environment points at (NATS_URL, DATABASE_URL, Grafana's). */
export function connectionsOf(
  env: Record<string, string>,
): { variable: string; host: string; port: number }[] {
  const urls: [string, string][] = [];
  for (const u of (env.NATS_URL ?? '').split(',').filter(Boolean)) urls.push(['NATS_URL', u]);
  for (const name of ['DATABASE_URL', 'LEDGERFLUX_PROMETHEUS_URL']) {
    const v = env[name];
    if (v !== undefined) urls.push([name, v]);
  }
  const out = urls.map(([variable, u]) => {
    const url = new URL(u);
    const fallback =
      { 'nats:': 4222, 'postgres:': 5432, 'postgresql:': 5432, 'http:': 80 }[url.protocol] ?? 0;
    return { variable, host: url.hostname, port: url.port === '' ? fallback : Number(url.port) };
  });
  const pg = env.LEDGERFLUX_PG_ADDRESS;
  if (pg !== undefined) {
    const [host = '', port = '5432'] = pg.split(':');
    out.push({ variable: 'LEDGERFLUX_PG_ADDRESS', host, port: Number(port) });
  }
  return out;
}

/**
 * Every connection a pod's environment names reaches a Service with that port, whose
 * pods' NetworkPolicies admit it; NATS and PostgreSQL admit nobody else (no other pod, and
 * nothing from outside); the gateway and Grafana admit outside clients; Prometheus reaches
 * every pod it scrapes; NATS servers reach each other's route port.
 */
export function checkNetwork(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const needs = new Map<string, Set<string>>(); // target workload → workloads that connect
  for (const { workload, pod } of allPods(objects)) {
    for (const c of containersOf(workload).main) {
      const env = containerEnv(objects, c, pod).env;
      for (const conn of connectionsOf(env)) {
        const { targets, problem } = backends(objects, conn.host, conn.port);
        if (problem !== undefined)
          problems.push(`${pod.name}/${c.name}: ${conn.variable}: ${problem}`);
        for (const t of targets) {
          const set = needs.get(t.workload.name) ?? new Set<string>();
          set.add(workload.name);
          needs.set(t.workload.name, set);
          if (!admits(objects, pod.labels, t, t.port))
            problems.push(
              `${pod.name}/${c.name}: ${conn.variable} → ${t.workload.name}:${String(t.port)} is blocked by the NetworkPolicies`,
            );
        }
      }
    }
  }
  const pods = allPods(objects);
  for (const guarded of ['nats', 'postgres']) {
    for (const target of pods.filter((p) => p.workload.name === guarded)) {
      const port = resolvePort(target.workload, guarded === 'nats' ? 'client' : 'postgres') ?? 0;
      const to = { workload: target.workload, labels: target.pod.labels };
      for (const source of pods) {
        const allowed = admits(objects, source.pod.labels, to, port);
        const needed =
          needs.get(guarded)?.has(source.workload.name) === true ||
          source.workload.name === guarded;
        if (allowed && !needed)
          problems.push(
            `${source.workload.name} may connect to ${guarded}:${String(port)} but does not use it`,
          );
      }
      if (admits(objects, 'outside', to, port))
        problems.push(`${guarded}:${String(port)} admits traffic from outside the namespace`);
    }
  }
  for (const open of ['gateway', 'grafana']) {
    for (const target of pods.filter((p) => p.workload.name === open)) {
      const port = resolvePort(target.workload, 'http') ?? 0;
      if (
        !admits(objects, 'outside', { workload: target.workload, labels: target.pod.labels }, port)
      )
        problems.push(`${open}:${String(port)} does not admit outside clients`);
    }
  }
  const prometheus = pods.find((p) => p.workload.name === 'prometheus');
  for (const target of pods) {
    const a = target.workload.template.metadata?.annotations ?? {};
    if (a['prometheus.io/scrape'] !== 'true' || prometheus === undefined) continue;
    const port = Number(a['prometheus.io/port']);
    if (
      !admits(
        objects,
        prometheus.pod.labels,
        { workload: target.workload, labels: target.pod.labels },
        port,
      )
    )
      problems.push(`prometheus cannot scrape ${target.pod.name}:${String(port)}`);
  }
  const nats = pods.filter((p) => p.workload.name === 'nats');
  for (const a of nats) {
    for (const b of nats) {
      const port = resolvePort(b.workload, 'cluster') ?? 0;
      if (
        a !== b &&
        !admits(objects, a.pod.labels, { workload: b.workload, labels: b.pod.labels }, port)
      )
        problems.push(`${a.pod.name} cannot route to ${b.pod.name}:${String(port)}`);
    }
  }
  return problems;
}

// --- Grafana ------------------------------------------------------------------------------

/** Grafana's environment sets every ${LEDGERFLUX_*} its provisioned data sources interpolate. */
export function checkGrafana(objects: readonly K8sObject[]): string[] {
  const w = workloads(objects).find((x) => x.name === 'grafana');
  if (w === undefined) return ['no Deployment/grafana'];
  const c = containersOf(w).main[0] as IContainer;
  const env = containerEnv(objects, c, podsOf(w)[0] as Pod).env;
  const problems: string[] = [];
  for (const cm of objects.filter(
    (o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('ledgerflux-grafana-provisioning'),
  )) {
    for (const file of Object.values((cm.data ?? {}) as Record<string, string>)) {
      const text = file.replace(/^\s*#.*$/gm, '');
      for (const m of text.matchAll(/\$\{(\w+)\}/g)) {
        const name = m[1] as string;
        if (env[name] === undefined || env[name] === '')
          problems.push(`grafana: ${name} (used by ${cm.metadata.name}) is not set`);
      }
      for (const m of text.matchAll(/^\s+path:\s*(\S+)\s*$/gm)) {
        const dir = m[1] as string;
        if (!(c.volumeMounts ?? []).some((v) => v.mountPath === dir))
          problems.push(`grafana: provisioning loads ${dir}, nothing is mounted there`);
      }
    }
  }
  return problems;
}

/** Shared configuration of the overlay, for tests that print it. */
export { sharedConfig };
