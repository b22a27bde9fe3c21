// charts/platform and charts/demo: lint-clean, every rendered object valid against its schema (core and apps via
// kubernetes-models, Gateway API via @kubernetes-models/gateway-api, AWS controller and Kyverno objects via their
// CRDs), and rendering what the Lattice pattern needs, for the default values and each cluster's values file.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { createServer } from 'node:net';
import { Gateway, GatewayClass, HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ensureHelm, helm, repoRoot } from './k8s/helm.js';
import { applyPolicy } from './k8s/kyverno.js';
import { crdErrors } from './k8s/schemas.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const CHARTS = ['platform', 'demo'] as const;
const VALUE_SETS = [[], ['-f', 'values-cluster1.yaml'], ['-f', 'values-cluster2.yaml']] as const;

function valuesArgs(chart: string, set: readonly string[]): string[] {
  return set.length === 0 ? [] : ['-f', path.join('charts', chart, set[1] ?? '')];
}

function render(chart: string, args: string[] = []): Obj[] {
  const r = helm(['template', `lattice-${chart}`, `charts/${chart}`, '--namespace', 'default', ...args]);
  if (r.status !== 0) throw new Error(`helm template ${chart} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj).filter((d) => d !== null);
}

// Models validate with the rules of their API version; anything this list does not know fails the test.
function schemaErrors(obj: Obj): string[] {
  const id = `${obj.apiVersion}/${obj.kind}`;
  const model = (fn: () => void): string[] => {
    try {
      fn();
      return [];
    } catch (err) {
      return [String((err as Error).message)];
    }
  };
  switch (id) {
    case 'v1/ServiceAccount': return model(() => new ServiceAccount(obj as never).validate());
    case 'v1/ConfigMap': return model(() => new ConfigMap(obj as never).validate());
    case 'v1/Service': return model(() => new Service(obj as never).validate());
    case 'apps/v1/Deployment': return model(() => new Deployment(obj as never).validate());
    case 'gateway.networking.k8s.io/v1/GatewayClass': return model(() => new GatewayClass(obj as never).validate());
    case 'gateway.networking.k8s.io/v1/Gateway': return model(() => new Gateway(obj as never).validate());
    case 'gateway.networking.k8s.io/v1/HTTPRoute': return model(() => new HTTPRoute(obj as never).validate());
    case 'application-networking.k8s.aws/v1alpha1/IAMAuthPolicy': return crdErrors('IAMAuthPolicy', obj);
    case 'application-networking.k8s.aws/v1alpha1/TargetGroupPolicy': return crdErrors('TargetGroupPolicy', obj);
    case 'kyverno.io/v1/ClusterPolicy': return crdErrors('ClusterPolicy', obj);
    default: return [`no schema known for ${id}`];
  }
}

const readRepo = (relative: string): string => readFileSync(path.join(repoRoot, relative), 'utf8');

const find = (docs: Obj[], kind: string, name?: string): Obj => {
  const d = docs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!d) throw new Error(`no ${kind} ${name ?? ''} rendered`);
  return d;
};

beforeAll(() => {
  ensureHelm();
}, 240_000);

describe.each(CHARTS)('charts/%s', (chart) => {
  it.each(VALUE_SETS.map((s) => [s.length === 0 ? 'default values' : s[1], s] as const))(
    'is helm lint --strict clean with %s',
    (_label, set) => {
      const r = helm(['lint', '--strict', `charts/${chart}`, ...valuesArgs(chart, set)]);
      expect(r.stderr + r.stdout).toContain('0 chart(s) failed');
      expect(r.status).toBe(0);
    },
  );

  it.each(VALUE_SETS.map((s) => [s.length === 0 ? 'default values' : s[1], s] as const))(
    'renders only schema-valid objects with %s',
    (_label, set) => {
      const docs = render(chart, valuesArgs(chart, set));
      expect(docs.length).toBeGreaterThan(3);
      for (const d of docs) expect(schemaErrors(d), `${d.kind} ${d.metadata?.name}`).toEqual([]);
    },
  );

  it('refuses values outside its values.schema.json', () => {
    const r = helm(['template', 'x', `charts/${chart}`, '--set', 'unknownValue=1']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unknownValue|additional/i);
  });
});

describe('the schema check itself', () => {
  it('catches a wrong type in a core object and a misspelt field in a CRD object', () => {
    const docs = render('demo');
    const deployment = structuredClone(find(docs, 'Deployment'));
    deployment.spec.replicas = 'two';
    expect(schemaErrors(deployment)).not.toEqual([]);
    const tgp = structuredClone(find(docs, 'TargetGroupPolicy'));
    tgp.spec.healthCheck.intervalSecond = 10;
    expect(schemaErrors(tgp)).not.toEqual([]);
  });
});

describe('charts/platform', () => {
  const cluster1 = () => render('platform', ['-f', 'charts/platform/values-cluster1.yaml']);

  it('renders the GatewayClass of the AWS Gateway API controller', () => {
    const gc = find(cluster1(), 'GatewayClass');
    expect(gc.metadata.name).toBe('amazon-vpc-lattice');
    expect(gc.spec.controllerName).toBe('application-networking.k8s.aws/gateway-api-controller');
  });

  it('renders lattice-gateway with the HTTP listener and the custom-domain HTTPS listener', () => {
    const values = parse(readRepo('charts/platform/values-cluster1.yaml')) as Obj;
    const gw = find(cluster1(), 'Gateway');
    expect(gw.metadata.name).toBe('lattice-gateway');
    expect(gw.spec.gatewayClassName).toBe('amazon-vpc-lattice');
    expect(gw.spec.listeners.map((l: Obj) => [l.name, l.port, l.protocol])).toEqual([
      ['http-listener', 80, 'HTTP'],
      ['https-listener-with-custom-domain', 443, 'HTTPS'],
    ]);
    expect(gw.spec.listeners[1].tls).toEqual({
      mode: 'Terminate',
      options: { 'application-networking.k8s.aws/certificate-arn': values.gateway.certificateArn },
    });
  });

  it('leaves the HTTPS listener out while no certificate ARN is set (TLS termination needs one)', () => {
    const gw = find(render('platform'), 'Gateway');
    expect(gw.spec.listeners.map((l: Obj) => l.name)).toEqual(['http-listener']);
  });

  it('gives the service network an auth policy for authenticated principals only', () => {
    const p = find(cluster1(), 'IAMAuthPolicy');
    expect(p.spec.targetRef).toEqual({ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'lattice-gateway' });
    const doc = JSON.parse(p.spec.policy) as Obj;
    expect(doc.Statement).toEqual([
      {
        Effect: 'Allow', Principal: '*', Action: 'vpc-lattice-svcs:Invoke', Resource: '*',
        Condition: { StringNotEqualsIgnoreCase: { 'aws:PrincipalType': 'anonymous' } },
      },
    ]);
  });

  it('puts the sidecar settings of the values into the Kyverno ConfigMap', () => {
    const values = parse(readRepo('charts/platform/values-cluster1.yaml')) as Obj;
    const cm = find(cluster1(), 'ConfigMap', 'lattice-sigv4-proxy-config');
    expect(cm.metadata.namespace).toBe('kyverno');
    expect(cm.data).toMatchObject({
      proxyImage: values.sidecar.proxyImage, initImage: values.sidecar.initImage, caArn: values.sidecar.caArn,
      appDomain: values.sidecar.appDomain, region: values.sidecar.region, cpuRequest: '50m', memoryLimit: '256Mi',
    });
  });

  it('renders no Kyverno objects when kyverno.enabled=false', () => {
    const kinds = render('platform', ['--set', 'kyverno.enabled=false']).map((d) => d.kind);
    expect(kinds).not.toContain('ClusterPolicy');
    expect(kinds).not.toContain('ConfigMap');
  });
});

describe.each([
  ['cluster1', 'eks-cluster2'],
  ['cluster2', 'eks-cluster1'],
])('charts/demo for %s', (cluster, peer) => {
  const docs = () => render('demo', ['-f', `charts/demo/values-${cluster}.yaml`]);
  const app = `demo-${cluster}-v1`;

  it(`renders ${app}: ServiceAccount, annotated Deployment with runAsGroup 1000, Service 80 -> 8090`, () => {
    const d = docs();
    expect(find(d, 'ServiceAccount', app).metadata.namespace).toBe('apps');
    const dep = find(d, 'Deployment', app);
    const pod = dep.spec.template;
    expect(pod.metadata.annotations['vpc-lattices-svcs.amazonaws.com/agent-inject']).toBe('true');
    expect(pod.spec.serviceAccountName).toBe(app);
    expect(pod.spec.securityContext.runAsGroup).toBe(1000);
    expect(pod.spec.containers[0].ports).toEqual([{ name: 'http', containerPort: 8090, protocol: 'TCP' }]);
    const svc = find(d, 'Service', app);
    expect(svc.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    expect(svc.spec.selector).toEqual(dep.spec.selector.matchLabels);
    expect(pod.metadata.labels).toMatchObject(dep.spec.selector.matchLabels);
  });

  it(`routes demo-${cluster}.example.com on both listeners to the Service`, () => {
    const route = find(docs(), 'HTTPRoute', `demo-${cluster}`);
    expect(route.spec.hostnames).toEqual([`demo-${cluster}.example.com`]);
    expect(route.spec.parentRefs.map((p: Obj) => p.sectionName)).toEqual(['http-listener', 'https-listener-with-custom-domain']);
    for (const p of route.spec.parentRefs) expect(p).toMatchObject({ name: 'lattice-gateway', namespace: 'default' });
    expect(route.spec.rules).toEqual([{ backendRefs: [{ name: app, kind: 'Service', port: 80 }] }]);
  });

  it(`lets only ${peer}'s apps namespace invoke it`, () => {
    const p = find(docs(), 'IAMAuthPolicy');
    expect(p.spec.targetRef).toEqual({ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: `demo-${cluster}` });
    const doc = JSON.parse(p.spec.policy) as Obj;
    expect(doc.Statement).toHaveLength(1);
    expect(doc.Statement[0]).toMatchObject({ Effect: 'Allow', Action: 'vpc-lattice-svcs:Invoke' });
    expect(doc.Statement[0].Condition).toEqual({
      StringEquals: { 'aws:PrincipalTag/eks-cluster-name': peer, 'aws:PrincipalTag/kubernetes-namespace': 'apps' },
    });
  });

  it('health-checks the targets on the server port', () => {
    const tgp = find(docs(), 'TargetGroupPolicy', app);
    expect(tgp.spec.targetRef).toEqual({ group: '', kind: 'Service', name: app });
    expect(tgp.spec.healthCheck).toMatchObject({ enabled: true, path: '/healthz', port: 8090, protocol: 'HTTP' });
  });

  it('passes the injection policy: gets the sidecar and is not refused for its GID', () => {
    const policy = parse(readRepo('policies/kyverno/clusterpolicy.yaml')) as Obj;
    const cm = parse(readRepo('policies/kyverno/configmap.yaml')) as Obj;
    const template = find(docs(), 'Deployment', app).spec.template;
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, namespace: 'apps' }, spec: template.spec };
    const out = applyPolicy(policy, pod, { config: cm.data });
    expect(out.rules.map((r) => [r.rule, r.status])).toEqual([
      ['inject-into-pod-without-init-containers', 'pass'],
      ['inject-before-existing-init-containers', 'skip'],
      ['refuse-app-containers-in-proxy-gid', 'pass'],
    ]);
    expect((out.patched as Obj).spec.initContainers.map((c: Obj) => c.name)).toEqual(['iptables-init', 'lattice-sigv4-proxy']);
  });
});

describe('charts/demo values', () => {
  it('refuses runAsGroup 0, which would bypass the proxy', () => {
    const r = helm(['template', 'x', 'charts/demo', '--set', 'securityContext.runAsGroup=0']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/runAsGroup/);
  });
});

describe('the demo server (charts/demo/files/server.mjs)', () => {
  it('answers "Requesting to Pod(<hostname>): Hello from demo-<cluster>-v1"', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn(process.execPath, [path.join(repoRoot, 'charts/demo/files/server.mjs')], {
      env: { PATH: process.env.PATH, PORT: String(port), APP_NAME: 'demo-cluster1-v1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await once(child.stdout, 'data');
      const res = await fetch(`http://127.0.0.1:${port}/`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(`Requesting to Pod(${hostname()}): Hello from demo-cluster1-v1\n`);
      expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe('ok\n');
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
