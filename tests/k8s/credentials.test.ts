import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  checkDbLogins,
  checkNatsCredentials,
  checkSecretAccess,
  checkSecretValues,
  imageContextFiles,
} from './credentials.js';
import { dataOf } from './env.js';
import {
  clusterSecrets,
  containersOf,
  kubectl,
  objectId,
  OVERLAYS,
  renderOverlay,
  ROOT,
  SERVICE_OVERLAYS,
  workloads,
  type K8sObject,
  type Overlay,
} from './render.js';

/**
 * Least privilege in the manifests (issue 15; credentials.ts): each pod reads only its
 * own passwords, NATS runs the generated users, migrate creates the logins the others
 * use, no password is outside its Secret, dev's Secrets are labelled development-only and
 * prod ships none. Broken copies prove each check can fail.
 */

/** What `kubectl kustomize` alone renders (what is in git). */
const inGit = new Map<Overlay, K8sObject[]>();
/** With the Secrets the overlay expects in the cluster (prod: secrets.sh's). */
const deployed = new Map<Overlay, K8sObject[]>();
/** Every file the image build may copy, path → text. */
let imageFiles = new Map<string, string>();

const renderedOnly = (overlay: Overlay): K8sObject[] => inGit.get(overlay) ?? [];
const objectsOf = (overlay: Overlay): K8sObject[] => {
  const objects = deployed.get(overlay);
  if (objects === undefined) throw new Error(`${overlay} was not rendered`);
  return objects;
};

beforeAll(async () => {
  await kubectl();
  for (const overlay of OVERLAYS) {
    const objects = await renderOverlay(overlay);
    inGit.set(overlay, objects);
    deployed.set(overlay, [...objects, ...(await clusterSecrets(overlay))]);
  }
  imageFiles = new Map(
    imageContextFiles().map((f) => [f, readFileSync(path.join(ROOT, f), 'latin1')]),
  );
});

describe.each(OVERLAYS)('overlay %s', (overlay) => {
  test('each pod reads only its own passwords, one Secret key at a time', () => {
    expect(checkSecretAccess(objectsOf(overlay))).toEqual([]);
  });

  test('NATS runs the generated users of its SHARDS; each service is its own user', () => {
    expect(checkNatsCredentials(objectsOf(overlay))).toEqual([]);
  });

  test('no password is in a ConfigMap, another object or a file the image copies', () => {
    expect(imageFiles.size).toBeGreaterThan(100);
    expect(checkSecretValues(objectsOf(overlay), imageFiles)).toEqual([]);
  });
});

describe.each(SERVICE_OVERLAYS)('services of overlay %s', (overlay) => {
  test('migrate creates the database logins the snapshotter, the gateway and Grafana use', () => {
    expect(checkDbLogins(objectsOf(overlay))).toEqual([]);
  });
});

describe('Secrets', () => {
  const secretsOf = (objects: readonly K8sObject[]) => objects.filter((o) => o.kind === 'Secret');

  test('dev and infra ship only Secrets labelled development-only', () => {
    for (const overlay of ['dev', 'infra'] as const) {
      const secrets = secretsOf(renderedOnly(overlay));
      expect(secrets.map((o) => o.metadata.name.replace(/-[a-z0-9]{10}$/, '')).sort()).toEqual([
        'grafana-admin',
        'ledgerflux-db-logins',
        'ledgerflux-nats',
        'ledgerflux-postgres',
      ]);
      for (const o of secrets)
        expect(o.metadata.labels?.['ledgerflux.io/dev-only'], objectId(o)).toBe('true');
    }
  });

  test('prod renders no Secret; secrets.sh makes each one it references, with fresh passwords', async () => {
    expect(secretsOf(renderedOnly('prod'))).toEqual([]);
    const referenced = new Set(
      workloads(objectsOf('prod')).flatMap((w) =>
        [...containersOf(w).init, ...containersOf(w).main].flatMap((c) =>
          (c.env ?? []).flatMap((e) => e.valueFrom?.secretKeyRef?.name ?? []),
        ),
      ),
    );
    const made = secretsOf(objectsOf('prod'));
    expect(made.map((o) => o.metadata.name).sort()).toEqual([...referenced].sort());
    // Another run: every password differs from the first run's, and from the others.
    const passwords = (secrets: readonly K8sObject[]) =>
      secrets.flatMap((o) =>
        Object.entries(dataOf(o)).flatMap(([k, v]) => (/PASSWORD/.test(k) ? [v] : [])),
      );
    const first = passwords(made);
    const second = passwords(await clusterSecrets('prod'));
    expect(first.length).toBe(11);
    expect(new Set([...first, ...second]).size).toBe(first.length * 2);
    for (const p of first) expect(p).toMatch(/^[A-Za-z][A-Za-z0-9]{31}$/);
  });
});

describe('the checks catch broken manifests', () => {
  const broken = (overlay: Overlay, change: (objects: K8sObject[]) => void): K8sObject[] => {
    const copy = structuredClone(objectsOf(overlay));
    change(copy);
    return copy;
  };
  const container = (objects: K8sObject[], name: string) => {
    const w = workloads(objects).find((x) => x.name === name);
    const c = w === undefined ? undefined : containersOf(w).main[0];
    if (c === undefined) throw new Error(name);
    return c;
  };

  test("a service given another user's NATS password, or every key of a Secret", () => {
    const objects = broken('dev', (o) => {
      const ref = container(o, 'gateway').env?.find((e) => e.name === 'NATS_PASSWORD')?.valueFrom
        ?.secretKeyRef;
      if (ref !== undefined) ref.key = 'NATS_PASSWORD_INGESTOR';
      const nats = o.find(
        (x) => x.kind === 'Secret' && x.metadata.name.startsWith('ledgerflux-nats'),
      );
      container(o, 'ingestor').envFrom = [{ secretRef: { name: nats?.metadata.name ?? '' } }];
    });
    expect(checkSecretAccess(objects)).toEqual([
      "Deployment/gateway/gateway: NATS_PASSWORD reads NATS_PASSWORD_INGESTOR, which is not gateway's",
      expect.stringMatching(
        /^Deployment\/ingestor\/ingestor: takes every key of Secret ledgerflux-nats-/,
      ),
    ]);
    expect(checkNatsCredentials(objects)).toEqual([
      expect.stringMatching(
        /^Deployment\/gateway\/gateway: NATS_PASSWORD is ledgerflux-nats-\w+\/NATS_PASSWORD_INGESTOR, not the server's NATS_PASSWORD_GATEWAY$/,
      ),
    ]);
  });

  test('an auth.conf edited by hand; a user without its password in the NATS pod', () => {
    const objects = broken('prod', (o) => {
      const cm = o.find(
        (x) => x.kind === 'ConfigMap' && x.metadata.name.startsWith('nats-config-'),
      );
      const data = cm?.data as Record<string, string>;
      data['auth.conf'] = (data['auth.conf'] ?? '').replace(
        '"md.norm.>", ',
        '"md.norm.>", "md.raw.>", ',
      );
      const c = container(o, 'nats');
      c.env = c.env?.filter((e) => e.name !== 'NATS_PASSWORD_DLQ');
    });
    expect(checkNatsCredentials(objects)).toEqual([
      'auth.conf differs from the generator for SHARDS=3: run `make k8s-nats-auth`',
      'StatefulSet/nats: NATS_PASSWORD_DLQ (auth.conf) is not set from a Secret',
    ]);
  });

  test("the snapshotter on the gateway's login; migrate without the Grafana password", () => {
    const objects = broken('prod', (o) => {
      const url = container(o, 'snapshotter').env?.find((e) => e.name === 'DATABASE_URL');
      if (url?.value !== undefined)
        url.value = url.value.replace('ledgerflux_snapshotter', 'ledgerflux_gateway');
      const c = container(o, 'migrate');
      c.env = c.env?.filter((e) => e.name !== 'GRAFANA_DB_PASSWORD');
    });
    expect(checkDbLogins(objects)).toEqual([
      'snapshotter does not connect as ledgerflux_snapshotter with its password',
      'migrate is not given GRAFANA_DB_PASSWORD',
    ]);
  });

  test('a password in a ConfigMap or an image file, or one nats-server would cut short', () => {
    const gateway = dataOf(
      objectsOf('dev').find((o) => o.metadata.name.startsWith('ledgerflux-db-logins')) as K8sObject,
    ).GATEWAY_DB_PASSWORD as string;
    const objects = broken('dev', (o) => {
      const cm = o.find(
        (x) => x.kind === 'ConfigMap' && x.metadata.name.startsWith('ledgerflux-config-'),
      );
      (cm?.data as Record<string, string>).DATABASE_URL =
        `postgres://ledgerflux_gateway:${gateway}@postgres/ledgerflux`;
      const nats = o.find(
        (x) => x.kind === 'Secret' && x.metadata.name.startsWith('ledgerflux-nats'),
      );
      (nats?.data as Record<string, string>).NATS_PASSWORD_DLQ =
        Buffer.from('abc,def-ghijkl').toString('base64');
    });
    const files = new Map([['docs/example.md', `login: ${gateway}`]]);
    expect(checkSecretValues(objects, files)).toEqual([
      expect.stringMatching(
        /^Secret\/ledgerflux-db-logins-\w+ GATEWAY_DB_PASSWORD: its value is in ConfigMap\/ledgerflux-config-\w+$/,
      ),
      expect.stringMatching(
        /^Secret\/ledgerflux-db-logins-\w+ GATEWAY_DB_PASSWORD: its value is in docs\/example\.md$/,
      ),
      expect.stringMatching(
        /^Secret\/ledgerflux-nats-\w+ NATS_PASSWORD_DLQ: not a letter and 11 or more/,
      ),
    ]);
  });
});
