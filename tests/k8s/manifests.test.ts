import { beforeAll, describe, expect, test } from 'vitest';
import {
  admits,
  checkGrafana,
  checkImages,
  checkNetwork,
  checkPrometheus,
  checkProbePorts,
  checkReferences,
  checkScrapeAnnotations,
  checkSecurity,
  checkSelectors,
  checkServiceContainers,
  checkServices,
  checkShards,
  checkStorage,
  checkStreamReplicas,
  NAMESPACE,
} from './checks.js';
import { streamConfigs } from '../../services/common/topology.js';
import { sharedConfig } from './env.js';
import { unknownFields, validateModel } from './models.js';
import {
  clusterSecrets,
  containersOf,
  find,
  kubectl,
  objectId,
  OVERLAYS,
  renderOverlay,
  SERVICE_OVERLAYS,
  workloads,
  type K8sObject,
  type Overlay,
} from './render.js';
import { artifactsOf, kustomizePathsOf, readSkaffold, withProfile } from './skaffold.js';

/** kustomize wraps long base64 Secret values; the API server's decoder skips line breaks. */
function unwrapSecretData(o: K8sObject): K8sObject {
  if (o.kind !== 'Secret' || o.data === undefined) return o;
  const data = Object.fromEntries(
    Object.entries(o.data as Record<string, string>).map(([k, v]) => [k, v.replace(/\s+/g, '')]),
  );
  return { ...o, data };
}

/** Each overlay's objects with the Secrets it expects in the cluster (render.ts). */
const rendered = new Map<Overlay, K8sObject[]>();
const objectsOf = (overlay: Overlay): K8sObject[] => {
  const objects = rendered.get(overlay);
  if (objects === undefined) throw new Error(`${overlay} was not rendered`);
  return objects;
};

/** A deep copy of an overlay with one change, for the tests that prove a check can fail. */
function broken(overlay: Overlay, change: (objects: K8sObject[]) => void): K8sObject[] {
  const copy = structuredClone(objectsOf(overlay));
  change(copy);
  return copy;
}

/** The skaffold configuration that deploys each overlay (skaffold.yaml's profiles). */
const PROFILE_OF: Record<Overlay, string | undefined> = {
  dev: undefined,
  prod: 'prod',
  infra: 'infra',
};
const artifactImages = (overlay: Overlay): string[] =>
  artifactsOf(withProfile(readSkaffold(), PROFILE_OF[overlay])).map((a) => a.image);

beforeAll(async () => {
  await kubectl();
  for (const overlay of OVERLAYS)
    rendered.set(overlay, [...(await renderOverlay(overlay)), ...(await clusterSecrets(overlay))]);
});

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  test('renders with kubectl kustomize into the ledgerflux namespace', () => {
    const objects = objectsOf(overlay);
    const kinds = new Set(objects.map((o) => o.kind));
    const expected = [
      'Namespace',
      'StatefulSet',
      'Deployment',
      'Service',
      'NetworkPolicy',
      'Secret',
    ];
    if (overlay !== 'infra') expected.push('Job', 'Ingress', 'HorizontalPodAutoscaler');
    for (const kind of expected) expect(kinds, kind).toContain(kind);
    const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
    for (const o of objects) {
      if (!clusterScoped.has(o.kind)) expect(o.metadata.namespace, objectId(o)).toBe(NAMESPACE);
      expect(o.metadata.labels?.['app.kubernetes.io/part-of'], objectId(o)).toBe('ledgerflux');
    }
    console.log(`${overlay}: ${String(objects.length)} objects (${[...kinds].sort().join(', ')})`);
  });

  test('every object validates against the Kubernetes OpenAPI models', () => {
    const problems = objectsOf(overlay).flatMap((o) =>
      validateModel(unwrapSecretData(o)).map((p) => `${objectId(o)}: ${p}`),
    );
    expect(problems).toEqual([]);
  });

  test('no object has a field the Kubernetes API does not know', () => {
    expect(objectsOf(overlay).flatMap(unknownFields)).toEqual([]);
  });

  test('selectors match pod labels; Service target ports and probe ports are declared', () => {
    const objects = objectsOf(overlay);
    expect([
      ...checkSelectors(objects),
      ...checkServices(objects),
      ...checkProbePorts(objects),
    ]).toEqual([]);
  });

  test('ConfigMap, Secret, volume, ServiceAccount, HPA, PDB, Ingress and RBAC references resolve', () => {
    expect(checkReferences(objectsOf(overlay))).toEqual([]);
  });

  test('LedgerFlux images are the skaffold artifacts that deploy it; others are pinned', () => {
    expect(checkImages(objectsOf(overlay), artifactImages(overlay))).toEqual([]);
  });

  test('every container is non-root, read-only, unprivileged, sized and probed', () => {
    expect(checkSecurity(objectsOf(overlay))).toEqual([]);
  });

  test('NetworkPolicies admit what each pod connects to and nothing more', () => {
    expect(checkNetwork(objectsOf(overlay))).toEqual([]);
  });

  test('Prometheus reads its config and rules where they are mounted, and may discover pods', () => {
    expect(checkPrometheus(objectsOf(overlay))).toEqual([]);
  });

  test("the streams' limits fit JetStream's file store, which fits the volume", () => {
    const streamBytes = streamConfigs({ replicas: 1 }).reduce(
      (sum, c) => sum + (c.max_bytes ?? 0),
      0,
    );
    expect(checkStorage(objectsOf(overlay), streamBytes)).toEqual([]);
  });

  test("Grafana's environment and mounts match its provisioning files", () => {
    expect(checkGrafana(objectsOf(overlay))).toEqual([]);
  });
});

describe.each(SERVICE_OVERLAYS)('services of overlay %s', (overlay) => {
  test('each service gets exactly the variables its config schema reads, and they parse', () => {
    expect(checkServiceContainers(objectsOf(overlay))).toEqual([]);
  });

  test('normalizer replicas equal SHARDS; scrape annotations name declared ports', () => {
    const objects = objectsOf(overlay);
    expect([...checkShards(objects), ...checkScrapeAnnotations(objects)]).toEqual([]);
  });

  test('stream replicas match the NATS servers, routes name every pod', () => {
    expect(checkStreamReplicas(objectsOf(overlay))).toEqual([]);
  });
});

describe('overlay differences', () => {
  test('dev: one NATS server and R1 streams; prod: three servers, R3, PDBs and a wider HPA', () => {
    const summary = (overlay: Overlay) => {
      const objects = objectsOf(overlay);
      const hpa = find(objects, 'HorizontalPodAutoscaler', 'gateway').spec as {
        minReplicas: number;
        maxReplicas: number;
      };
      return {
        nats: workloads(objects).find((w) => w.name === 'nats')?.replicas,
        jsReplicas: sharedConfig(objects).JS_REPLICAS,
        shards: sharedConfig(objects).SHARDS,
        pdbs: objects
          .filter((o) => o.kind === 'PodDisruptionBudget')
          .map((o) => o.metadata.name)
          .sort(),
        hpa: [hpa.minReplicas, hpa.maxReplicas],
      };
    };
    expect(summary('dev')).toEqual({
      nats: 1,
      jsReplicas: '1',
      shards: '2',
      pdbs: [],
      hpa: [1, 3],
    });
    expect(summary('prod')).toEqual({
      nats: 3,
      jsReplicas: '3',
      shards: '3',
      pdbs: ['gateway', 'nats', 'normalizer'],
      hpa: [2, 10],
    });
  });

  test('skaffold deploys dev by default and with -p dev, prod with -p prod, infra with -p infra', () => {
    const config = readSkaffold();
    expect(kustomizePathsOf(withProfile(config, undefined))).toEqual(['k8s/overlays/dev']);
    expect(kustomizePathsOf(withProfile(config, 'dev'))).toEqual(['k8s/overlays/dev']);
    expect(kustomizePathsOf(withProfile(config, 'prod'))).toEqual(['k8s/overlays/prod']);
    expect(kustomizePathsOf(withProfile(config, 'infra'))).toEqual(['k8s/overlays/infra']);
  });

  test('the Ingress sends / and /ws to the gateway and keeps idle WebSockets open', () => {
    for (const overlay of SERVICE_OVERLAYS) {
      const ingress = find(objectsOf(overlay), 'Ingress', 'gateway');
      const spec = ingress.spec as {
        ingressClassName: string;
        rules: { http: { paths: { path: string; backend: { service: { name: string } } }[] } }[];
      };
      expect(spec.ingressClassName).toBe('nginx');
      const paths = spec.rules.flatMap((r) =>
        r.http.paths.map((p) => [p.path, p.backend.service.name]),
      );
      expect(paths).toEqual([
        ['/ws', 'gateway'],
        ['/', 'gateway'],
      ]);
      const a = ingress.metadata.annotations ?? {};
      // Longer than nginx's 60 s default, so a quiet client is not cut by the proxy.
      expect(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThan(60);
      expect(Number(a['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThan(60);
    }
  });

  test('infra: the dev overlay without a LedgerFlux object', () => {
    const names = (overlay: Overlay) => objectsOf(overlay).map(objectId).sort();
    const dropped = names('dev').filter((n) => !names('infra').includes(n));
    expect(dropped).toEqual([
      'Deployment/gateway',
      'Deployment/ingestor',
      'Deployment/snapshotter',
      'HorizontalPodAutoscaler/gateway',
      'Ingress/gateway',
      'Job/migrate',
      'NetworkPolicy/gateway',
      'NetworkPolicy/service-metrics',
      'Service/gateway',
      'Service/normalizer',
      'StatefulSet/normalizer',
    ]);
    expect(names('infra').filter((n) => !names('dev').includes(n))).toEqual([]);
    expect(
      workloads(objectsOf('infra'))
        .map((w) => w.name)
        .sort(),
    ).toEqual(['grafana', 'nats', 'postgres', 'prometheus']);
  });

  test('dev hot reload: the sync destination is an emptyDir the initContainer seeds from the same image', () => {
    const dev = withProfile(readSkaffold(), 'dev');
    const synced = artifactsOf(dev).filter((a) => (a.sync?.manual ?? []).length > 0);
    expect(synced.map((a) => [a.image, a.docker?.target])).toEqual([
      ['localhost/ledgerflux-dev', 'dev'],
    ]);
    const rules = synced.flatMap((a) => a.sync?.manual ?? []);
    const users = workloads(objectsOf('dev')).filter((w) =>
      containersOf(w).main.some((c) => c.image === 'localhost/ledgerflux-dev'),
    );
    expect(users.map((w) => w.name).sort()).toEqual([
      'gateway',
      'ingestor',
      'normalizer',
      'snapshotter',
    ]);
    for (const w of users) {
      const volumes = w.template.spec?.volumes ?? [];
      const main = containersOf(w).main[0];
      const init = containersOf(w).init;
      for (const rule of rules) {
        const mount = main?.volumeMounts?.find((m) => m.mountPath === rule.dest);
        expect(mount, `${w.name}: nothing mounted at ${rule.dest}`).toBeDefined();
        expect(volumes.find((v) => v.name === mount?.name)?.emptyDir, w.name).toBeDefined();
        const seed = init.find((c) => c.volumeMounts?.some((m) => m.name === mount?.name));
        expect(seed?.image, `${w.name}: seeded from the same image`).toBe(main?.image);
        // It copies the image's own files at that path into the volume.
        expect(seed?.command?.join(' ')).toContain(`${rule.dest}/.`);
        // `services/x.ts` lands at <dest>/x.ts, i.e. where the image keeps services/x.ts.
        expect(`${rule.dest}/${'services/gateway/main.ts'.slice(rule.strip?.length ?? 0)}`).toBe(
          '/app/services/gateway/main.ts',
        );
      }
    }
    // The prod overlay runs the runtime image only: no sources, nothing writable.
    const prodImages = workloads(objectsOf('prod')).flatMap((w) =>
      containersOf(w).main.map((c) => c.image),
    );
    expect(prodImages.filter((i) => i?.startsWith('localhost/'))).toSatisfy((l: unknown[]) =>
      l.every((i) => i === 'localhost/ledgerflux'),
    );
  });
});

/**
 * A check that cannot fail proves nothing: each of these breaks a copy of an overlay the
 * way a manifest author could, and the check must name the mistake.
 */
describe('the checks catch broken manifests', () => {
  const deployment = (objects: K8sObject[], name: string) => {
    const w = workloads(objects).find((x) => x.name === name);
    if (w === undefined) throw new Error(name);
    return w;
  };
  const container = (objects: K8sObject[], name: string) => {
    const c = containersOf(deployment(objects, name)).main[0];
    if (c === undefined) throw new Error(name);
    return c;
  };

  test('a misspelt field, a wrong type', () => {
    const objects = broken('dev', (o) => {
      const c = container(o, 'gateway') as unknown as Record<string, unknown>;
      c.readinesProbe = c.readinessProbe;
      (deployment(o, 'gateway').object.spec as Record<string, unknown>).replicas = 'two';
    });
    const gw = find(objects, 'Deployment', 'gateway');
    expect(unknownFields(gw)).toEqual([
      'Deployment.spec.template.spec.containers[0].readinesProbe: unknown field of V1Container',
    ]);
    expect(validateModel(gw).join()).toMatch(/replicas must be integer/);
  });

  test('a variable no schema reads, a value the schema rejects, a missing ConfigMap key', () => {
    const objects = broken('dev', (o) => {
      container(o, 'snapshotter').env?.push({ name: 'GATEWAY_PORT', value: '8080' });
      container(o, 'ingestor').env?.push({ name: 'PUBLISH_RETRY_HORIZON_MS', value: '1000' });
      container(o, 'gateway').env?.push({
        name: 'PRODUCTS',
        valueFrom: { configMapKeyRef: { name: 'missing-config', key: 'PRODUCTS' } },
      });
    });
    const problems = checkServiceContainers(objects).join('\n');
    expect(problems).toMatch(
      /snapshotter-pod\/snapshotter: sets GATEWAY_PORT, which `ledgerflux snapshotter` does not read/,
    );
    expect(problems).toMatch(
      /ingestor-pod\/ingestor: invalid configuration:\s+PUBLISH_RETRY_HORIZON_MS/,
    );
    expect(problems).toMatch(
      /gateway-pod\/gateway: PRODUCTS from ConfigMap missing-config key PRODUCTS not found/,
    );
  });

  test("service links: without enableServiceLinks: false and its own GATEWAY_PORT, the gateway would read Service gateway's", () => {
    const objects = broken('dev', (o) => {
      const w = deployment(o, 'gateway');
      delete w.template.spec?.enableServiceLinks;
      const c = container(o, 'gateway');
      c.env = c.env?.filter((e) => e.name !== 'GATEWAY_PORT');
    });
    expect(checkServiceContainers(objects).join('\n')).toMatch(
      /gateway-pod\/gateway \(with service links\): invalid configuration:\s+GATEWAY_PORT: .*\(got "tcp:\/\/10\.96\.0\.10:8080"\)/,
    );
  });

  test('normalizer replicas other than SHARDS; a shard index the schema refuses', () => {
    const objects = broken('prod', (o) => {
      (deployment(o, 'normalizer').object.spec as Record<string, unknown>).replicas = 4;
    });
    expect(checkShards(objects)).toEqual(['normalizer replicas 4 != SHARDS 3']);
    expect(checkServiceContainers(objects).join('\n')).toMatch(
      /normalizer-3\/normalizer: invalid configuration:\s+SHARD: must be below SHARDS \(3\), got 3/,
    );
  });

  test('a probe or scrape port that is not declared; a Service pointing nowhere', () => {
    const objects = broken('dev', (o) => {
      const c = container(o, 'ingestor');
      if (c.livenessProbe?.httpGet !== undefined) c.livenessProbe.httpGet.port = 'metrcs';
      const a = deployment(o, 'snapshotter').template.metadata?.annotations;
      if (a !== undefined) a['prometheus.io/port'] = '9101';
      const svc = find(o, 'Service', 'gateway').spec as { ports: { targetPort: string }[] };
      (svc.ports[0] as { targetPort: string }).targetPort = 'web';
    });
    expect(checkProbePorts(objects)).toEqual([
      'Deployment/ingestor/ingestor: livenessProbe port metrcs is not declared',
    ]);
    expect(checkScrapeAnnotations(objects)).toEqual([
      'Deployment/snapshotter: prometheus.io/port 9101 is not a declared port',
    ]);
    expect(checkServices(objects)).toEqual([
      'Service/gateway: targetPort web is not a port of Deployment/gateway',
    ]);
  });

  test('R3 streams on one NATS server; a cluster missing a route', () => {
    const objects = broken('dev', (o) => {
      const cm = o.find(
        (x) => x.kind === 'ConfigMap' && x.metadata.name.startsWith('ledgerflux-config-'),
      );
      (cm?.data as Record<string, string>).JS_REPLICAS = '3';
    });
    expect(checkStreamReplicas(objects)).toEqual([
      'JS_REPLICAS 3 but 1 NATS server(s): streams need one replica per server here',
    ]);
    const prod = broken('prod', (o) => {
      const cm = o.find(
        (x) => x.kind === 'ConfigMap' && x.metadata.name.startsWith('nats-config-'),
      );
      const data = cm?.data as Record<string, string>;
      data['nats.conf'] = (data['nats.conf'] ?? '').replace(/^.*nats-2\..*$/m, '');
    });
    expect(checkStreamReplicas(prod).join()).toMatch(/routes .* != the pods/);
    const ordered = broken('prod', (o) => {
      delete (find(o, 'StatefulSet', 'nats').spec as Record<string, unknown>).podManagementPolicy;
    });
    expect(checkStreamReplicas(ordered)).toEqual([
      'StatefulSet/nats: 3 servers need podManagementPolicy Parallel',
    ]);
  });

  test('a root container, a writable root filesystem, an unpinned image, an image skaffold does not build', () => {
    const objects = broken('dev', (o) => {
      const pg = container(o, 'postgres');
      pg.securityContext = { ...pg.securityContext, runAsUser: 0, readOnlyRootFilesystem: false };
      container(o, 'grafana').image = 'docker.io/grafana/grafana';
      container(o, 'gateway').image = 'localhost/ledgerflux-gateway';
    });
    const security = checkSecurity(objects);
    expect(security).toContain('StatefulSet/postgres/postgres: runs as uid 0');
    expect(security).toContain('StatefulSet/postgres/postgres: root filesystem is writable');
    const images = checkImages(objects, artifactImages('dev'));
    expect(images).toContain(
      'Deployment/grafana/grafana: image docker.io/grafana/grafana is not pinned to a version',
    );
    expect(images.join()).toMatch(/localhost\/ledgerflux-gateway is not a skaffold artifact/);
  });

  test('a policy that lets Grafana reach NATS, or forgets the snapshotter on PostgreSQL', () => {
    const objects = broken('dev', (o) => {
      const nats = find(o, 'NetworkPolicy', 'nats').spec as {
        ingress: { from: { podSelector: { matchExpressions: { values: string[] }[] } }[] }[];
      };
      nats.ingress[0]?.from[0]?.podSelector.matchExpressions[0]?.values.push('grafana');
      const pg = find(o, 'NetworkPolicy', 'postgres').spec as {
        ingress: { from: { podSelector: { matchExpressions: { values: string[] }[] } }[] }[];
      };
      const values = pg.ingress[0]?.from[0]?.podSelector.matchExpressions[0]?.values ?? [];
      values.splice(values.indexOf('snapshotter'), 1);
    });
    const problems = checkNetwork(objects);
    expect(problems).toContain('grafana may connect to nats:4222 but does not use it');
    expect(problems).toContain(
      'snapshotter-pod/snapshotter: DATABASE_URL → postgres:5432 is blocked by the NetworkPolicies',
    );
    // And the policy evaluation itself: outside traffic reaches the gateway only.
    const dev = objectsOf('dev');
    const pod = (name: string) => {
      const w = deployment(dev, name);
      return { workload: w, labels: w.template.metadata?.labels ?? {} };
    };
    expect(admits(dev, 'outside', pod('gateway'), 8080)).toBe(true);
    expect(admits(dev, 'outside', pod('snapshotter'), 9102)).toBe(false);
  });

  test('Prometheus without its pods rights; a file store larger than its volume', () => {
    const objects = broken('dev', (o) => {
      const role = find(o, 'ClusterRole', 'ledgerflux-prometheus') as unknown as {
        rules: { verbs: string[] }[];
      };
      role.rules[0]?.verbs.splice(role.rules[0].verbs.indexOf('watch'), 1);
      const sts = find(o, 'StatefulSet', 'nats').spec as {
        volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[];
      };
      const claim = sts.volumeClaimTemplates[0];
      if (claim !== undefined) claim.spec.resources.requests.storage = '5Gi';
    });
    expect(checkPrometheus(objects)).toEqual([
      'prometheus: ServiceAccount prometheus may not watch pods (kubernetes_sd)',
    ]);
    expect(checkStorage(objects, 0)).toEqual([
      `max_file_store ${String(8 * 1024 ** 3)} does not fit the volume (5Gi)`,
    ]);
    expect(checkStorage(objectsOf('dev'), 9 * 1024 ** 3).join()).toMatch(/streams may hold/);
  });

  test('Grafana without a data-source variable', () => {
    const objects = broken('dev', (o) => {
      const c = container(o, 'grafana');
      c.env = c.env?.filter((e) => e.name !== 'LEDGERFLUX_PG_ADDRESS');
    });
    expect(checkGrafana(objects).join()).toMatch(/LEDGERFLUX_PG_ADDRESS .* is not set/);
  });
});
