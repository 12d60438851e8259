import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, test } from 'vitest';
import { ROOT } from './render.js';
import { readSkaffold, type SkaffoldConfig } from './skaffold.js';

/** The schema skaffold publishes for this apiVersion (copied from shared/schemas). */
const SCHEMA_FILE = path.join(ROOT, 'k8s/schemas/skaffold-v4beta14.json');

let validate: ValidateFunction;

beforeAll(() => {
  // strict: an unknown keyword in the schema is an error, except the two annotation
  // keywords skaffold's generator adds (ordering and IDE help), declared here.
  const ajv = new Ajv({ allErrors: true, strict: true });
  ajv.addVocabulary(['preferredOrder', 'x-intellij-html-description']);
  validate = ajv.compile(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as object);
});

const errorsOf = (config: unknown): string[] =>
  validate(config)
    ? []
    : (validate.errors ?? []).map(
        (e) => `${e.instancePath} ${String(e.message)} ${JSON.stringify(e.params)}`,
      );

describe('skaffold.yaml', () => {
  test('validates against the skaffold v4beta14 schema', () => {
    expect(errorsOf(readSkaffold())).toEqual([]);
  });

  test('names its apiVersion and kind (the schema leaves them unconstrained)', () => {
    const config = readSkaffold();
    expect(config.apiVersion).toBe('skaffold/v4beta14');
    expect(config.kind).toBe('Config');
  });

  test('builds docker/Dockerfile targets that exist, forwards the gateway, Grafana and Prometheus', () => {
    const config = readSkaffold();
    const dockerfile = readFileSync(path.join(ROOT, 'docker/Dockerfile'), 'utf8');
    const stages = [...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);
    const artifacts = [
      ...(config.build?.artifacts ?? []),
      ...(config.profiles ?? []).flatMap((p) => p.build?.artifacts ?? []),
    ];
    for (const a of artifacts) {
      expect(a.docker?.dockerfile).toBe('docker/Dockerfile');
      expect(stages).toContain(a.docker?.target);
    }
    expect(config.portForward?.map((f) => [f.resourceName, f.port, f.localPort])).toEqual([
      ['gateway', 8080, 8080],
      ['grafana', 3000, 3000],
      ['prometheus', 9090, 9090],
    ]);
  });

  test('the schema rejects what skaffold would reject (the validation can fail)', () => {
    const bad = structuredClone(readSkaffold()) as SkaffoldConfig & Record<string, unknown>;
    const artifact = bad.build?.artifacts?.[0] as unknown as Record<string, unknown>;
    artifact.dockerFile = 'docker/Dockerfile'; // misspelt: skaffold says "field dockerFile not found"
    bad.portForward?.push({
      resourceType: 'service',
      resourceName: 'x',
      port: 1,
      localPort: 'one',
    } as never);
    const errors = errorsOf(bad).join('\n');
    expect(errors).toMatch(/must NOT have additional properties.*dockerFile/);
    expect(errors).toMatch(/\/portForward\/3\/localPort must be integer/);
  });
});
