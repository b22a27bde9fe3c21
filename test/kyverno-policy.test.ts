// The Kyverno injection policy: schema-valid, generated from the platform chart, and doing to sample pods what
// policies/kyverno/kyverno-test.yaml says (checked with test/k8s/kyverno.ts, as the Kyverno CLI is not here).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Pod } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { applyPolicy, type Json } from './k8s/kyverno.js';
import { crdErrors } from './k8s/schemas.js';
import { configMapFile, policyDir, policyFile, renderFromChart } from './k8s/render-policy.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const load = (file: string): Obj => parse(readFileSync(path.join(policyDir, file), 'utf8')) as Obj;
const loadAll = (file: string): Obj[] =>
  parseAllDocuments(readFileSync(path.join(policyDir, file), 'utf8')).map((d) => d.toJS() as Obj);

const policy = parse(readFileSync(policyFile, 'utf8')) as Obj;
const configMap = parse(readFileSync(configMapFile, 'utf8')) as Obj;
const testManifest = load('kyverno-test.yaml');
const resources = (testManifest.resources as string[]).flatMap(loadAll);
const config = { config: configMap.data as Record<string, string> };
const byName = (name: string): Obj => {
  const r = resources.find((x) => x.metadata.name === name);
  if (!r) throw new Error(`no sample resource ${name}`);
  return r;
};
const run = (pod: Obj) => applyPolicy(policy, pod, config);
const ANNOTATION = 'vpc-lattices-svcs.amazonaws.com/agent-inject';

describe('policies/kyverno/clusterpolicy.yaml', () => {
  it('is a valid kyverno.io/v1 ClusterPolicy per the Kyverno CRD schema', () => {
    expect(policy.apiVersion).toBe('kyverno.io/v1');
    expect(policy.kind).toBe('ClusterPolicy');
    expect(crdErrors('ClusterPolicy', policy)).toEqual([]);
  });

  it('is rejected by the same schema check when a field is misplaced (the check can fail)', () => {
    const broken = structuredClone(policy);
    broken.spec.rules[0].mutate.patchStrategicMerge_typo = {};
    expect(crdErrors('ClusterPolicy', broken).join('\n')).toMatch(/additional/);
  });

  it('is exactly what charts/platform renders (one source of truth), and so is configmap.yaml', () => {
    const rendered = renderFromChart();
    expect(policy).toEqual(rendered.policy);
    expect(configMap).toEqual(rendered.configMap);
  });

  it('matches Pods only and disables autogen, so Jobs, StatefulSets and bare pods are injected alike', () => {
    expect(policy.metadata.annotations['pod-policies.kyverno.io/autogen-controllers']).toBe('none');
    for (const rule of policy.spec.rules) {
      expect(rule.match.any).toEqual([
        { resources: { kinds: ['Pod'], operations: ['CREATE'], annotations: { [ANNOTATION]: 'true' } } },
      ]);
    }
  });

  it('reads every deployment value from the ConfigMap context, none is hard-coded', () => {
    for (const rule of policy.spec.rules) {
      expect(rule.context[0]).toEqual({ name: 'config', configMap: { name: 'lattice-sigv4-proxy-config', namespace: 'kyverno' } });
    }
    const patches = policy.spec.rules.filter((r: Obj) => r.mutate).map((r: Obj) => r.mutate.patchesJson6902 as string);
    for (const key of Object.keys(configMap.data)) {
      if (['proxyPort', 'adminPort', 'excludeGid'].includes(key)) continue; // read through annotation-aware variables
      for (const p of patches) expect(p).toContain(`{{ config.data.${key} }}`);
    }
    for (const p of patches) expect(p).not.toMatch(/amazonaws\.com\/|dkr\.ecr|arn:aws/);
  });
});

describe('policies/kyverno/kyverno-test.yaml', () => {
  it('its values file gives the ConfigMap data of configmap.yaml to every rule', () => {
    const values = load(testManifest.variables as string);
    const rules = values.policies[0].rules as Obj[];
    expect(rules.map((r) => r.name)).toEqual(policy.spec.rules.map((r: Obj) => r.name));
    const expected = Object.fromEntries(Object.entries(configMap.data).map(([k, v]) => [`config.data.${k}`, v]));
    for (const r of rules) expect(r.values).toEqual(expected);
  });

  interface Case { rule: string; name: string; result: string; patchedResources?: string }
  const cases: Case[] = (testManifest.results as Obj[]).flatMap((r) =>
    (r.resources as string[]).map((name) => ({ rule: r.rule as string, name, result: r.result as string, patchedResources: r.patchedResources as string | undefined })),
  );
  it.each(cases)('$rule on $name: $result', ({ rule, name, result, patchedResources }) => {
    const out = run(byName(name));
    const ruleResult = out.rules.find((r) => r.rule === rule);
    expect(ruleResult?.status, ruleResult?.message).toBe(result);
    if (patchedResources !== undefined) {
      const expected = loadAll(patchedResources).find((d) => d.metadata.name === name);
      expect(out.patched).toEqual(expected);
    }
  });

  it('covers every rule with a pass and every sample resource', () => {
    const covered = new Set((testManifest.results as Obj[]).filter((r) => r.result === 'pass').map((r) => r.rule));
    expect([...covered].sort()).toEqual(policy.spec.rules.map((r: Obj) => r.name).sort());
    const named = new Set((testManifest.results as Obj[]).flatMap((r) => r.resources as string[]));
    expect(resources.map((r) => r.metadata.name).filter((n) => !named.has(n))).toEqual([]);
  });
});

describe('the injected pod', () => {
  const bare = run(byName('bare-pod')).patched as Obj;
  const withInit = run(byName('job-pod-with-overrides')).patched as Obj;
  const container = (pod: Obj, name: string): Obj => pod.spec.initContainers.find((c: Obj) => c.name === name);
  const env = (c: Obj): Record<string, string> => Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value]));

  it('is a valid core/v1 Pod', () => {
    for (const pod of [bare, withInit]) expect(() => new Pod(pod as never).validate()).not.toThrow();
  });

  it('runs iptables-init, then the proxy, then the pod\'s own init containers', () => {
    expect(bare.spec.initContainers.map((c: Obj) => c.name)).toEqual(['iptables-init', 'lattice-sigv4-proxy']);
    expect(withInit.spec.initContainers.map((c: Obj) => c.name)).toEqual(['iptables-init', 'lattice-sigv4-proxy', 'wait-for-db']);
    expect(bare.spec.containers).toEqual(byName('bare-pod').spec.containers);
  });

  it('gives iptables-init NET_ADMIN and NET_RAW only, and the capture env', () => {
    const init = container(bare, 'iptables-init');
    expect(init.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
    expect(init.securityContext.privileged).toBe(false);
    expect(init.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(env(init)).toEqual({
      PROXY_PORT: '8080', EXCLUDE_GID: '0', LATTICE_CIDR_V4: '169.254.171.0/24',
      LATTICE_CIDR_V6: 'fd00:ec2:80::/64', ENABLE_IPV6: 'auto',
    });
    expect(init.image).toBe(configMap.data.initImage);
  });

  it('runs the proxy as a native sidecar gated by /readyz, non-root 1337 in group 0, locked down', () => {
    const proxy = container(bare, 'lattice-sigv4-proxy');
    expect(proxy.restartPolicy).toBe('Always');
    expect(proxy.startupProbe.httpGet).toEqual({ path: '/readyz', port: 'sigv4-admin' });
    expect(proxy.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'sigv4-admin' });
    expect(proxy.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'sigv4-admin' });
    expect(proxy.ports).toEqual([
      { name: 'sigv4-proxy', containerPort: 8080, protocol: 'TCP' },
      { name: 'sigv4-admin', containerPort: 9901, protocol: 'TCP' },
    ]);
    expect(proxy.securityContext).toMatchObject({
      runAsNonRoot: true, runAsUser: 1337, runAsGroup: 0, readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] },
    });
    expect(proxy.securityContext.capabilities.add).toBeUndefined();
    expect(proxy.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } });
    expect(env(proxy)).toMatchObject({
      AWS_REGION: 'us-west-2', CA_ARN: '', APP_DOMAIN: '', LISTEN_PORT: '8080', ADMIN_PORT: '9901', LISTEN_ADDRESS: '127.0.0.1',
    });
    expect(proxy.image).toBe(configMap.data.proxyImage);
  });

  it('follows the ConfigMap: a new image, CA and domain reach new pods without touching the policy', () => {
    const data = { ...configMap.data, proxyImage: 'registry.example/proxy:2', caArn: 'arn:aws:acm-pca:us-west-2:111122223333:certificate-authority/x', appDomain: 'corp.example', cpuLimit: '1' };
    const pod = applyPolicy(policy, byName('bare-pod'), { config: data }).patched as Obj;
    const proxy = container(pod, 'lattice-sigv4-proxy');
    expect(proxy.image).toBe('registry.example/proxy:2');
    expect(env(proxy)).toMatchObject({ CA_ARN: data.caArn, APP_DOMAIN: 'corp.example' });
    expect(proxy.resources.limits.cpu).toBe('1');
  });

  it('applies the per-pod annotations: proxy port, admin port and excluded GID move together', () => {
    const proxy = container(withInit, 'lattice-sigv4-proxy');
    const init = container(withInit, 'iptables-init');
    expect(env(init)).toMatchObject({ PROXY_PORT: '15001', EXCLUDE_GID: '1337' });
    expect(env(proxy)).toMatchObject({ LISTEN_PORT: '15001', ADMIN_PORT: '15020' });
    expect(proxy.ports.map((p: Obj) => p.containerPort)).toEqual([15001, 15020]);
    expect(proxy.securityContext.runAsGroup).toBe(1337);
  });

  it('is not injected twice', () => {
    const again = run(bare);
    expect(again.patched).toEqual(bare);
    expect(again.rules.filter((r) => r.status === 'pass').map((r) => r.rule)).toEqual(['refuse-app-containers-in-proxy-gid']);
  });

  it('refuses a non-numeric override instead of pasting it into the patch', () => {
    const pod = structuredClone(byName('bare-pod'));
    pod.metadata.annotations['vpc-lattices-svcs.amazonaws.com/proxy-port'] = '8080\n  privileged: true';
    const out = run(pod);
    expect(out.rules.find((r) => r.rule === 'inject-into-pod-without-init-containers')?.status).toBe('error');
    expect(out.patched.spec).toEqual(pod.spec);
  });
});

describe('the GID rule', () => {
  const rule = 'refuse-app-containers-in-proxy-gid';
  const verdict = (pod: Obj) => run(pod).rules.find((r) => r.rule === rule);

  it('tells the user to set runAsGroup', () => {
    const v = verdict(byName('app-in-gid-0'));
    expect(v?.status).toBe('fail');
    expect(v?.message).toMatch(/runAsGroup/);
    expect(v?.message).toMatch(/GID 0/);
  });

  it('checks the user\'s init containers but not the injected ones', () => {
    const pod = structuredClone(byName('bare-pod'));
    pod.spec.initContainers = [{ name: 'setup', image: 'busybox', securityContext: { runAsGroup: 0 } }];
    expect(verdict(pod)?.status).toBe('fail');
    pod.spec.initContainers[0].securityContext.runAsGroup = 3000;
    expect(verdict(pod)?.status).toBe('pass');
  });

  it('follows the excluded-GID annotation', () => {
    const pod = structuredClone(byName('bare-pod'));
    pod.metadata.annotations['vpc-lattices-svcs.amazonaws.com/exclude-gid'] = '1000';
    expect(verdict(pod)?.status).toBe('fail');
  });

  it('ignores pods without the annotation', () => {
    const pod = structuredClone(byName('app-in-gid-0')) as Obj;
    delete pod.metadata.annotations[ANNOTATION];
    expect(verdict(pod)?.status).toBe('skip');
    expect(run(pod).patched).toEqual(pod as Json);
  });
});
