// An evaluator for the subset of Kyverno the lattice-sigv4-proxy ClusterPolicy uses, so the policy's effect on
// sample pods can be checked where the kyverno CLI is not available. It follows Kyverno's documented semantics:
//   - match.any[].resources: kinds, operations, annotations (exact values);
//   - context: configMap (data supplied by the caller, as `kyverno test` takes it from its values file) and
//     variable.jmesPath (evaluated against the context built so far; a null result without default is an error);
//   - variables "{{ expr }}": standard JMESPath; a string that is exactly one variable takes the value's type,
//     otherwise each variable is replaced by its text (strings raw, others JSON); a variable that resolves to
//     null fails the rule, as in Kyverno;
//   - preconditions all/any with Equals, NotEquals, GreaterThan, LessThan, AnyIn, AnyNotIn;
//   - mutate.patchesJson6902: variables substituted in the patch text, then parsed as YAML and applied as an
//     RFC 6902 patch (add/remove/replace/test); rules run in order, each on the result of the previous;
//   - validate.foreach[].deny.conditions: `list` is a JMESPath expression; each element is bound to `element`
//     and `elementIndex`; validation runs on the mutated resource, as Kyverno's validating webhook sees it.
// Anything else in a rule is rejected loudly, so the policy cannot drift outside what this evaluator checks.
import jmespath from 'jmespath';
import { parse as parseYaml } from 'yaml';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export type RuleStatus = 'pass' | 'skip' | 'fail' | 'error';
export interface RuleResult {
  rule: string;
  status: RuleStatus;
  message?: string;
}
export interface PolicyResult {
  resource: JsonObject;
  patched: JsonObject;
  rules: RuleResult[];
}

/** ConfigMap data by context name, as the values file of `kyverno test` provides it. */
export type ConfigMaps = Record<string, Record<string, string>>;

class VariableError extends Error {}

const VARIABLE = /\{\{(?:\{[^{}]*\}|[^{}])*\}\}/g;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function evaluate(expr: string, ctx: JsonObject): Json {
  const result = jmespath.search(ctx, expr.trim()) as Json | undefined;
  if (result === null || result === undefined) throw new VariableError(`variable {{${expr}}} resolved to null`);
  return result;
}

function text(v: Json): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Kyverno variable substitution over any JSON value. */
export function substitute(value: Json, ctx: JsonObject): Json {
  if (typeof value === 'string') {
    const whole = /^\{\{((?:\{[^{}]*\}|[^{}])*)\}\}$/.exec(value);
    if (whole) return evaluate(whole[1] ?? '', ctx);
    return value.replace(VARIABLE, (m) => text(evaluate(m.slice(2, -2), ctx)));
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, ctx));
  if (isObject(value)) {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, ctx);
    return out;
  }
  return value;
}

function deepEqual(a: Json, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b) || (typeof a === 'number' && typeof b === 'number' && a === b);
}

function condition(c: JsonObject, ctx: JsonObject): boolean {
  const key = substitute(c.key ?? null, ctx);
  const value = substitute(c.value ?? null, ctx);
  const op = c.operator;
  switch (op) {
    case 'Equals':
      return deepEqual(key, value);
    case 'NotEquals':
      return !deepEqual(key, value);
    case 'GreaterThan':
    case 'LessThan': {
      const k = Number(key);
      const v = Number(value);
      if (Number.isNaN(k) || Number.isNaN(v)) throw new VariableError(`${op} needs numbers, got ${text(key)} and ${text(value)}`);
      return op === 'GreaterThan' ? k > v : k < v;
    }
    case 'AnyIn':
    case 'AnyNotIn': {
      const keys = Array.isArray(key) ? key : [key];
      const values = Array.isArray(value) ? value : [value];
      const anyIn = keys.some((k) => values.some((v) => deepEqual(k, v)));
      const anyNotIn = keys.some((k) => !values.some((v) => deepEqual(k, v)));
      return op === 'AnyIn' ? anyIn : anyNotIn;
    }
    default:
      throw new Error(`operator ${String(op)} is not supported by this evaluator`);
  }
}

function conditions(block: Json | undefined, ctx: JsonObject): boolean {
  if (block === undefined || block === null) return true;
  if (!isObject(block)) throw new Error('conditions must be an object with any/all');
  const all = (block.all ?? []) as JsonObject[];
  const any = (block.any ?? []) as JsonObject[];
  return all.every((c) => condition(c, ctx)) && (any.length === 0 || any.some((c) => condition(c, ctx)));
}

function matches(rule: JsonObject, resource: JsonObject, operation: string): boolean {
  const match = rule.match as JsonObject | undefined;
  if (!match || Object.keys(match).some((k) => k !== 'any')) throw new Error('only match.any is supported');
  return (match.any as JsonObject[]).some((filter) => {
    if (Object.keys(filter).some((k) => k !== 'resources')) throw new Error('only match.any[].resources is supported');
    const r = filter.resources as JsonObject;
    const known = new Set(['kinds', 'operations', 'annotations']);
    for (const k of Object.keys(r)) if (!known.has(k)) throw new Error(`match resources.${k} is not supported`);
    if (r.kinds && !(r.kinds as string[]).includes(String(resource.kind))) return false;
    if (r.operations && !(r.operations as string[]).includes(operation)) return false;
    const annotations = ((resource.metadata as JsonObject | undefined)?.annotations ?? {}) as JsonObject;
    for (const [k, v] of Object.entries((r.annotations ?? {}) as JsonObject)) if (annotations[k] !== v) return false;
    return true;
  });
}

function loadContext(rule: JsonObject, base: JsonObject, configMaps: ConfigMaps): JsonObject {
  const ctx: JsonObject = { ...base };
  for (const entry of (rule.context ?? []) as JsonObject[]) {
    const name = String(entry.name);
    if (entry.configMap) {
      const data = configMaps[name];
      if (data === undefined) throw new VariableError(`no data given for configMap context ${name}`);
      ctx[name] = { data };
    } else if (isObject(entry.variable)) {
      const v = entry.variable;
      if (v.jmesPath === undefined) throw new Error('only variable.jmesPath is supported');
      const expr = String(substitute(v.jmesPath, ctx));
      const result = jmespath.search(ctx, expr) as Json | undefined;
      if (result === null || result === undefined) {
        if (v.default === undefined) throw new VariableError(`context variable ${name} resolved to null`);
        ctx[name] = v.default;
      } else {
        ctx[name] = result;
      }
    } else {
      throw new Error(`context entry ${name}: only configMap and variable are supported`);
    }
  }
  return ctx;
}

function pointer(path: string): string[] {
  if (!path.startsWith('/')) throw new Error(`JSON pointer must start with /: ${path}`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** RFC 6902 add/remove/replace/test on a copy; a missing parent is an error, as in the RFC. */
export function applyJsonPatch(doc: JsonObject, ops: JsonObject[]): JsonObject {
  const out = clone(doc);
  for (const op of ops) {
    const parts = pointer(String(op.path));
    const last = parts.pop();
    if (last === undefined) throw new Error('patching the document root is not supported');
    let parent: Json = out;
    for (const p of parts) {
      const next: Json | undefined = Array.isArray(parent) ? parent[Number(p)] : isObject(parent) ? parent[p] : undefined;
      if (next === undefined) throw new Error(`${String(op.op)} ${String(op.path)}: parent does not exist`);
      parent = next;
    }
    const kind = String(op.op);
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`${kind} ${String(op.path)}: bad index`);
      if (kind === 'add') parent.splice(index, 0, clone(op.value ?? null));
      else if (kind === 'remove') parent.splice(index, 1);
      else if (kind === 'replace') parent[index] = clone(op.value ?? null);
      else if (kind === 'test') {
        if (!deepEqual(parent[index] ?? null, op.value ?? null)) throw new Error(`test ${String(op.path)} failed`);
      } else throw new Error(`op ${kind} is not supported`);
    } else if (isObject(parent)) {
      if (kind === 'add') parent[last] = clone(op.value ?? null);
      else if (kind === 'remove' || kind === 'replace') {
        if (!(last in parent)) throw new Error(`${kind} ${String(op.path)}: no such member`);
        if (kind === 'remove') delete parent[last];
        else parent[last] = clone(op.value ?? null);
      } else if (kind === 'test') {
        if (!deepEqual(parent[last] ?? null, op.value ?? null)) throw new Error(`test ${String(op.path)} failed`);
      } else throw new Error(`op ${kind} is not supported`);
    } else {
      throw new Error(`${kind} ${String(op.path)}: parent is not a container`);
    }
  }
  return out;
}

function request(resource: JsonObject, operation: string): JsonObject {
  return { request: { operation, object: resource } };
}

/** Applies every rule of a ClusterPolicy to one resource, mutations first, then validations. */
export function applyPolicy(
  policy: JsonObject,
  resource: JsonObject,
  configMaps: ConfigMaps,
  operation = 'CREATE',
): PolicyResult {
  const spec = policy.spec as JsonObject;
  const rules = spec.rules as JsonObject[];
  const results: RuleResult[] = [];
  let current = clone(resource);
  const allowed = new Set(['name', 'match', 'context', 'preconditions', 'mutate', 'validate']);
  for (const rule of rules) {
    for (const k of Object.keys(rule)) if (!allowed.has(k)) throw new Error(`rule field ${k} is not supported`);
  }
  const evaluateRule = (rule: JsonObject, on: JsonObject, body: (ctx: JsonObject) => RuleResult): RuleResult => {
    const name = String(rule.name);
    if (!matches(rule, on, operation)) return { rule: name, status: 'skip' };
    try {
      const ctx = loadContext(rule, request(on, operation), configMaps);
      if (!conditions(rule.preconditions, ctx)) return { rule: name, status: 'skip', message: 'preconditions not met' };
      return body(ctx);
    } catch (err) {
      if (err instanceof VariableError) return { rule: name, status: 'error', message: err.message };
      throw err;
    }
  };
  for (const rule of rules.filter((r) => r.mutate !== undefined)) {
    const mutate = rule.mutate as JsonObject;
    if (Object.keys(mutate).some((k) => k !== 'patchesJson6902')) throw new Error('only mutate.patchesJson6902 is supported');
    results.push(
      evaluateRule(rule, current, (ctx) => {
        const patchText = substitute(mutate.patchesJson6902 ?? '', ctx);
        const ops = parseYaml(String(patchText)) as JsonObject[];
        current = applyJsonPatch(current, ops);
        return { rule: String(rule.name), status: 'pass' };
      }),
    );
  }
  for (const rule of rules.filter((r) => r.validate !== undefined)) {
    const validate = rule.validate as JsonObject;
    const known = new Set(['failureAction', 'message', 'foreach']);
    for (const k of Object.keys(validate)) if (!known.has(k)) throw new Error(`validate.${k} is not supported`);
    results.push(
      evaluateRule(rule, current, (ctx) => {
        for (const each of validate.foreach as JsonObject[]) {
          const list = jmespath.search(ctx, String(each.list)) as Json;
          if (!Array.isArray(list)) throw new VariableError(`foreach list ${String(each.list)} is not a list`);
          for (const [i, element] of list.entries()) {
            const elementCtx: JsonObject = { ...ctx, element, elementIndex: i };
            const deny = (each.deny as JsonObject).conditions;
            if (conditions(deny, elementCtx)) {
              return { rule: String(rule.name), status: 'fail', message: String(substitute(validate.message ?? '', ctx)) };
            }
          }
        }
        return { rule: String(rule.name), status: 'pass' };
      }),
    );
  }
  return { resource, patched: current, rules: results };
}
