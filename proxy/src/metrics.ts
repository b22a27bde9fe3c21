// Prometheus metrics. One registry per process, created in main and passed down (no prom-client global
// default registry). Label values are small closed sets: never paths, hosts or anything a client controls.
//
// What the request path touches is plain numbers in typed arrays: a request costs a few array increments
// and a bucket search, never a prom-client call (label hashing, object lookups). prom-client reads the
// arrays when /metrics is scraped, through collectors registered like any other metric.

import { createRequire } from 'node:module';
import type { Registry as PromRegistry } from 'prom-client';
import { processMetrics } from './process-metrics.js';

// prom-client's registry alone: its index loads every metric type and the default metrics, and with them
// @opentelemetry/api and tdigest (~7 MB of RSS, measured), none of which the proxy uses.
const Registry = createRequire(import.meta.url)('prom-client/lib/registry') as typeof PromRegistry;
type Registry = PromRegistry;
import type { UpstreamErrorKind } from './errors.js';

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';
export type Origin = 'upstream' | 'proxy';
export type RejectReason = 'not_allowed' | 'bad_request' | 'method' | 'shutting_down';

const CLASSES: readonly StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx'];
const ORIGINS: readonly Origin[] = ['upstream', 'proxy'];
const UPSTREAM_KINDS: readonly UpstreamErrorKind[] = ['connect', 'tls', 'reset', 'protocol', 'timeout'];
const SIGNING_REASONS = ['no_credentials', 'error'] as const;
const REJECT_REASONS: readonly RejectReason[] = ['not_allowed', 'bad_request', 'method', 'shutting_down'];
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface Metrics {
  readonly registry: Registry;
  /** Count one finished request and its duration. */
  request(status: number, origin: Origin, seconds: number): void;
  /** Where the in-flight gauge reads from at scrape time (the proxy already counts; no per-request gauge call). */
  inFlightSource(fn: () => number): void;
  upstreamError(kind: UpstreamErrorKind): void;
  upstreamConnectionOpened(): void;
  signingFailure(reason: 'no_credentials' | 'error'): void;
  rejected(reason: RejectReason): void;
  credentialRefresh(result: 'success' | 'failure'): void;
  /** Where the credential expiry gauge reads from at scrape time (seconds left, or undefined for none). */
  credentialExpirySource(fn: () => number | undefined): void;
  caLoad(source: 'pca' | 'file', result: 'success' | 'failure', seconds: number): void;
  /** The trusted roots changed now. */
  caLoaded(): void;
}

export function statusClass(status: number): StatusClass {
  return CLASSES[classIndex(status)]!;
}

function classIndex(status: number): number {
  return Math.min(Math.max(Math.floor(status / 100) - 1, 0), 4);
}

interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

/**
 * A metric whose samples are computed at scrape time: the shape prom-client's Registry formats (it calls
 * get() on every registered metric). Reads only; the counters it reports live in plain arrays.
 */
class ScrapedMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    readonly samples: () => Sample[] | Promise<Sample[]>,
  ) {}
  async get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: string }> {
    return { name: this.name, help: this.help, type: this.type, values: await this.samples(), aggregator: this.aggregator };
  }
  reset(): void {
    // The arrays are the process's own counts; a registry reset does not rewrite history.
  }
}

function labelled(registry: Registry, name: string, help: string, label: string, keys: readonly string[], counts: Float64Array): void {
  registry.registerMetric(
    new ScrapedMetric(name, help, 'counter', () => keys.map((k, i) => ({ value: counts[i]!, labels: { [label]: k } }))) as unknown as Parameters<Registry['registerMetric']>[0],
  );
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  const register = (m: ScrapedMetric): void => registry.registerMetric(m as unknown as Parameters<Registry['registerMetric']>[0]);
  if (opts.defaultMetrics !== false) for (const m of processMetrics()) register(new ScrapedMetric('lattice_proxy_' + m.name, m.help, m.type, m.samples));

  // requests[class * 2 + origin]; every closed label set starts at 0, so rate() and absent-vs-zero alerts
  // work from the first scrape.
  const requests = new Float64Array(CLASSES.length * ORIGINS.length);
  // buckets[class * (BUCKETS.length + 1) + i]: per-bucket (not cumulative) counts; the last slot is +Inf.
  const buckets = new Float64Array(CLASSES.length * (BUCKETS.length + 1));
  const sums = new Float64Array(CLASSES.length);
  const upstreamErrors = new Float64Array(UPSTREAM_KINDS.length);
  const signing = new Float64Array(SIGNING_REASONS.length);
  const rejected = new Float64Array(REJECT_REASONS.length);
  const refreshes = new Float64Array(2);
  const connections = new Float64Array(1);

  register(
    new ScrapedMetric('lattice_proxy_requests_total', 'Requests handled, by status class and by who produced the status (upstream answer or the proxy itself)', 'counter', () => {
      const out: Sample[] = [];
      for (let c = 0; c < CLASSES.length; c++) for (let o = 0; o < ORIGINS.length; o++) out.push({ value: requests[c * 2 + o]!, labels: { code: CLASSES[c]!, origin: ORIGINS[o]! } });
      return out;
    }),
  );
  register(
    new ScrapedMetric('lattice_proxy_request_duration_seconds', 'Time from request received to response finished, by status class', 'histogram', () => {
      const out: Sample[] = [];
      for (let c = 0; c < CLASSES.length; c++) {
        let cumulative = 0;
        const base = c * (BUCKETS.length + 1);
        for (let i = 0; i <= BUCKETS.length; i++) {
          cumulative += buckets[base + i]!;
          out.push({ metricName: 'lattice_proxy_request_duration_seconds_bucket', value: cumulative, labels: { le: i < BUCKETS.length ? BUCKETS[i]! : '+Inf', code: CLASSES[c]! } });
        }
        out.push({ metricName: 'lattice_proxy_request_duration_seconds_sum', value: sums[c]!, labels: { code: CLASSES[c]! } });
        out.push({ metricName: 'lattice_proxy_request_duration_seconds_count', value: cumulative, labels: { code: CLASSES[c]! } });
      }
      return out;
    }),
  );
  labelled(registry, 'lattice_proxy_upstream_errors_total', 'Failures talking to the upstream, by kind (connect, tls, reset, protocol, timeout)', 'kind', UPSTREAM_KINDS, upstreamErrors);
  labelled(registry, 'lattice_proxy_signing_failures_total', 'Requests that could not be signed and were refused, by reason', 'reason', SIGNING_REASONS, signing);
  labelled(registry, 'lattice_proxy_rejected_requests_total', 'Requests refused by the proxy before signing, by reason', 'reason', REJECT_REASONS, rejected);
  labelled(registry, 'lattice_proxy_credential_refreshes_total', 'Background credential fetches, by result', 'result', ['success', 'failure'], refreshes);
  register(
    new ScrapedMetric('lattice_proxy_upstream_connections_opened_total', 'TLS connections opened to upstreams (a handful under steady load means keep-alive holds)', 'counter', () => [
      { value: connections[0]!, labels: {} },
    ]),
  );

  // CA loads: a few per hour, keyed by the closed source/result sets.
  const caLoads = new Map<string, number>();
  const caLoadSeconds = new Map<string, number>();
  register(
    new ScrapedMetric('lattice_proxy_ca_loads_total', 'Private CA root loads, by source (pca, file) and result', 'counter', () =>
      [...caLoads].map(([k, v]) => {
        const [source, result] = k.split('/');
        return { value: v, labels: { source: source!, result: result! } };
      }),
    ),
  );
  register(
    new ScrapedMetric('lattice_proxy_ca_load_duration_seconds', 'Duration of the last successful Private CA root load, by source', 'gauge', () =>
      [...caLoadSeconds].map(([source, v]) => ({ value: v, labels: { source } })),
    ),
  );

  // 0 until the first load: the alert rules tell "never loaded" from "loaded, then failing" by it.
  let caLoadedAt = 0;
  register(
    new ScrapedMetric('lattice_proxy_ca_loaded_timestamp_seconds', 'Unix time of the last change of the trusted Private CA roots (0: not loaded yet)', 'gauge', () => [
      { value: caLoadedAt, labels: {} },
    ]),
  );

  let expirySource: () => number | undefined = () => undefined;
  let inFlightSource: () => number = () => 0;
  register(new ScrapedMetric('lattice_proxy_in_flight_requests', 'Requests being proxied now', 'gauge', () => [{ value: inFlightSource(), labels: {} }]));
  register(
    new ScrapedMetric('lattice_proxy_credentials_expiry_seconds', 'Seconds until the current AWS credentials expire (absent: no credentials; static credentials report +Inf)', 'gauge', () => {
      const v = expirySource();
      return v === undefined ? [] : [{ value: v, labels: {} }];
    }),
  );

  return {
    registry,
    request(status, origin, seconds) {
      const c = classIndex(status);
      requests[c * 2 + (origin === 'upstream' ? 0 : 1)]!++;
      let i = 0;
      while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
      buckets[c * (BUCKETS.length + 1) + i]!++;
      sums[c]! += seconds;
    },
    inFlightSource(fn) {
      inFlightSource = fn;
    },
    credentialExpirySource(fn) {
      expirySource = fn;
    },
    upstreamError: (kind) => void upstreamErrors[UPSTREAM_KINDS.indexOf(kind)]!++,
    upstreamConnectionOpened: () => void connections[0]!++,
    signingFailure: (reason) => void signing[SIGNING_REASONS.indexOf(reason)]!++,
    rejected: (reason) => void rejected[REJECT_REASONS.indexOf(reason)]!++,
    credentialRefresh: (result) => void refreshes[result === 'success' ? 0 : 1]!++,
    caLoad(source, result, seconds) {
      const k = source + '/' + result;
      caLoads.set(k, (caLoads.get(k) ?? 0) + 1);
      if (result === 'success') caLoadSeconds.set(source, seconds);
    },
    caLoaded() {
      caLoadedAt = Date.now() / 1000;
    },
  };
}
