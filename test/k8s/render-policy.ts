// policies/kyverno/{clusterpolicy,configmap}.yaml are generated from charts/platform, the single source of the
// policy: `npx tsx test/k8s/render-policy.ts --write` regenerates them; test/kyverno-policy.test.ts proves the
// committed files are what the chart renders.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { helm, repoRoot } from './helm.js';

export const policyDir = path.join(repoRoot, 'policies', 'kyverno');
export const policyFile = path.join(policyDir, 'clusterpolicy.yaml');
export const configMapFile = path.join(policyDir, 'configmap.yaml');

const HEADER =
  '# GENERATED from charts/platform (templates/kyverno-*.yaml) by `npx tsx test/k8s/render-policy.ts --write`.\n' +
  '# Edit the chart, not this file: test/kyverno-policy.test.ts fails when the two disagree.\n';

type Doc = Record<string, unknown> & { metadata?: Record<string, unknown> };

/** The chart's Kyverno objects with default values, without the Helm release labels. */
export function renderFromChart(): { policy: Doc; configMap: Doc } {
  const r = helm([
    'template', 'lattice-platform', 'charts/platform', '--namespace', 'default',
    '--show-only', 'templates/kyverno-clusterpolicy.yaml', '--show-only', 'templates/kyverno-configmap.yaml',
  ]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Doc).filter((d) => d !== null);
  const strip = (d: Doc | undefined, kind: string): Doc => {
    if (d === undefined) throw new Error(`the chart rendered no ${kind}`);
    const { labels: _labels, ...metadata } = d.metadata ?? {};
    return { ...d, metadata };
  };
  return {
    policy: strip(docs.find((d) => d.kind === 'ClusterPolicy'), 'ClusterPolicy'),
    configMap: strip(docs.find((d) => d.kind === 'ConfigMap'), 'ConfigMap'),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  const { policy, configMap } = renderFromChart();
  writeFileSync(policyFile, HEADER + stringify(policy, { lineWidth: 0 }));
  writeFileSync(configMapFile, HEADER + '# Example values: set yours with the platform chart, or edit and apply this file.\n' + stringify(configMap, { lineWidth: 0 }));
  console.log(`wrote ${path.relative(repoRoot, policyFile)} and ${path.relative(repoRoot, configMapFile)}`);
}
