// Validators for the objects the charts and the policy produce. CRD schemas (Kyverno, AWS Gateway API
// controller) come from ../shared/crds; the API server prunes unknown fields silently, so here every object
// schema that declares properties and does not preserve unknown fields is closed (additionalProperties: false):
// a misspelt or misplaced field fails the test instead of vanishing in the cluster.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import AjvModule from 'ajv';
import type { ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { sharedDir } from './helm.js';

// ajv is CommonJS; under NodeNext its default export is the module object.
const Ajv = AjvModule.default;

type Schema = Record<string, unknown>;

function close(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(close);
  if (typeof schema !== 'object' || schema === null) return schema;
  const s: Schema = {};
  for (const [k, v] of Object.entries(schema)) s[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Schema).map(([pk, pv]) => [pk, close(pv)])) : close(v);
  if (s.properties !== undefined && s.additionalProperties === undefined && s['x-kubernetes-preserve-unknown-fields'] !== true) {
    s.additionalProperties = false;
  }
  // Kubernetes' int-or-string extension has no JSON Schema type of its own.
  if (s['x-kubernetes-int-or-string'] === true && s.anyOf === undefined) {
    delete s.type;
    s.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  return s;
}

// CRD patterns are Go RE2; the prometheus-operator CRDs use RE2's inline (?i), which JavaScript spells as a flag.
const re2 = Object.assign(
  (pattern: string, flags: string): RegExp => {
    const m = /^(\^?)\(\?i\)/.exec(pattern);
    return m ? new RegExp(m[1] + pattern.slice(m[0].length), flags + 'i') : new RegExp(pattern, flags);
  },
  { code: 'new RegExp' },
);
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, code: { regExp: re2 } });
const cache = new Map<string, ValidateFunction>();

/** Validator for `version` of the CRD in `../shared/crds/<relative>`. */
export function crdValidator(relative: string, version: string): ValidateFunction {
  const key = `${relative}@${version}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const crd = parse(readFileSync(path.join(sharedDir, 'crds', relative), 'utf8')) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
  };
  const v = crd.spec.versions.find((x) => x.name === version);
  if (!v) throw new Error(`${relative} has no version ${version}`);
  const schema = close(v.schema.openAPIV3Schema) as Schema;
  // metadata is the API server's business; the CRD only says "object".
  (schema.properties as Schema).metadata = { type: 'object' };
  const fn = ajv.compile(schema);
  cache.set(key, fn);
  return fn;
}

export const CRDS = {
  ClusterPolicy: { file: 'kyverno/kyverno.io_clusterpolicies.yaml', version: 'v1' },
  IAMAuthPolicy: { file: 'aws-application-networking-k8s/application-networking.k8s.aws_iamauthpolicies.yaml', version: 'v1alpha1' },
  TargetGroupPolicy: { file: 'aws-application-networking-k8s/application-networking.k8s.aws_targetgrouppolicies.yaml', version: 'v1alpha1' },
  PodMonitor: { file: 'prometheus-operator/monitoring.coreos.com_podmonitors.yaml', version: 'v1' },
  PrometheusRule: { file: 'prometheus-operator/monitoring.coreos.com_prometheusrules.yaml', version: 'v1' },
} as const;

/** Errors of `obj` against its CRD schema, as readable lines (empty when valid). */
export function crdErrors(kind: keyof typeof CRDS, obj: unknown): string[] {
  const { file, version } = CRDS[kind];
  const fn = crdValidator(file, version);
  if (fn(obj)) return [];
  return (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
