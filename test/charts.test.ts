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
import { GRPCRoute as GRPCRouteV1alpha2 } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha2';
import { connect as http2Connect } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { loadDemoPackage } from './emulators/grpc-target.js';
import { evaluatePolicy, latticeContext, type PolicyDocument } from './emulators/policy.js';
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

// ---------------------------------------------------------------- charts/demo: the optional gRPC service

describe('charts/demo gRPC service (grpc.enabled)', () => {
  const grpcArgs = (cluster: string): string[] => ['-f', `charts/demo/values-${cluster}.yaml`, '--set', 'grpc.enabled=true'];
  const docs = (cluster = 'cluster1') => render('demo', grpcArgs(cluster));
  const name = 'demo-cluster1-grpc';

  // @kubernetes-models/gateway-api has no v1 GRPCRoute (Gateway API v1.1 promoted it from v1alpha2 with the same
  // fields), so the route is checked against its v1alpha2 schema; every other object goes through schemaErrors.
  function grpcSchemaErrors(obj: Obj): string[] {
    if (obj.kind !== 'GRPCRoute') return schemaErrors(obj);
    if (obj.apiVersion !== 'gateway.networking.k8s.io/v1') return [`GRPCRoute apiVersion ${obj.apiVersion}, want gateway.networking.k8s.io/v1`];
    try {
      new GRPCRouteV1alpha2({ ...obj, apiVersion: 'gateway.networking.k8s.io/v1alpha2' } as never).validate();
      return [];
    } catch (err) {
      return [String((err as Error).message)];
    }
  }

  it.each(['cluster1', 'cluster2'])('is helm lint --strict clean and renders only schema-valid objects for %s', (cluster) => {
    const lint = helm(['lint', '--strict', 'charts/demo', ...grpcArgs(cluster)]);
    expect(lint.stderr + lint.stdout).toContain('0 chart(s) failed');
    const rendered = docs(cluster);
    for (const d of rendered) expect(grpcSchemaErrors(d), `${d.kind} ${d.metadata?.name}`).toEqual([]);
    expect(rendered.filter((d) => d.metadata.name === `demo-${cluster}-grpc`).map((d) => d.kind).sort()).toEqual(
      ['Deployment', 'GRPCRoute', 'IAMAuthPolicy', 'Service', 'ServiceAccount', 'TargetGroupPolicy'],
    );
  });

  it('catches an invalid GRPCRoute (the schema check is live; like the other models it checks types and enums)', () => {
    const route = find(docs(), 'GRPCRoute');
    expect(grpcSchemaErrors(route)).toEqual([]);
    const badType = structuredClone(route);
    badType.spec.rules[0].matches[0].method.type = 'Fuzzy';
    expect(grpcSchemaErrors(badType)).not.toEqual([]);
    const badPort = structuredClone(route);
    badPort.spec.rules[0].backendRefs[0].port = 'fifty';
    expect(grpcSchemaErrors(badPort)).not.toEqual([]);
  });

  it('renders nothing gRPC by default', () => {
    expect(render('demo').filter((d) => String(d.metadata.name).endsWith('-grpc') || d.kind === 'GRPCRoute')).toEqual([]);
  });

  it('routes demo-<cluster>-grpc.<domain> on the HTTPS listener only, by gRPC service, to the h2c Service', () => {
    const d = docs();
    const route = find(d, 'GRPCRoute', name);
    expect(route.spec.hostnames).toEqual(['demo-cluster1-grpc.example.com']);
    expect(route.spec.parentRefs).toEqual([{ name: 'lattice-gateway', namespace: 'default', sectionName: 'https-listener-with-custom-domain' }]);
    expect(route.spec.rules).toEqual([
      { matches: [{ method: { type: 'Exact', service: 'lattice.demo.v1.Demo' } }], backendRefs: [{ name, kind: 'Service', port: 50051 }] },
    ]);
    const svc = find(d, 'Service', name);
    expect(svc.spec.ports).toEqual([{ name: 'grpc', port: 50051, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' }]);
    const dep = find(d, 'Deployment', name);
    expect(svc.spec.selector).toEqual(dep.spec.selector.matchLabels);
    expect(dep.spec.template.spec.containers[0].command).toEqual(['node', '/opt/demo/grpc-server.mjs']);
    const tgp = find(d, 'TargetGroupPolicy', name);
    expect(tgp.spec.targetRef).toEqual({ group: '', kind: 'Service', name });
    expect(tgp.spec.healthCheck).toMatchObject({ path: '/healthz', port: 50051, protocol: 'HTTP', protocolVersion: 'HTTP2' });
  });

  it('authorises per RPC: the peer namespace may call the listed methods (evaluated like Lattice does)', () => {
    const p = find(docs(), 'IAMAuthPolicy', name);
    expect(p.spec.targetRef).toEqual({ group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name });
    const policy = JSON.parse(p.spec.policy) as PolicyDocument;
    const serviceArn = 'arn:aws:vpc-lattice:us-west-2:123456789012:service/svc-0123456789abcdef0';
    const ask = (path: string, tags: Record<string, string>, method = 'POST'): boolean =>
      evaluatePolicy(policy, latticeContext({ principalArn: 'arn:aws:sts::123456789012:assumed-role/r/s', principalTags: tags, method, path, serviceArn, serviceNetworkArn: 'arn:aws:vpc-lattice:us-west-2:123456789012:servicenetwork/sn-1' })).decision === 'Allow';
    const peer = { 'eks-cluster-name': 'eks-cluster2', 'kubernetes-namespace': 'apps' };
    expect(ask('/lattice.demo.v1.Demo/Hello', peer)).toBe(true);
    expect(ask('/lattice.demo.v1.Demo/Chat', peer)).toBe(true);
    expect(ask('/lattice.demo.v1.Other/Hello', peer)).toBe(false);
    expect(ask('/lattice.demo.v1.Demo/Hello', peer, 'GET')).toBe(false);
    expect(ask('/lattice.demo.v1.Demo/Hello', { ...peer, 'eks-cluster-name': 'eks-cluster1' })).toBe(false);
    const narrow = find(render('demo', [...grpcArgs('cluster1'), '--set', 'grpc.allowedMethods={/lattice.demo.v1.Demo/Hello}']), 'IAMAuthPolicy', name);
    const narrowPolicy = JSON.parse(narrow.spec.policy) as PolicyDocument;
    const allowed = (path: string): string =>
      evaluatePolicy(narrowPolicy, latticeContext({ principalArn: 'arn:aws:sts::123456789012:assumed-role/r/s', principalTags: peer, method: 'POST', path, serviceArn, serviceNetworkArn: 'sn' })).decision;
    expect([allowed('/lattice.demo.v1.Demo/Hello'), allowed('/lattice.demo.v1.Demo/Chat')]).toEqual(['Allow', 'ImplicitDeny']);
  });

  it('refuses grpc.enabled without the HTTPS listener, and method paths that are not /<service>/<method>', () => {
    const noTls = helm(['template', 'x', 'charts/demo', '--set', 'grpc.enabled=true', '--set', 'gateway.https=false']);
    expect(noTls.status).not.toBe(0);
    expect(noTls.stderr).toMatch(/grpc.enabled needs gateway.https=true/);
    const badPath = helm(['template', 'x', 'charts/demo', '--set', 'grpc.enabled=true', '--set', 'grpc.allowedMethods={Hello}']);
    expect(badPath.status).not.toBe(0);
    expect(badPath.stderr).toMatch(/allowedMethods/);
  });

  it('passes the injection policy like the HTTP demo (sidecar injected, GID allowed)', () => {
    const policy = parse(readRepo('policies/kyverno/clusterpolicy.yaml')) as Obj;
    const cm = parse(readRepo('policies/kyverno/configmap.yaml')) as Obj;
    const template = find(docs(), 'Deployment', name).spec.template;
    const out = applyPolicy(policy, { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, namespace: 'apps' }, spec: template.spec }, { config: cm.data });
    expect(out.rules.find((r) => r.rule === 'refuse-app-containers-in-proxy-gid')?.status).toBe('pass');
    expect((out.patched as Obj).spec.initContainers.map((c: Obj) => c.name)).toEqual(['iptables-init', 'lattice-sigv4-proxy']);
  });
});

describe('the gRPC demo server (charts/demo/files/grpc-server.mjs)', () => {
  it('answers Hello and Chat to a grpc-js client (test/emulators/proto/demo.proto), /healthz over h2c, UNIMPLEMENTED otherwise', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn(process.execPath, [path.join(repoRoot, 'charts/demo/files/grpc-server.mjs')], {
      env: { PATH: process.env.PATH, PORT: String(port), APP_NAME: 'demo-cluster1-grpc' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const { Demo } = loadDemoPackage();
    type Cb<T> = (err: grpc.ServiceError | null, r: T) => void;
    const client = new Demo(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Hello(req: object, cb: Cb<{ message: string; pod: string }>): void;
      Chat(): grpc.ClientDuplexStream<object, { message: string; index: number }>;
      Fail(req: object, cb: Cb<unknown>): void;
    };
    try {
      await once(child.stdout, 'data');
      const hello = await new Promise<{ message: string; pod: string }>((resolve, reject) => client.Hello({ name: 'charts' }, (e, r) => (e ? reject(e) : resolve(r))));
      expect(hello).toMatchObject({ message: `Requesting to Pod(${hostname()}): Hello from demo-cluster1-grpc, charts`, pod: hostname() });

      const chat = client.Chat();
      const replies: Array<{ message: string; index: number }> = [];
      chat.on('data', (m: { message: string; index: number }) => replies.push(m));
      const status = new Promise<grpc.StatusObject>((resolve) => chat.on('status', resolve));
      for (const n of ['a', 'b', 'c']) chat.write({ name: n });
      chat.end();
      expect((await status).code).toBe(grpc.status.OK);
      expect(replies.map((r) => [r.index, r.message.endsWith(`, ${['a', 'b', 'c'][r.index]}`)])).toEqual([[0, true], [1, true], [2, true]]);

      const unknown = await new Promise<grpc.ServiceError>((resolve) => client.Fail({}, (e) => resolve(e as grpc.ServiceError)));
      expect(unknown.code).toBe(grpc.status.UNIMPLEMENTED);

      const session = http2Connect(`http://127.0.0.1:${port}`);
      const health = session.request({ ':path': '/healthz' });
      let body = '';
      health.on('data', (d: Buffer) => (body += d.toString()));
      await once(health, 'end');
      session.close();
      expect(body).toBe('ok\n');

      client.close();
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
    } finally {
      client.close();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
