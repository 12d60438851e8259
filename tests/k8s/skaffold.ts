import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './render.js';

/** The parts of skaffold.yaml the proofs read (the schema test checks all of it). */
export interface SyncRule {
  src: string;
  dest: string;
  strip?: string;
}
export interface Artifact {
  image: string;
  docker?: { dockerfile?: string; target?: string };
  sync?: { manual?: SyncRule[] };
}
interface Section {
  build?: { artifacts?: Artifact[] };
  manifests?: { kustomize?: { paths?: string[] } };
}
export interface SkaffoldConfig extends Section {
  apiVersion: string;
  kind: string;
  portForward?: {
    resourceType: string;
    resourceName: string;
    namespace?: string;
    port: number | string;
    localPort?: number;
  }[];
  profiles?: (Section & {
    name: string;
    activation?: { command?: string }[];
    patches?: { op: string; path: string; value?: unknown }[];
  })[];
}

export const SKAFFOLD_FILE = path.join(ROOT, 'skaffold.yaml');

export function readSkaffold(): SkaffoldConfig {
  return parse(readFileSync(SKAFFOLD_FILE, 'utf8')) as SkaffoldConfig;
}

/**
 * The configuration skaffold runs with `-p <profile>` (none: the top level): a profile's
 * sections replace the top level's, then its JSON patches apply (only `add`, all this file
 * uses; anything else fails the proof rather than being ignored).
 */
export function withProfile(config: SkaffoldConfig, profile: string | undefined): SkaffoldConfig {
  const effective = structuredClone(config);
  if (profile === undefined) return effective;
  const p = config.profiles?.find((x) => x.name === profile);
  if (p === undefined) throw new Error(`no skaffold profile ${profile}`);
  if (p.build !== undefined) effective.build = structuredClone(p.build);
  if (p.manifests !== undefined) effective.manifests = structuredClone(p.manifests);
  for (const patch of p.patches ?? []) {
    if (patch.op !== 'add') throw new Error(`patch op ${patch.op} is not modelled here`);
    const keys = patch.path.split('/').slice(1);
    const last = keys.pop();
    let node: unknown = effective;
    for (const k of keys) node = (node as Record<string, unknown>)[k];
    if (node === undefined || last === undefined)
      throw new Error(`patch path ${patch.path} does not exist`);
    (node as Record<string, unknown>)[last] = structuredClone(patch.value);
  }
  return effective;
}

export const artifactsOf = (c: SkaffoldConfig): Artifact[] => c.build?.artifacts ?? [];
export const kustomizePathsOf = (c: SkaffoldConfig): string[] =>
  c.manifests?.kustomize?.paths ?? [];
