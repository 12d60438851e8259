import { createRequire } from 'node:module';
import * as clientNode from '@kubernetes/client-node';
import type { K8sObject } from './render.js';

const require = createRequire(import.meta.url);

interface ValidatingModel {
  validate(): void;
}
type ModelClass = new (data: unknown) => ValidatingModel;

/**
 * kubernetes-models' OpenAPI validation (types, enums, required fields, formats) of one
 * object: `kubernetes-models/<apiVersion>/<Kind>`. Returns the problems, none when valid.
 */
export function validateModel(o: K8sObject): string[] {
  let mod: Record<string, unknown>;
  try {
    mod = require(`kubernetes-models/${o.apiVersion}/${o.kind}`) as Record<string, unknown>;
  } catch {
    return [`no Kubernetes model for ${o.apiVersion} ${o.kind}`];
  }
  const Model = mod[o.kind] as ModelClass | undefined;
  if (Model === undefined) return [`kubernetes-models/${o.apiVersion}/${o.kind} has no class`];
  try {
    new Model(o).validate();
    return [];
  } catch (err) {
    return [err instanceof Error ? err.message : String(err)];
  }
}

interface Attribute {
  name: string;
  baseName: string;
  type: string;
}
interface AttributeMapped {
  attributeTypeMap?: Attribute[];
}

const PRIMITIVES = new Set(['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString']);
const models = clientNode as unknown as Record<string, AttributeMapped | undefined>;

/** V1Deployment for apps/v1 Deployment, V2HorizontalPodAutoscaler for autoscaling/v2 … */
export function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').at(-1) ?? apiVersion;
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

/**
 * The OpenAPI validation accepts fields it does not know (a misspelt or misplaced field
 * that the API server silently drops). Walks the object against @kubernetes/client-node's
 * attribute maps, which list every field of every type, and names each unknown one.
 */
export function unknownFields(o: K8sObject): string[] {
  const problems: string[] = [];
  walk(o, modelName(o.apiVersion, o.kind), o.kind, problems);
  return problems;
}

function walk(value: unknown, type: string, where: string, problems: string[]): void {
  if (value === null || value === undefined || PRIMITIVES.has(type)) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array !== null) {
    if (!Array.isArray(value)) return void problems.push(`${where}: expected a list`);
    value.forEach((v, i) => {
      walk(v, array[1] as string, `${where}[${String(i)}]`, problems);
    });
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map !== null) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      walk(v, map[1] as string, `${where}.${k}`, problems);
    return;
  }
  const attributes = models[type]?.attributeTypeMap;
  if (attributes === undefined) return void problems.push(`${where}: no model named ${type}`);
  if (typeof value !== 'object' || Array.isArray(value))
    return void problems.push(`${where}: expected an object (${type})`);
  const byName = new Map(attributes.map((a) => [a.baseName, a]));
  for (const [k, v] of Object.entries(value)) {
    const attribute = byName.get(k);
    if (attribute === undefined) problems.push(`${where}.${k}: unknown field of ${type}`);
    else walk(v, attribute.type, `${where}.${k}`, problems);
  }
}
