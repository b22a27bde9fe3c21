// charts/platform with monitoring.enabled: a PodMonitor and a PrometheusRule valid against the prometheus-operator
// CRD schemas; the PodMonitor selects exactly what the chart's own Kyverno policy puts on the pods it injects and
// scrapes the port the sidecar gets; the PrometheusRule carries the promtool-tested rule file unchanged.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { helm, repoRoot } from './k8s/helm.js';
import { applyPolicy, type Json } from './k8s/kyverno.js';
import { crdErrors } from './k8s/schemas.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function render(...set: string[]): Obj[] {
  const r = helm(['template', 'lattice-platform', 'charts/platform', '--namespace', 'platform', ...set.flatMap((s) => ['--set', s])]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Obj)
    .filter((d) => d !== null);
}

const kind = (docs: Obj[], k: string): Obj[] => docs.filter((d) => d.kind === k);
const rulesFile = parse(readFileSync(path.join(repoRoot, 'charts', 'platform', 'rules', 'lattice-sigv4-proxy.rules.yaml'), 'utf8')) as Obj;

/** The chart's policy applied to a pod, with the chart's ConfigMap as the policy's context. */
function inject(docs: Obj[], pod: Obj): Obj {
  const policy = kind(docs, 'ClusterPolicy')[0]!;
  const config = kind(docs, 'ConfigMap')[0]!;
  const out = applyPolicy(policy as Json as never, pod as Json as never, { config: config.data as Record<string, string> });
  expect(out.rules.filter((r) => r.status === 'error' || r.status === 'fail')).toEqual([]);
  return out.patched as Obj;
}

function pod(name: string, annotations: Record<string, string> = {}, labels?: Record<string, string>): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'apps', ...(labels ? { labels } : {}), annotations: { 'vpc-lattices-svcs.amazonaws.com/agent-inject': 'true', ...annotations } },
    spec: { securityContext: { runAsGroup: 1000 }, containers: [{ name: 'app', image: 'busybox' }] },
  };
}

describe('charts/platform monitoring', () => {
  it('renders neither object by default', () => {
    const docs = render();
    expect(kind(docs, 'PodMonitor')).toEqual([]);
    expect(kind(docs, 'PrometheusRule')).toEqual([]);
  });

  const docs = render('monitoring.enabled=true');
  const podMonitor = kind(docs, 'PodMonitor')[0]!;
  const rule = kind(docs, 'PrometheusRule')[0]!;

  it('renders one PodMonitor and one PrometheusRule, valid against the prometheus-operator CRDs', () => {
    expect(kind(docs, 'PodMonitor')).toHaveLength(1);
    expect(kind(docs, 'PrometheusRule')).toHaveLength(1);
    expect(podMonitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(crdErrors('PodMonitor', podMonitor)).toEqual([]);
    expect(crdErrors('PrometheusRule', rule)).toEqual([]);
    expect(podMonitor.metadata.namespace).toBe('platform');
  });

  it('fails the same schema check when a field is misplaced (the check can fail)', () => {
    const broken = structuredClone(podMonitor);
    broken.spec.podMetricsEndpoints[0].prot = 'sigv4-admin';
    expect(crdErrors('PodMonitor', broken).join('\n')).toMatch(/additional/);
    const badRule = structuredClone(rule);
    badRule.spec.groups[0].rules[0].for = 'five minutes';
    expect(crdErrors('PrometheusRule', badRule).join('\n')).toMatch(/pattern/);
  });

  it('selects the pods the policy injects, in every namespace, and scrapes the sidecar\'s admin port', () => {
    expect(podMonitor.spec.namespaceSelector).toEqual({ any: true });
    const endpoint = podMonitor.spec.podMetricsEndpoints[0];
    expect(endpoint).toMatchObject({ path: '/metrics', interval: '30s' });
    for (const [sample, adminPort] of [
      [pod('bare'), 9901],
      [pod('overridden', { 'vpc-lattices-svcs.amazonaws.com/admin-port': '15020' }, { app: 'web' }), 15020],
    ] as const) {
      const injected = inject(docs, sample);
      for (const [k, v] of Object.entries(podMonitor.spec.selector.matchLabels as Record<string, string>)) expect(injected.metadata.labels[k]).toBe(v);
      if (sample.metadata.labels) expect(injected.metadata.labels).toMatchObject(sample.metadata.labels);
      const sidecar = (injected.spec.initContainers as Obj[]).find((c) => c.name === 'lattice-sigv4-proxy')!;
      const port = (sidecar.ports as Obj[]).find((p) => p.name === endpoint.port);
      expect(port?.containerPort).toBe(adminPort);
      expect(injected.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(adminPort), 'prometheus.io/path': '/metrics' });
    }
    // A pod that is not annotated is neither injected nor labelled, so never scraped.
    const plain = pod('plain');
    delete plain.metadata.annotations;
    expect(inject(docs, plain).metadata.labels).toBeUndefined();
  });

  it('keeps the prometheus.io annotations a pod sets for its own metrics', () => {
    const own = inject(docs, pod('own', { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8000', 'prometheus.io/path': '/stats' }));
    expect(own.metadata.annotations).toMatchObject({ 'prometheus.io/port': '8000', 'prometheus.io/path': '/stats' });
  });

  it('adds no prometheus.io annotations with monitoring.podAnnotations=false, but still the label', () => {
    const off = render('monitoring.enabled=true', 'monitoring.podAnnotations=false');
    const injected = inject(off, pod('bare'));
    expect(Object.keys(injected.metadata.annotations).filter((k) => k.startsWith('prometheus.io/'))).toEqual([]);
    expect(injected.metadata.labels).toEqual(kind(off, 'PodMonitor')[0]!.spec.selector.matchLabels);
  });

  it('renders the promtool-tested rule file unchanged, runbook_url rewritten only when runbookUrl is set', () => {
    expect(rule.spec).toEqual({ groups: rulesFile.groups });
    const url = 'https://git.example.com/platform/lattice-sigv4-proxy/blob/main/docs/runbook.md';
    const withUrl = kind(render('monitoring.enabled=true', `monitoring.runbookUrl=${url}`), 'PrometheusRule')[0]!;
    const alerts = withUrl.spec.groups.flatMap((g: Obj) => g.rules as Obj[]);
    const original = rulesFile.groups.flatMap((g: Obj) => g.rules as Obj[]);
    expect(alerts.map((a: Obj) => a.annotations.runbook_url)).toEqual(original.map((a: Obj) => a.annotations.runbook_url.replace('docs/runbook.md', url)));
    expect(alerts.map((a: Obj) => ({ ...a, annotations: { ...a.annotations, runbook_url: '' } }))).toEqual(
      original.map((a: Obj) => ({ ...a, annotations: { ...a.annotations, runbook_url: '' } })),
    );
  });

  it('puts both objects in monitoring.namespace with monitoring.labels, for the Prometheus selectors', () => {
    const placed = render('monitoring.enabled=true', 'monitoring.namespace=monitoring', 'monitoring.labels.release=kube-prometheus-stack');
    for (const k of ['PodMonitor', 'PrometheusRule']) {
      const o = kind(placed, k)[0]!;
      expect(o.metadata.namespace).toBe('monitoring');
      expect(o.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack', 'app.kubernetes.io/name': 'platform' });
    }
  });

  it('refuses a runbookUrl that is not an http(s) URL', () => {
    const r = helm(['template', 'x', 'charts/platform', '--set', 'monitoring.enabled=true', '--set', 'monitoring.runbookUrl=docs/runbook.md']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/runbookUrl/);
  });
});
