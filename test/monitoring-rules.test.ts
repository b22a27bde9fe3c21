// The alerting rules of charts/platform/rules, with the real promtool: they load, every alert fires and stays quiet
// in the unit tests beside them, a wrong expectation fails, they follow the alerting conventions (for, severity,
// summary, description, a runbook section that exists), and every sidecar metric name and label value they and
// their synthetic series use is one the built proxy really exports.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startSeedWorld, type SeedWorld } from './emulators/scenario.js';
import { headingAnchors } from './helpers/markdown.js';
import { REPO_ROOT, seedProxyEnv, startProxy, type ProxyProcess } from './helpers/proxy-process.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const RULES_DIR = path.join(REPO_ROOT, 'charts', 'platform', 'rules');
const RULES_FILE = path.join(RULES_DIR, 'lattice-sigv4-proxy.rules.yaml');
const TESTS_FILE = path.join(RULES_DIR, 'lattice-sigv4-proxy.rules.test.yaml');
const rules = (parse(readFileSync(RULES_FILE, 'utf8')) as Obj).groups.flatMap((g: Obj) => g.rules as Obj[]) as Obj[];
const unitTests = (parse(readFileSync(TESTS_FILE, 'utf8')) as Obj).tests as Obj[];

// Series the rules read that the sidecar does not export, and who does.
const EXTERNAL: Record<string, string> = {
  kube_pod_init_container_status_ready: 'kube-state-metrics',
  kube_pod_status_phase: 'kube-state-metrics',
};
// Labels a scrape attaches to every series of a target (the synthetic series carry them too).
const TARGET_LABELS = new Set(['namespace', 'pod', 'instance', 'job', 'container', 'endpoint']);

function promtoolPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
const promtool = promtoolPath();
if (!promtool) console.warn('monitoring rules: SKIPPED the promtool runs: promtool is not installed (scripts/install-system-deps.sh, as root, unpacks it)');

function run(args: string[], cwd: string): { status: number; output: string } {
  const r = spawnSync(promtool!, args, { cwd, encoding: 'utf8' });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!promtool)('promtool', () => {
  it('is the real promtool', () => {
    expect(execFileSync(promtool!, ['--version'], { encoding: 'utf8' })).toMatch(/^promtool, version \d+\.\d+/);
  });

  it('check rules: the rule file is valid', () => {
    const r = run(['check', 'rules', path.basename(RULES_FILE)], RULES_DIR);
    console.log(`promtool check rules:\n${r.output}`);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('test rules: every unit test passes', () => {
    const r = run(['test', 'rules', path.basename(TESTS_FILE)], RULES_DIR);
    console.log(`promtool test rules:\n${r.output}`);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('test rules fails when an expectation is wrong (the unit tests can fail)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'promtool-'));
    try {
      copyFileSync(RULES_FILE, path.join(dir, path.basename(RULES_FILE)));
      const broken = parse(readFileSync(TESTS_FILE, 'utf8')) as Obj;
      // The first expected alert, expected to stay quiet instead.
      const firing = (broken.tests as Obj[]).flatMap((t) => t.alert_rule_test as Obj[]).find((a) => a.exp_alerts.length > 0)!;
      firing.exp_alerts = [];
      writeFileSync(path.join(dir, 'broken.test.yaml'), stringify(broken));
      const r = run(['test', 'rules', 'broken.test.yaml'], dir);
      expect(r.status).not.toBe(0);
      expect(r.output).toContain('FAILED');
      expect(r.output).toContain(firing.alertname);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the alerting rules', () => {
  const alerts = rules.filter((r) => r.alert !== undefined);
  const runbook = headingAnchors(readFileSync(path.join(REPO_ROOT, 'docs', 'runbook.md'), 'utf8'));

  it('are all alerts, with CamelCase names', () => {
    expect(alerts.length).toBe(rules.length);
    expect(alerts.length).toBeGreaterThanOrEqual(9);
    for (const a of alerts) expect(a.alert).toMatch(/^LatticeProxy[A-Z][A-Za-z0-9]+$/);
  });

  it.each(alerts.map((a) => [a.alert as string, a]))('%s has for, a severity, a summary, a description and a runbook section', (_name, a) => {
    expect(a.for).toMatch(/^\d+[mh]$/);
    expect(['critical', 'warning']).toContain(a.labels?.severity);
    expect(a.annotations.summary).toMatch(/\.$/);
    expect(a.annotations.description.length).toBeGreaterThan(40);
    const anchor = (a.alert as string).toLowerCase();
    expect(a.annotations.runbook_url).toBe(`docs/runbook.md#${anchor}`);
    expect(runbook.has(anchor), `docs/runbook.md has no section "## ${a.alert}"`).toBe(true);
  });

  it('each alert fires in one unit test case and stays quiet in another', () => {
    const cases = unitTests.flatMap((t) => t.alert_rule_test as Obj[]);
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a.alert);
      expect(mine.some((c) => c.exp_alerts.length > 0), `${a.alert} never expected to fire`).toBe(true);
      expect(mine.some((c) => c.exp_alerts.length === 0), `${a.alert} never expected to stay quiet`).toBe(true);
    }
  });
});

interface Selector {
  readonly name: string;
  readonly matchers: ReadonlyArray<{ label: string; op: string; value: string }>;
}

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'rate', 'increase', 'sum', 'max', 'min', 'avg', 'count']);

/** The vector selectors of a PromQL expression (enough PromQL for these rules: names, matchers, no nesting of braces). */
function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  // Grouping label lists and range durations are not selectors.
  const text = expr.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  for (const m of text.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g)) {
    const name = m[1]!;
    if (PROMQL_WORDS.has(name) || /^\d/.test(name)) continue;
    const matchers = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)].map((x) => ({ label: x[1]!, op: x[2]!, value: x[3]! }));
    out.push({ name, matchers });
  }
  return out;
}

/** Series of a Prometheus text exposition, by metric name. */
function scrapeSeries(text: string): Map<string, Array<Record<string, string>>> {
  const series = new Map<string, Array<Record<string, string>>>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    series.set(m[1]!, [...(series.get(m[1]!) ?? []), labels]);
  }
  return series;
}

function matches(labels: Record<string, string>, s: Selector): boolean {
  return s.matchers.every(({ label, op, value }) => {
    const v = labels[label] ?? '';
    const re = new RegExp(`^(?:${value})$`);
    return op === '=' ? v === value : op === '!=' ? v !== value : op === '=~' ? re.test(v) : !re.test(v);
  });
}

/** A request as the app sends it: plain HTTP to the proxy, the target in the Host header. */
function appGet(port: number, host: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the names the rules use, against a real scrape of the built proxy', () => {
  let world: SeedWorld | undefined;
  let proxy: ProxyProcess | undefined;
  let scraped = new Map<string, Array<Record<string, string>>>();

  beforeAll(async () => {
    world = await startSeedWorld();
    // The first ACM PCA fetch fails and the retry loads the root, and the CA_FILE is missing: every source and
    // result of lattice_proxy_ca_loads_total appears. The other series exist from the start, except the request
    // counters, which the requests below produce.
    world.pca.failNext(1);
    proxy = await startProxy(seedProxyEnv(world, 'cluster1', { CA_FILE: path.join(tmpdir(), 'no-such-ca-file.pem') }), { waitReady: false });
    await proxy.waitForLog((l) => l['event'] === 'ca_loaded');
    await proxy.waitForLog((l) => l['event'] === 'ca_file_failed');
    const sent = [];
    for (const host of [
      'demo-cluster2.example.com', // 200 from the service: upstream 2xx
      'demo-cluster1.example.com', // Lattice's 403: upstream 4xx
      'api.example.org', // outside the allowlist: the proxy's 403
      'other.example.com', // allowed, but Lattice's certificate does not name it: the proxy's 502 (TLS)
    ]) {
      sent.push((await appGet(proxy.port, host)).status);
    }
    // The service gone: Lattice answers 503 (upstream 5xx).
    await world.targets['demo-cluster2']!.close();
    sent.push((await appGet(proxy.port, 'demo-cluster2.example.com')).status);
    expect(sent).toEqual([200, 403, 403, 502, 503]);
    scraped = scrapeSeries(await proxy.metrics());
  });

  afterAll(async () => {
    await proxy?.stop();
    await world?.close();
  });

  it('the parsers read what they must', () => {
    expect(selectors('sum by (namespace) (rate(a_total{x="1", y=~"b|c"}[5m])) / b and ignoring (r) c > 0.1')).toEqual([
      { name: 'a_total', matchers: [{ label: 'x', op: '=', value: '1' }, { label: 'y', op: '=~', value: 'b|c' }] },
      { name: 'b', matchers: [] },
      { name: 'c', matchers: [] },
    ]);
    expect(scraped.get('lattice_proxy_requests_total')).toContainEqual({ code: '5xx', origin: 'upstream' });
  });

  const used = rules.flatMap((r) => selectors(r.expr as string));

  it('every metric the rules read is the sidecar\'s (in the scrape) or named as external', () => {
    const names = [...new Set(used.map((s) => s.name))];
    expect(names.filter((n) => n.startsWith('lattice_proxy_')).length).toBeGreaterThanOrEqual(6);
    for (const n of names) {
      if (n.startsWith('lattice_proxy_')) expect([...scraped.keys()], `${n} is not in /metrics`).toContain(n);
      else expect(EXTERNAL, `${n} is neither the sidecar's nor a known external series`).toHaveProperty(n);
    }
  });

  it('every selector on a sidecar metric matches a series of the scrape', () => {
    for (const s of used.filter((x) => x.name.startsWith('lattice_proxy_'))) {
      const found = (scraped.get(s.name) ?? []).some((labels) => matches(labels, s));
      expect(found, `${s.name}{${s.matchers.map((m) => `${m.label}${m.op}"${m.value}"`).join(',')}} matches nothing in /metrics`).toBe(true);
    }
  });

  it('every synthetic series of the unit tests is named and labelled like a real one', () => {
    const inputs = unitTests.flatMap((t) => (t.input_series as Obj[]).map((i) => i.series as string));
    expect(inputs.length).toBeGreaterThan(20);
    for (const text of inputs) {
      const [sel] = selectors(text);
      if (!sel!.name.startsWith('lattice_proxy_')) {
        expect(EXTERNAL).toHaveProperty(sel!.name);
        continue;
      }
      const own = Object.fromEntries(sel!.matchers.filter((m) => !TARGET_LABELS.has(m.label)).map((m) => [m.label, m.value]));
      expect(scraped.get(sel!.name) ?? [], `${text}: no such series in /metrics`).toContainEqual(own);
    }
  });
});
